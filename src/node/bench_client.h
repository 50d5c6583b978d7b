// `banyan bench --server URL`: a load generator for a running OpenAI-compatible server. `concurrency` client
// threads send `requests` streaming chat requests in total (greedy, ignore_eos so every request generates
// max_tokens), and the result is one JSON object: TTFT p50/p99, per-stream decode tokens/s, total tokens/s.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace banyan::node {

struct ServerBenchOptions {
  std::string url;           // http://host:port
  int concurrency = 8;
  int requests = 32;
  int max_tokens = 64;
  std::string model;         // empty: the first id of GET /v1/models
  std::string api_key;
  int prompt_words = 32;     // length of each synthetic prompt
  double timeout_s = 600;    // per request
};

nlohmann::json run_server_bench(const ServerBenchOptions& options);

// p-quantile (0..1) of `values` by linear interpolation between order statistics; NaN when empty.
double quantile(std::vector<double> values, double p);

}  // namespace banyan::node
