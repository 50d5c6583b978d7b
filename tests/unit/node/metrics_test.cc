// /metrics text: the exact Prometheus exposition of every metric (scrapers and dashboards depend on the bytes).
#include <gtest/gtest.h>

#include "node/metrics.h"

namespace banyan::node {
namespace {

TEST(Metrics, HistogramBucketsAreCumulative) {
  Histogram h({0.5, 1});
  for (double v : {0.25, 0.5, 0.75, 2.0}) h.observe(v);
  std::string out;
  h.render("x", out);
  EXPECT_EQ(out,
            "x_bucket{le=\"0.5\"} 2\n"
            "x_bucket{le=\"1\"} 3\n"
            "x_bucket{le=\"+Inf\"} 4\n"
            "x_sum 3.5\n"
            "x_count 4\n");
}

TEST(Metrics, RenderIsExact) {
  Metrics m;
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/v1/completions", 400);
  m.add_prompt_tokens(12);
  m.add_prefilled_tokens(7);
  m.add_generated_tokens(30);
  m.add_cancelled();
  m.observe_ttft(0.02);
  m.observe_inter_token(0.004);
  m.observe_inter_token(0.2);
  m.observe_queue_wait(0);
  SchedulerGauges g;
  g.active = 2;
  g.queued = 1;
  g.cache_lookups = 5;
  g.cache_hits = 3;
  g.cache_hit_tokens = 40;
  g.cache_entries = 4;
  g.cache_bytes = 4096;
  g.kv_bytes_in_use = 8192;
  g.kv_bytes_capacity = 65536;

  // Buckets: 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 +Inf.
  auto histogram = [](const std::string& name, const std::string& help, std::array<int, 16> cumulative,
                      const std::string& sum, int count) {
    static const char* bounds[] = {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                   "0.5",   "1",      "2.5",   "5",    "10",    "30",   "60",  "+Inf"};
    std::string s = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    for (size_t i = 0; i < 16; ++i)
      s += name + "_bucket{le=\"" + bounds[i] + "\"} " + std::to_string(cumulative[i]) + "\n";
    return s + name + "_sum " + sum + "\n" + name + "_count " + std::to_string(count) + "\n";
  };
  const std::string expected =
      "# HELP banyan_requests_total HTTP requests by endpoint and status\n"
      "# TYPE banyan_requests_total counter\n"
      "banyan_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2\n"
      "banyan_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1\n"
      "# HELP banyan_prompt_tokens_total prompt tokens of admitted generation and score requests\n"
      "# TYPE banyan_prompt_tokens_total counter\n"
      "banyan_prompt_tokens_total 12\n"
      "# HELP banyan_prefill_tokens_total prompt tokens actually computed (not reused from the prefix cache)\n"
      "# TYPE banyan_prefill_tokens_total counter\n"
      "banyan_prefill_tokens_total 7\n"
      "# HELP banyan_generated_tokens_total completion tokens generated\n"
      "# TYPE banyan_generated_tokens_total counter\n"
      "banyan_generated_tokens_total 30\n"
      "# HELP banyan_cancelled_requests_total generations cancelled by client disconnect\n"
      "# TYPE banyan_cancelled_requests_total counter\n"
      "banyan_cancelled_requests_total 1\n" +
      histogram("banyan_time_to_first_token_seconds", "time from request arrival to its first token",
                {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, "0.02", 1) +
      histogram("banyan_inter_token_latency_seconds", "time between consecutive tokens of a request",
                {0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2}, "0.20400000000000001", 2) +
      histogram("banyan_queue_wait_seconds", "time a request waited for a free slot",
                {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, "0", 1) +
      "# HELP banyan_active_requests sequences being prefilled or decoded\n"
      "# TYPE banyan_active_requests gauge\n"
      "banyan_active_requests 2\n"
      "# HELP banyan_queued_requests requests waiting for a slot\n"
      "# TYPE banyan_queued_requests gauge\n"
      "banyan_queued_requests 1\n"
      "# HELP banyan_prefix_cache_lookups_total prefix cache lookups\n"
      "# TYPE banyan_prefix_cache_lookups_total counter\n"
      "banyan_prefix_cache_lookups_total 5\n"
      "# HELP banyan_prefix_cache_hits_total prefix cache lookups that reused cached KV\n"
      "# TYPE banyan_prefix_cache_hits_total counter\n"
      "banyan_prefix_cache_hits_total 3\n"
      "# HELP banyan_prefix_cache_hit_tokens_total prompt tokens reused from the prefix cache\n"
      "# TYPE banyan_prefix_cache_hit_tokens_total counter\n"
      "banyan_prefix_cache_hit_tokens_total 40\n"
      "# HELP banyan_prefix_cache_entries sequences held by the prefix cache\n"
      "# TYPE banyan_prefix_cache_entries gauge\n"
      "banyan_prefix_cache_entries 4\n"
      "# HELP banyan_prefix_cache_bytes KV bytes charged to the prefix cache\n"
      "# TYPE banyan_prefix_cache_bytes gauge\n"
      "banyan_prefix_cache_bytes 4096\n"
      "# HELP banyan_kv_bytes_in_use KV cache bytes in use (pages allocated)\n"
      "# TYPE banyan_kv_bytes_in_use gauge\n"
      "banyan_kv_bytes_in_use 8192\n"
      "# HELP banyan_kv_bytes_capacity KV cache capacity in bytes\n"
      "# TYPE banyan_kv_bytes_capacity gauge\n"
      "banyan_kv_bytes_capacity 65536\n";
  EXPECT_EQ(m.render(g), expected);
}

}  // namespace
}  // namespace banyan::node
