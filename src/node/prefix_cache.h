// Prefix cache: an LRU of token sequences whose KV state is kept in the engine, so a request that shares a
// prefix with an earlier one (the next turn of a conversation, a common system prompt, a kept score prefill)
// forks that state and prefills only the rest.
//
// The cache owns the engine sequences it holds. acquire() never hands out a cached sequence itself: it forks it
// (copy-on-write pages, cheap) and trims the fork to the shared prefix, so the entry stays intact for later
// requests. Bytes are bounded by `max_bytes`, counting every entry at its full page footprint; forks share pages,
// so this over-counts and errs towards keeping memory low.
//
// Entries kept for a session (the score endpoint's keep=true) are evicted only after every unpinned entry, and
// dropped explicitly by release_session().
//
// Not thread-safe: the scheduler thread owns it, like the engine.
#pragma once
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/kv_cache.h"

namespace banyan::node {

// What the cache needs from the engine (an interface so the logic is testable without a model).
class SequenceStore {
 public:
  virtual ~SequenceStore() = default;
  virtual SeqId fork(SeqId src) = 0;
  virtual void trim(SeqId seq, int64_t n_tokens) = 0;
  virtual void free(SeqId seq) = 0;
  virtual size_t bytes_for_tokens(int64_t n_tokens) const = 0;  // KV footprint of a sequence this long
};

struct PrefixCacheStats {
  uint64_t lookups = 0;
  uint64_t hits = 0;
  uint64_t hit_tokens = 0;  // prompt tokens reused, summed over hits
  uint64_t evictions = 0;
  size_t entries = 0;
  size_t bytes = 0;
};

class PrefixCache {
 public:
  PrefixCache(SequenceStore& store, size_t max_bytes);
  ~PrefixCache();
  PrefixCache(const PrefixCache&) = delete;
  PrefixCache& operator=(const PrefixCache&) = delete;

  struct Match {
    SeqId seq = 0;        // a new sequence owned by the caller, holding the first `reused` tokens
    int64_t reused = 0;
  };
  // Longest common prefix of `tokens` with any entry, capped at `max_reuse` (callers pass prompt length − 1 so
  // at least one token is left to compute the next-token logits). A match shorter than `min_reuse` is a miss.
  std::optional<Match> acquire(std::span<const int32_t> tokens, int64_t max_reuse, int64_t min_reuse = 1);

  // Takes ownership of `seq`, whose KV holds exactly `tokens`. An entry that is a prefix of the new one is
  // replaced (the new one serves every request the old one could); if an existing entry already covers `tokens`,
  // `seq` is freed instead. Evicts LRU entries to stay within the budget; a sequence bigger than the whole budget
  // is not kept. `session` (non-empty) pins the entry until release_session().
  void insert(SeqId seq, std::vector<int32_t> tokens, const std::string& session = {});

  // Drops the entries pinned for `session`; returns how many.
  size_t release_session(const std::string& session);
  // Evicts the least recently used entry (unpinned first); false when empty. Used when the engine's KV is full.
  bool evict_one();
  void clear();

  const PrefixCacheStats& stats() const { return stats_; }
  size_t max_bytes() const { return max_bytes_; }

 private:
  struct Entry {
    SeqId seq = 0;
    std::vector<int32_t> tokens;
    std::string session;
    size_t bytes = 0;
  };
  using List = std::list<Entry>;  // front = most recently used
  void erase(List::iterator it);
  void evict_to(size_t budget);

  SequenceStore& store_;
  size_t max_bytes_;
  List entries_;
  PrefixCacheStats stats_;
};

// Length of the common prefix of two token sequences.
int64_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b);

}  // namespace banyan::node
