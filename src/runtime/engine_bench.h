// Engine speed benchmark behind `banyan bench --model DIR`: prefill and decode throughput, peak RSS.
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/engine.h"

namespace banyan {

struct EngineBenchOptions {
  int prefill_tokens = 512;
  int decode_context = 64;               // tokens prefilled into each sequence before timing decode
  int decode_steps = 64;                 // timed decode steps per batch size
  std::vector<int> decode_batches = {1, 8};
  int repeats = 3;                       // best of
  uint64_t seed = 1;
};

struct EngineBenchResult {
  int threads = 0;
  int prefill_tokens = 0;
  double prefill_tok_s = 0;
  std::vector<std::pair<int, double>> decode_tok_s;  // (batch size, generated tokens per second over the batch)
  int64_t peak_rss_bytes = 0;                        // VmHWM
};

// Random token ids (fixed seed); sequences are freed afterwards.
EngineBenchResult bench_engine(Engine& engine, const EngineBenchOptions& options);
nlohmann::json to_json(const EngineBenchResult& r);

// Peak resident set size of this process (VmHWM from /proc/self/status), 0 if unavailable.
int64_t peak_rss_bytes();

}  // namespace banyan
