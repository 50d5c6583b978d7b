// Server metrics in Prometheus text format: request counts by endpoint and status, token counters, TTFT and
// inter-token latency histograms, active/queued gauges, prefix-cache hits/lookups, KV bytes. Thread-safe: HTTP
// threads and the scheduler update it; /metrics renders it.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace banyan::node {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);  // upper bounds, ascending (seconds)
  void observe(double v);
  // Appends the _bucket/_sum/_count lines for `name`.
  void render(const std::string& name, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); last = +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
  mutable std::mutex mu_;
};

// Values the scheduler owns, sampled at render time.
struct SchedulerGauges {
  int64_t active = 0;
  int64_t queued = 0;
  uint64_t cache_lookups = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_hit_tokens = 0;
  size_t cache_entries = 0;
  size_t cache_bytes = 0;
  size_t kv_bytes_in_use = 0;
  size_t kv_bytes_capacity = 0;
};

class Metrics {
 public:
  Metrics();
  void count_request(const std::string& endpoint, int status);
  void add_prompt_tokens(uint64_t n) { prompt_tokens_ += n; }
  void add_prefilled_tokens(uint64_t n) { prefilled_tokens_ += n; }
  void add_generated_tokens(uint64_t n) { generated_tokens_ += n; }
  void add_cancelled() { cancelled_ += 1; }
  void observe_ttft(double seconds) { ttft_.observe(seconds); }
  void observe_inter_token(double seconds) { itl_.observe(seconds); }
  void observe_queue_wait(double seconds) { queue_wait_.observe(seconds); }

  std::string render(const SchedulerGauges& gauges) const;

  uint64_t prefilled_tokens() const { return prefilled_tokens_; }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::atomic<uint64_t> prompt_tokens_{0}, prefilled_tokens_{0}, generated_tokens_{0}, cancelled_{0};
  Histogram ttft_, itl_, queue_wait_;
};

}  // namespace banyan::node
