#include "node/metrics.h"

#include <fmt/format.h>

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
void header(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
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
  header(out, "banyan_prompt_tokens_total", "counter", "prompt tokens of admitted generation and score requests");
  out += fmt::format("banyan_prompt_tokens_total {}\n", prompt_tokens_.load());
  header(out, "banyan_prefill_tokens_total", "counter", "prompt tokens actually computed (not reused from the prefix cache)");
  out += fmt::format("banyan_prefill_tokens_total {}\n", prefilled_tokens_.load());
  header(out, "banyan_generated_tokens_total", "counter", "completion tokens generated");
  out += fmt::format("banyan_generated_tokens_total {}\n", generated_tokens_.load());
  header(out, "banyan_cancelled_requests_total", "counter", "generations cancelled by client disconnect");
  out += fmt::format("banyan_cancelled_requests_total {}\n", cancelled_.load());
  header(out, "banyan_time_to_first_token_seconds", "histogram", "time from request arrival to its first token");
  ttft_.render("banyan_time_to_first_token_seconds", out);
  header(out, "banyan_inter_token_latency_seconds", "histogram", "time between consecutive tokens of a request");
  itl_.render("banyan_inter_token_latency_seconds", out);
  header(out, "banyan_queue_wait_seconds", "histogram", "time a request waited for a free slot");
  queue_wait_.render("banyan_queue_wait_seconds", out);
  header(out, "banyan_active_requests", "gauge", "sequences being prefilled or decoded");
  out += fmt::format("banyan_active_requests {}\n", g.active);
  header(out, "banyan_queued_requests", "gauge", "requests waiting for a slot");
  out += fmt::format("banyan_queued_requests {}\n", g.queued);
  header(out, "banyan_prefix_cache_lookups_total", "counter", "prefix cache lookups");
  out += fmt::format("banyan_prefix_cache_lookups_total {}\n", g.cache_lookups);
  header(out, "banyan_prefix_cache_hits_total", "counter", "prefix cache lookups that reused cached KV");
  out += fmt::format("banyan_prefix_cache_hits_total {}\n", g.cache_hits);
  header(out, "banyan_prefix_cache_hit_tokens_total", "counter", "prompt tokens reused from the prefix cache");
  out += fmt::format("banyan_prefix_cache_hit_tokens_total {}\n", g.cache_hit_tokens);
  header(out, "banyan_prefix_cache_entries", "gauge", "sequences held by the prefix cache");
  out += fmt::format("banyan_prefix_cache_entries {}\n", g.cache_entries);
  header(out, "banyan_prefix_cache_bytes", "gauge", "KV bytes charged to the prefix cache");
  out += fmt::format("banyan_prefix_cache_bytes {}\n", g.cache_bytes);
  header(out, "banyan_kv_bytes_in_use", "gauge", "KV cache bytes in use (pages allocated)");
  out += fmt::format("banyan_kv_bytes_in_use {}\n", g.kv_bytes_in_use);
  header(out, "banyan_kv_bytes_capacity", "gauge", "KV cache capacity in bytes");
  out += fmt::format("banyan_kv_bytes_capacity {}\n", g.kv_bytes_capacity);
  return out;
}

}  // namespace banyan::node
