#include "node/prefix_cache.h"

#include <algorithm>

namespace banyan::node {

int64_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return int64_t(i);
}

PrefixCache::PrefixCache(SequenceStore& store, size_t max_bytes) : store_(store), max_bytes_(max_bytes) {}

PrefixCache::~PrefixCache() { clear(); }

std::optional<PrefixCache::Match> PrefixCache::acquire(std::span<const int32_t> tokens, int64_t max_reuse,
                                                       int64_t min_reuse) {
  ++stats_.lookups;
  auto best = entries_.end();
  int64_t best_len = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const int64_t len = std::min(common_prefix(tokens, it->tokens), max_reuse);
    if (len > best_len) {
      best_len = len;
      best = it;
    }
  }
  if (best == entries_.end() || best_len < std::max<int64_t>(min_reuse, 1)) return std::nullopt;
  entries_.splice(entries_.begin(), entries_, best);  // most recently used
  const SeqId fork = store_.fork(best->seq);
  if (best_len < int64_t(best->tokens.size())) store_.trim(fork, best_len);
  ++stats_.hits;
  stats_.hit_tokens += uint64_t(best_len);
  return Match{fork, best_len};
}

void PrefixCache::insert(SeqId seq, std::vector<int32_t> tokens, const std::string& session) {
  const size_t bytes = store_.bytes_for_tokens(int64_t(tokens.size()));
  if (tokens.empty() || bytes > max_bytes_) {
    store_.free(seq);
    return;
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    const int64_t shared = common_prefix(tokens, it->tokens);
    if (shared == int64_t(tokens.size()) && it->session == session) {
      // Already covered by a longer (or equal) entry: keep that one, mark it used.
      store_.free(seq);
      entries_.splice(entries_.begin(), entries_, it);
      return;
    }
    auto next = std::next(it);
    if (shared == int64_t(it->tokens.size()) && it->session == session) erase(it);  // superseded
    it = next;
  }
  evict_to(max_bytes_ - bytes);
  entries_.push_front(Entry{seq, std::move(tokens), session, bytes});
  stats_.bytes += bytes;
  stats_.entries = entries_.size();
}

size_t PrefixCache::release_session(const std::string& session) {
  if (session.empty()) return 0;
  size_t n = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (it->session == session) {
      erase(it);
      ++n;
    }
    it = next;
  }
  return n;
}

bool PrefixCache::evict_one() {
  if (entries_.empty()) return false;
  // Least recently used unpinned entry; pinned ones only when nothing else is left.
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->session.empty()) {
      erase(std::next(it).base());
      ++stats_.evictions;
      return true;
    }
  }
  erase(std::prev(entries_.end()));
  ++stats_.evictions;
  return true;
}

void PrefixCache::clear() {
  while (!entries_.empty()) erase(entries_.begin());
}

void PrefixCache::erase(List::iterator it) {
  store_.free(it->seq);
  stats_.bytes -= it->bytes;
  entries_.erase(it);
  stats_.entries = entries_.size();
}

void PrefixCache::evict_to(size_t budget) {
  while (stats_.bytes > budget && evict_one()) {
  }
}

}  // namespace banyan::node
