// Sessions pinned to nodes, forgotten after `ttl` without a request. Thread-safe. Time is passed in by the caller
// (steady clock in the server, hand-set in tests) so expiry is deterministic to test.
#pragma once
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace banyan::route {

using SteadyTime = std::chrono::steady_clock::time_point;

struct SessionEntry {
  std::string node;            // pinned node's name
  std::string policy;          // policy that placed it ("hash", "probe", ..., "failover")
  SteadyTime created{};
  SteadyTime last_used{};
  int64_t turns = 0;           // requests served since placement
};

class SessionTable {
 public:
  explicit SessionTable(std::chrono::seconds ttl) : ttl_(ttl) {}

  // The live entry for `key` (touching it: last_used = now, turns + 1), or nullopt when absent or expired.
  std::optional<SessionEntry> lookup(const std::string& key, SteadyTime now);
  // Pins (or re-pins) `key` to `node`; turns restart at 1.
  void pin(const std::string& key, const std::string& node, const std::string& policy, SteadyTime now);
  void erase(const std::string& key);
  // Drops expired entries and returns them (key, entry) so the caller can release their kept prefills.
  std::vector<std::pair<std::string, SessionEntry>> expire(SteadyTime now);
  // Live sessions per node name.
  std::map<std::string, int64_t> count_by_node(SteadyTime now) const;
  size_t size(SteadyTime now) const;
  std::chrono::seconds ttl() const { return ttl_; }

 private:
  bool expired(const SessionEntry& e, SteadyTime now) const { return now - e.last_used >= ttl_; }

  std::chrono::seconds ttl_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, SessionEntry> entries_;
};

}  // namespace banyan::route
