// `banyan bench --model DIR [--threads N]`: the CPU engine's speed (src/runtime/engine_bench.h) as one JSON line:
// prefill tok/s (512-token prompt), decode tok/s at batch 1 and 8, peak RSS. cmd_bench.cc adds these options to the
// bench command and runs run_bench_engine when --model was given without a subject.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

namespace banyan::cli {

struct EngineBenchArgs {
  std::string model;
  int threads = 0;
  int prefill_tokens = 512;
  int decode_steps = 64;
};

std::shared_ptr<EngineBenchArgs> add_bench_engine_options(CLI::App& bench);
int run_bench_engine(const EngineBenchArgs& args);

}  // namespace banyan::cli
