// The front door: one OpenAI-compatible address in front of the nodes. New sessions are placed (see placement.h),
// later turns go to the pinned node, responses stream through chunk by chunk, dead nodes' sessions move on their
// next turn, and /metrics, /status and / describe the cluster.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "route/node_registry.h"
#include "route/placement.h"
#include "route/upstream.h"

namespace banyan::route {

struct RouterOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port
  std::vector<NodeAddress> nodes;
  std::string plan_path;          // optional: shown on the status page
  Policy policy = Policy::Auto;
  // Used instead of a score-based policy when scores cannot be compared across the healthy nodes because one of them
  // is a plain OpenAI backend (declared "kind": "openai", or it answered 404/405 to banyan's endpoints).
  Policy fallback = Policy::LeastLoaded;
  PlacementOptions placement;
  std::string api_key;            // empty: clients need no key
  std::chrono::seconds session_ttl{1800};
  double replace_margin = 0;      // > 0: re-place at a turn boundary when another node scores this much better
  std::chrono::milliseconds score_timeout{3000};
  // A frozen node is noticed within interval + timeout (its streams then end with an error event): < 2 s.
  std::chrono::milliseconds health_interval{400};
  std::chrono::milliseconds health_timeout{800};
  UpstreamTimeouts upstream;      // streaming: read timeout is the longest node silence tolerated
  std::chrono::milliseconds blocking_read_timeout{600000};  // non-streaming answers (nothing arrives until done)
  std::string model_name = "banyan";  // the cluster's model id in /v1/models
  int threads = 256;              // HTTP worker threads (one per open client connection)
  int max_attempts = 3;           // nodes tried for one request when nodes are unreachable
};

class RouterServer {
 public:
  explicit RouterServer(RouterOptions options);
  ~RouterServer();
  RouterServer(const RouterServer&) = delete;
  RouterServer& operator=(const RouterServer&) = delete;

  void bind();  // throws banyan::Error naming host:port
  int bound_port() const;
  void run();   // serves until stop()
  void stop();  // safe from any thread

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace banyan::route
