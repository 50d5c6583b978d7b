// `banyan bench <subject>`: speed benchmarks that print one JSON object.
//   bench --model DIR [--threads N]  -> engine prefill/decode tok/s, peak RSS (src/cli/bench_engine.h)
//   bench tokenizer --model DIR --corpus FILE.jsonl[.xz] [--max-bytes N]  -> {"bytes","seconds","mb_per_s","tokens"}
// Other subjects register as further nested subcommands in this file.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli/bench_engine.h"
#include "cli/bench_server.h"
#include "cli/command.h"
#include "core/error.h"
#include "eval/bench_tokenizer.h"
#include "runtime/cuda/bench_cuda.h"
#include "runtime/engine.h"

namespace banyan::cli {
namespace {

struct BenchTokenizerOptions {
  std::string model, corpus;
  uint64_t max_bytes = 0;
};

int run_bench_tokenizer(const BenchTokenizerOptions& o) {
  Tokenizer tokenizer = Tokenizer::load(o.model);
  TokenizerBenchResult r = bench_tokenizer(tokenizer, o.corpus, o.max_bytes);
  nlohmann::json out = {{"bench", "tokenizer"}, {"model", o.model},         {"corpus", o.corpus},
                        {"threads", 1},         {"documents", r.documents}, {"bytes", r.bytes},
                        {"seconds", r.seconds}, {"mb_per_s", r.mb_per_s},   {"tokens", r.tokens},
                        {"cpu_seconds", r.cpu_seconds}, {"cpu_mb_per_s", r.cpu_mb_per_s}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

RegisterCommand reg{{"bench", "Speed benchmarks printing JSON (--model DIR: engine; tokenizer; --server URL)", [](CLI::App& sub) {
                       sub.require_subcommand(0, 1);
                       auto server = add_bench_server_options(sub);  // `bench --server URL` (src/cli/bench_server.h)
                       auto engine = add_bench_engine_options(sub);  // `bench --model DIR` (src/cli/bench_engine.h)
                       // `bench --device cuda[:i] (--dummy-weights --config CONFIG.json | --model DIR)`
                       auto dev = std::make_shared<CudaBenchOptions>();
                       dev->device = "cpu";
                       auto dummy = std::make_shared<bool>(false);
                       auto expert_dtype = std::make_shared<std::string>();
                       sub.add_option("--device", dev->device, "Engine device for a device benchmark: cuda or cuda:i");
                       sub.add_flag("--dummy-weights", *dummy, "Random weights generated on the device (with --config)");
                       sub.add_option("--config", dev->config, "config.json of the geometry (--dummy-weights)");
                       sub.add_option("--experts-per-node", dev->experts_per_node, "Experts held (one node's share)");
                       sub.add_option("--expert-dtype", *expert_dtype,
                                      "Routed-expert storage on the device: bf16 or fp8 (e4m3 + fp32 row scales); "
                                      "default: the checkpoint's (dummy weights: bf16)")
                           ->check(CLI::IsMember({"bf16", "fp8"}));
                       auto o = std::make_shared<BenchTokenizerOptions>();
                       CLI::App* tok = sub.add_subcommand("tokenizer", "Single-threaded encode throughput");
                       tok->add_option("--model", o->model, "Directory holding tokenizer.json")->required();
                       tok->add_option("--corpus", o->corpus, "JSONL corpus of {\"text\"} lines (.jsonl or .jsonl.xz)")
                           ->required();
                       tok->add_option("--max-bytes", o->max_bytes, "Stop reading the corpus after this much text");
                       return [o, tok, server, engine, dev, dummy, expert_dtype] {
                         if (tok->parsed()) return run_bench_tokenizer(*o);
                         if (dev->device != "cpu") {
                           BANYAN_CHECK(*dummy == !dev->config.empty(),
                                        "bench --device: give --dummy-weights --config CONFIG.json, or --model DIR");
                           dev->model = engine->model;
                           dev->expert_dtype = parse_expert_dtype(*expert_dtype);
                           std::printf("%s\n", bench_cuda(*dev).dump().c_str());
                           return 0;
                         }
                         BANYAN_CHECK(expert_dtype->empty(),
                                      "bench: --expert-dtype applies to a device benchmark (--device cuda[:i])");
                         if (!server->url.empty()) return run_bench_server(*server);
                         if (!engine->model.empty()) return run_bench_engine(*engine);
                         fail("bench: name a subject (tokenizer), --server URL or --model DIR");
                       };
                     }}};

}  // namespace
}  // namespace banyan::cli
