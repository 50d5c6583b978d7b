// The nodes the router fronts: their addresses, health (polled), kind (banyan node or plain OpenAI backend), load
// and the router's own per-node counters (requests in flight, body bytes each way, failures). Thread-safe.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace banyan::route {

enum class NodeKind { Unknown, Banyan, Plain };
const char* node_kind_name(NodeKind k);  // "unknown" | "banyan" | "openai"

struct NodeAddress {
  std::string name;
  std::string url;      // http://host:port
  std::string api_key;  // sent as Bearer to the node (empty: none)
  // Unknown: detected (a node answering GET /v1/banyan/node is a banyan node, 404/405 makes it a plain OpenAI
  // backend). Plain: declared ("kind": "openai" in cluster.json); the router never asks it for banyan endpoints.
  NodeKind declared_kind = NodeKind::Unknown;
};

struct HostPort {
  std::string host;
  int port = 80;
};
// Parses http://host[:port][/]; throws banyan::Error naming the URL otherwise (https is not supported).
HostPort parse_http_url(const std::string& url);

// Reads cluster.json: {"nodes": [{"name", "url", "api_key"?, "kind"?}], "plan": "path"?}; "kind" is "openai" (an
// OpenAI-compatible backend without /v1/banyan/score, e.g. llama-server), "banyan" or "auto" (the default: detected). Relative plan paths are resolved
// against the file's directory. Errors name the file and the offending entry.
struct ClusterConfig {
  std::vector<NodeAddress> nodes;
  std::string plan;
};
ClusterConfig read_cluster_config(const std::string& path);

// A snapshot of one node, for placement, status and metrics.
struct NodeView {
  NodeAddress address;
  HostPort endpoint;
  bool healthy = false;
  NodeKind kind = NodeKind::Unknown;
  std::string kind_reason;     // why the node counts as a plain OpenAI backend (declared, or what it answered)
  std::string model_id;        // what the node's /v1/models lists first
  std::string status;          // "ok" | "loading" | "down" | "unknown"
  std::string last_error;
  int64_t load_active = 0, load_queued = 0;  // node-reported (banyan nodes)
  int64_t in_flight = 0;       // requests the router has open to it
  int64_t requests = 0, failures = 0, downs = 0, rejoins = 0;
  uint64_t bytes_sent = 0, bytes_received = 0;  // request and response bodies
  uint64_t epoch = 0;          // increases each time the node is marked down
};

class NodeRegistry {
 public:
  explicit NodeRegistry(std::vector<NodeAddress> nodes);
  ~NodeRegistry();

  // Polls every node's /health each `interval` (timeout `timeout`) on background threads until stop().
  void start_health_checks(std::chrono::milliseconds interval, std::chrono::milliseconds timeout);
  void stop();
  // One synchronous round of health checks (used at start-up and by tests).
  void check_all(std::chrono::milliseconds timeout);

  std::vector<NodeView> snapshot() const;
  std::optional<NodeView> find(const std::string& name) const;
  size_t size() const { return nodes_.size(); }

  // The proxy reports a node it could not reach: it is unhealthy until a health check succeeds again.
  void mark_down(const std::string& name, const std::string& reason);
  // Current epoch of a node (a stream started at epoch e knows its node went down when this exceeds e).
  uint64_t epoch(const std::string& name) const;
  bool healthy(const std::string& name) const;

  // A node that answered 404/405 to /v1/banyan/score cannot score: it is a plain OpenAI backend from now on (until
  // it goes down and comes back, possibly as different software).
  void mark_cannot_score(const std::string& name, const std::string& reason);

  void begin_request(const std::string& name);
  void end_request(const std::string& name, uint64_t sent, uint64_t received, bool failed);
  void add_bytes(const std::string& name, uint64_t sent, uint64_t received);

 private:
  struct Node {
    NodeView view;
    std::chrono::steady_clock::time_point last_check{};
    bool cannot_score = false;
  };
  Node* get(const std::string& name);
  const Node* get(const std::string& name) const;
  void check_one(size_t index, std::chrono::milliseconds timeout);
  void set_down(Node& n, const std::string& status, const std::string& reason);

  mutable std::mutex mu_;
  std::vector<Node> nodes_;
  std::atomic<bool> stopping_{false};
  std::mutex wake_mu_;
  std::condition_variable wake_;
  std::vector<std::thread> pollers_;
};

}  // namespace banyan::route
