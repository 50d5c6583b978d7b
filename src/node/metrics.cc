#include "node/metrics.h"

#include <fmt/format.h>

#include <string_view>

namespace banyan::node {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  std::lock_guard lock(mu_);
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(const std::string& name, std::string& out) const {
  std::lock_guard lock(mu_);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
  }
  cumulative += counts_.back();
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, cumulative, name, sum_, name,
                     count_);
}

namespace {

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// One counter or gauge without labels: its HELP/TYPE header and its single sample.
template <class T>
void scalar(std::string& out, std::string_view name, std::string_view type, std::string_view help, T value) {
  header(out, name, type, help);
  out += fmt::format("{} {}\n", name, value);
}

void counter(std::string& out, std::string_view name, std::string_view help, uint64_t value) {
  scalar(out, name, "counter", help, value);
}

template <class T>
void gauge(std::string& out, std::string_view name, std::string_view help, T value) {
  scalar(out, name, "gauge", help, value);
}

void histogram(std::string& out, const std::string& name, std::string_view help, const Histogram& h) {
  header(out, name, "histogram", help);
  h.render(name, out);
}

}  // namespace

Metrics::Metrics() : ttft_(latency_buckets()), itl_(latency_buckets()), queue_wait_(latency_buckets()) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{endpoint, status}];
}

std::string Metrics::render(const SchedulerGauges& g) const {
  std::string out;
  header(out, "banyan_requests_total", "counter", "HTTP requests by endpoint and status");
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, n] : requests_)
      out += fmt::format("banyan_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  }
  counter(out, "banyan_prompt_tokens_total", "prompt tokens of admitted generation and score requests",
          prompt_tokens_.load());
  counter(out, "banyan_prefill_tokens_total", "prompt tokens actually computed (not reused from the prefix cache)",
          prefilled_tokens_.load());
  counter(out, "banyan_generated_tokens_total", "completion tokens generated", generated_tokens_.load());
  counter(out, "banyan_cancelled_requests_total", "generations cancelled by client disconnect", cancelled_.load());
  histogram(out, "banyan_time_to_first_token_seconds", "time from request arrival to its first token", ttft_);
  histogram(out, "banyan_inter_token_latency_seconds", "time between consecutive tokens of a request", itl_);
  histogram(out, "banyan_queue_wait_seconds", "time a request waited for a free slot", queue_wait_);
  gauge(out, "banyan_active_requests", "sequences being prefilled or decoded", g.active);
  gauge(out, "banyan_queued_requests", "requests waiting for a slot", g.queued);
  counter(out, "banyan_prefix_cache_lookups_total", "prefix cache lookups", g.cache_lookups);
  counter(out, "banyan_prefix_cache_hits_total", "prefix cache lookups that reused cached KV", g.cache_hits);
  counter(out, "banyan_prefix_cache_hit_tokens_total", "prompt tokens reused from the prefix cache",
          g.cache_hit_tokens);
  gauge(out, "banyan_prefix_cache_entries", "sequences held by the prefix cache", g.cache_entries);
  gauge(out, "banyan_prefix_cache_bytes", "KV bytes charged to the prefix cache", g.cache_bytes);
  gauge(out, "banyan_kv_bytes_in_use", "KV cache bytes in use (pages allocated)", g.kv_bytes_in_use);
  gauge(out, "banyan_kv_bytes_capacity", "KV cache capacity in bytes", g.kv_bytes_capacity);
  return out;
}

}  // namespace banyan::node
