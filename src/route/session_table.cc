#include "route/session_table.h"

namespace banyan::route {

std::optional<SessionEntry> SessionTable::lookup(const std::string& key, SteadyTime now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (expired(it->second, now)) {
    entries_.erase(it);
    return std::nullopt;
  }
  it->second.last_used = now;
  ++it->second.turns;
  return it->second;
}

void SessionTable::pin(const std::string& key, const std::string& node, const std::string& policy, SteadyTime now) {
  std::lock_guard lock(mu_);
  entries_[key] = SessionEntry{node, policy, now, now, 1};
}

void SessionTable::erase(const std::string& key) {
  std::lock_guard lock(mu_);
  entries_.erase(key);
}

std::vector<std::pair<std::string, SessionEntry>> SessionTable::expire(SteadyTime now) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, SessionEntry>> gone;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (expired(it->second, now)) {
      gone.emplace_back(it->first, std::move(it->second));
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

std::map<std::string, int64_t> SessionTable::count_by_node(SteadyTime now) const {
  std::lock_guard lock(mu_);
  std::map<std::string, int64_t> counts;
  for (const auto& [key, e] : entries_)
    if (!expired(e, now)) ++counts[e.node];
  return counts;
}

size_t SessionTable::size(SteadyTime now) const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, e] : entries_) n += expired(e, now) ? 0 : 1;
  return n;
}

}  // namespace banyan::route
