// The node's HTTP server: OpenAI-compatible API (chat/completions, completions, models), health, Prometheus
// metrics and banyan's placement endpoints (score, node, release). The port is bound first and the model loads in
// a background thread, so /health answers 503 while loading. One Scheduler thread owns the engine; HTTP threads
// parse and tokenize, then wait on their request's channel.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace banyan::node {

struct ServerOptions {
  std::filesystem::path model_dir;
  std::string host = "127.0.0.1";
  int port = 8080;               // 0: any free port (see bound_port())
  std::string name;              // model id served; default: the model directory's name
  std::string api_key;           // empty: no auth
  int64_t max_context = 0;       // 0: the model's max_position_embeddings
  int parallel = 8;              // max sequences decoding together
  size_t cache_bytes = size_t(256) << 20;  // prefix cache budget
  int threads = 0;               // engine threads (0: all cores)
  std::string device = "cpu";    // engine device: cpu, cuda or cuda:i
  std::string expert_dtype;      // routed experts: "" (the checkpoint's), bf16 or fp8 (EngineOptions::expert_dtype)
  bool device_sampling = false;  // device engines: sample on the device (EngineOptions::device_sampling)
  int queue = 64;                // max requests waiting for a slot
  int64_t prefill_chunk = 256;   // prompt tokens per scheduler step
};

class NodeServer {
 public:
  explicit NodeServer(ServerOptions options);
  ~NodeServer();
  NodeServer(const NodeServer&) = delete;
  NodeServer& operator=(const NodeServer&) = delete;

  // Binds the listening socket (throws banyan::Error naming host:port when it cannot).
  void bind();
  int bound_port() const;
  // Loads the model in the background and serves until stop(); throws if loading failed.
  void run();
  // Safe from any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace banyan::node
