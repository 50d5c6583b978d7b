// `banyan serve`: one node's OpenAI-compatible server (see src/node/server.h).
#include <csignal>
#include <pthread.h>
#include <thread>

#include "cli/command.h"
#include "core/error.h"
#include "node/server.h"

namespace banyan::cli {
namespace {

// SIGINT/SIGTERM are taken by a dedicated thread (sigwait), which stops the server cleanly; SIGPIPE from a
// client that closed its socket is ignored (the failed write is handled where it happens).
int serve(const node::ServerOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread created from here on

  node::NodeServer server(options);
  server.bind();
  std::thread signals([&server, set] {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != 0) server.stop();
  });
  signals.detach();  // blocked in sigwait until a signal arrives; the process exit ends it
  server.run();
  return 0;
}

RegisterCommand reg{{"serve", "serve a model (or node bundle) over an OpenAI-compatible HTTP API",
                     [](CLI::App& sub) {
                       auto o = std::make_shared<node::ServerOptions>();
                       auto model = std::make_shared<std::string>();
                       sub.add_option("--model", *model, "model directory (HF layout or banyan node bundle)")->required();
                       sub.add_option("--port", o->port, "TCP port (0: any free port)")->default_val(8080);
                       sub.add_option("--host", o->host, "address to listen on")->default_val("127.0.0.1");
                       sub.add_option("--name", o->name, "model id clients use (default: the directory name)");
                       sub.add_option("--api-key", o->api_key, "require 'Authorization: Bearer KEY'");
                       sub.add_option("--max-context", o->max_context, "context limit in tokens (default: the model's)");
                       sub.add_option("--parallel", o->parallel, "max sequences decoded together")->default_val(8)
                           ->check(CLI::Range(1, 1024));
                       sub.add_option("--cache-bytes", o->cache_bytes, "prefix cache budget in bytes")
                           ->default_val(size_t(256) << 20);
                       sub.add_option("--threads", o->threads, "engine threads (0: all cores)")->default_val(0);
                       sub.add_option("--device", o->device, "engine device: cpu, cuda or cuda:i (one node per GPU)")
                           ->default_val("cpu");
                       sub.add_flag("--device-sampling", o->device_sampling,
                                    "with --device cuda: sample on the GPU and download token ids only (not yet "
                                    "verified on a GPU; default: logits downloaded, CPU sampler)");
                       sub.add_option("--expert-dtype", o->expert_dtype,
                                      "routed-expert storage: bf16 or fp8 (e4m3 + fp32 row scales; on cpu the "
                                      "dequantised values); default: the checkpoint's")
                           ->check(CLI::IsMember({"bf16", "fp8"}));
                       sub.add_option("--queue", o->queue, "max requests waiting for a slot (then 429)")
                           ->default_val(64)->check(CLI::Range(0, 100000));
                       sub.add_option("--prefill-chunk", o->prefill_chunk, "prompt tokens per scheduler step")
                           ->default_val(256)->check(CLI::Range(1, 1 << 20));
                       return [o, model] {
                         o->model_dir = *model;
                         return serve(*o);
                       };
                     }}};

}  // namespace
}  // namespace banyan::cli
