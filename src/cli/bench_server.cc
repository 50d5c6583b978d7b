#include "cli/bench_server.h"

#include <cstdio>

namespace banyan::cli {

std::shared_ptr<node::ServerBenchOptions> add_bench_server_options(CLI::App& bench) {
  auto o = std::make_shared<node::ServerBenchOptions>();
  bench.add_option("--server", o->url, "benchmark a running server: http://HOST:PORT");
  bench.add_option("--concurrency", o->concurrency, "--server: concurrent streams")->default_val(8);
  bench.add_option("--requests", o->requests, "--server: requests in total")->default_val(32);
  bench.add_option("--max-tokens", o->max_tokens, "--server: tokens generated per request")->default_val(64);
  bench.add_option("--server-model", o->model, "--server: model id (default: the server's first)");
  bench.add_option("--api-key", o->api_key, "--server: bearer key");
  bench.add_option("--prompt-words", o->prompt_words, "--server: words per synthetic prompt")->default_val(32);
  return o;
}

int run_bench_server(const node::ServerBenchOptions& options) {
  const nlohmann::json out = node::run_server_bench(options);
  std::printf("%s\n", out.dump().c_str());
  return out.value("failed", 0) == 0 ? 0 : 1;
}

}  // namespace banyan::cli
