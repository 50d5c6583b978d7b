// Prometheus metrics of the router: placements by policy, failovers, re-placements, requests, proxy latency
// histograms (time to the first byte from the node, and whole request). Per-node gauges (health, sessions, load,
// bytes) are read from the registry and session table when rendering. Thread-safe.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "route/node_registry.h"

namespace banyan::route {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v);
  // Prometheus text lines for `name` with extra `labels` (e.g. `endpoint="chat"`, may be empty).
  std::string render(const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

class RouteMetrics {
 public:
  void count_placement(const std::string& policy, const std::string& metric, const std::string& node);
  void count_failover(const std::string& from, const std::string& to);
  void count_replacement();
  void count_request(const std::string& endpoint, int status);
  void count_stream_error(const std::string& node);
  void observe_latency(const std::string& endpoint, double first_byte_s, double total_s);

  std::string render(const std::vector<NodeView>& nodes, const std::map<std::string, int64_t>& sessions,
                     size_t total_sessions) const;
  int64_t failovers() const;
  std::map<std::string, int64_t> placements_by_node() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, int64_t> placements_;  // (policy, metric)
  std::map<std::string, int64_t> placements_by_node_;
  std::map<std::pair<std::string, std::string>, int64_t> failovers_;  // (from, to)
  int64_t replacements_ = 0;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::map<std::string, int64_t> stream_errors_;
  std::map<std::string, Histogram> first_byte_, total_;
};

}  // namespace banyan::route
