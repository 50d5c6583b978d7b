// `banyan bench --server URL ...`: the server load generator's options on the bench command (src/node/bench_client.h).
// cmd_bench.cc calls add_bench_server_options on its App and runs run_bench_server when --server was given.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>

#include "node/bench_client.h"

namespace banyan::cli {

std::shared_ptr<node::ServerBenchOptions> add_bench_server_options(CLI::App& bench);
int run_bench_server(const node::ServerBenchOptions& options);  // prints one JSON line

}  // namespace banyan::cli
