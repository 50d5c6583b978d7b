#include "runtime/engine_bench.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <string>

namespace banyan {

int64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // "VmHWM:   1234 kB"
  return 0;
}

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

EngineBenchResult bench_engine(Engine& engine, const EngineBenchOptions& o) {
  const int64_t V = engine.spec().vocab_size;
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int32_t> tok(0, int32_t(V - 1));
  auto random_ids = [&](int n) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = tok(rng);
    return v;
  };
  EngineBenchResult r;
  r.threads = engine.threads();
  r.prefill_tokens = o.prefill_tokens;
  ForwardOutput out;

  // Prefill: one sequence, the whole prompt in one call, logits of the last position (as a server does).
  const auto prompt = random_ids(o.prefill_tokens);
  double best = 1e30;
  for (int rep = 0; rep < std::max(1, o.repeats) + 1; ++rep) {  // first run warms caches and buffers
    BatchItem item{engine.create_sequence(), prompt, LogitsRequest::last(), nullptr, nullptr};
    const auto t0 = std::chrono::steady_clock::now();
    engine.forward(std::span<BatchItem>(&item, 1), out);
    const double dt = seconds_since(t0);
    engine.free_sequence(item.seq);
    if (rep > 0) best = std::min(best, dt);
  }
  r.prefill_tok_s = o.prefill_tokens / best;

  // Decode: `b` sequences with `decode_context` tokens each, then steps of one token per sequence per call.
  for (int b : o.decode_batches) {
    double best_step = 1e30;
    for (int rep = 0; rep < std::max(1, o.repeats); ++rep) {
      std::vector<BatchItem> batch;
      for (int i = 0; i < b; ++i)
        batch.push_back({engine.create_sequence(), random_ids(o.decode_context), LogitsRequest::last(), nullptr, nullptr});
      engine.forward(batch, out);
      for (auto& it : batch) it.tokens.assign(1, 0);
      for (int warm = 0; warm < 2; ++warm) {
        for (size_t i = 0; i < batch.size(); ++i) batch[i].tokens[0] = tok(rng);
        engine.forward(batch, out);
      }
      const auto t0 = std::chrono::steady_clock::now();
      for (int step = 0; step < o.decode_steps; ++step) {
        for (size_t i = 0; i < batch.size(); ++i) batch[i].tokens[0] = tok(rng);
        engine.forward(batch, out);
      }
      best_step = std::min(best_step, seconds_since(t0) / o.decode_steps);
      for (auto& it : batch) engine.free_sequence(it.seq);
    }
    r.decode_tok_s.emplace_back(b, b / best_step);
  }
  r.peak_rss_bytes = peak_rss_bytes();
  return r;
}

nlohmann::json to_json(const EngineBenchResult& r) {
  nlohmann::json j;
  j["bench"] = "engine";
  j["threads"] = r.threads;
  j["prefill_tokens"] = r.prefill_tokens;
  j["prefill_tok_s"] = r.prefill_tok_s;
  for (const auto& [b, v] : r.decode_tok_s) j["decode_tok_s_batch" + std::to_string(b)] = v;
  j["peak_rss_mb"] = double(r.peak_rss_bytes) / (1024.0 * 1024.0);
  return j;
}

}  // namespace banyan
