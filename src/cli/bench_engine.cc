#include "cli/bench_engine.h"

#include <cstdio>

#include "runtime/engine_bench.h"

namespace banyan::cli {

std::shared_ptr<EngineBenchArgs> add_bench_engine_options(CLI::App& bench) {
  auto a = std::make_shared<EngineBenchArgs>();
  bench.add_option("--model", a->model, "Engine benchmark: model directory (HF checkpoint or bundle)");
  bench.add_option("--threads", a->threads, "Engine benchmark: threads (default: all cores)");
  bench.add_option("--prefill-tokens", a->prefill_tokens, "Engine benchmark: prompt length for prefill")
      ->check(CLI::PositiveNumber);
  bench.add_option("--decode-steps", a->decode_steps, "Engine benchmark: timed decode steps per batch size")
      ->check(CLI::PositiveNumber);
  return a;
}

int run_bench_engine(const EngineBenchArgs& a) {
  EngineOptions opt;
  opt.threads = a.threads;
  auto engine = Engine::load(a.model, opt);
  EngineBenchOptions b;
  b.prefill_tokens = a.prefill_tokens;
  b.decode_steps = a.decode_steps;
  auto j = to_json(bench_engine(*engine, b));
  j["model"] = a.model;
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace banyan::cli
