// Prefix cache logic against a fake sequence store that records lengths, so every fork/trim/free is checked.
#include <gtest/gtest.h>

#include <map>

#include "node/prefix_cache.h"

namespace banyan::node {
namespace {

class FakeStore : public SequenceStore {
 public:
  SeqId create(int64_t len) {
    lengths[next] = len;
    return next++;
  }
  SeqId fork(SeqId src) override {
    EXPECT_TRUE(lengths.count(src)) << "fork of a freed sequence";
    lengths[next] = lengths[src];
    return next++;
  }
  void trim(SeqId seq, int64_t n) override {
    ASSERT_TRUE(lengths.count(seq));
    ASSERT_LE(n, lengths[seq]);
    lengths[seq] = n;
  }
  void free(SeqId seq) override {
    EXPECT_EQ(lengths.erase(seq), 1u) << "double free of " << seq;
  }
  size_t bytes_for_tokens(int64_t n) const override { return size_t(n) * 10; }

  std::map<SeqId, int64_t> lengths;
  SeqId next = 1;
};

std::vector<int32_t> seq(std::initializer_list<int32_t> v) { return v; }

TEST(PrefixCache, ReusesLongestCommonPrefixAndKeepsTheEntry) {
  FakeStore store;
  PrefixCache cache(store, 1000);
  cache.insert(store.create(5), seq({1, 2, 3, 4, 5}));
  cache.insert(store.create(3), seq({1, 2, 9}));
  const auto prompt = seq({1, 2, 3, 4, 7, 8});
  auto m = cache.acquire(prompt, int64_t(prompt.size()) - 1);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->reused, 4);
  EXPECT_EQ(store.lengths.at(m->seq), 4);  // a trimmed fork, owned by the caller
  EXPECT_EQ(cache.stats().entries, 2u);    // the cached entry itself is intact
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().hit_tokens, 4u);
  store.free(m->seq);
}

TEST(PrefixCache, LeavesOneTokenToComputeAndCountsMisses) {
  FakeStore store;
  PrefixCache cache(store, 1000);
  cache.insert(store.create(3), seq({1, 2, 3}));
  const auto same = seq({1, 2, 3});
  auto m = cache.acquire(same, 2);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->reused, 2);
  store.free(m->seq);
  EXPECT_FALSE(cache.acquire(seq({5, 6}), 1));
  EXPECT_EQ(cache.stats().lookups, 2u);
  EXPECT_EQ(cache.stats().hits, 1u);
}

TEST(PrefixCache, NewTurnSupersedesItsPrefixAndDuplicatesAreFreed) {
  FakeStore store;
  PrefixCache cache(store, 1000);
  cache.insert(store.create(3), seq({1, 2, 3}));
  cache.insert(store.create(5), seq({1, 2, 3, 4, 5}));  // the next turn: replaces the first entry
  EXPECT_EQ(cache.stats().entries, 1u);
  cache.insert(store.create(2), seq({1, 2}));  // already covered: freed at once
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(store.lengths.size(), 1u);
  EXPECT_EQ(cache.stats().bytes, 50u);
}

TEST(PrefixCache, EvictsLeastRecentlyUsedWithinBudget) {
  FakeStore store;
  PrefixCache cache(store, 100);  // 10 tokens
  cache.insert(store.create(4), seq({1, 1, 1, 1}));
  cache.insert(store.create(4), seq({2, 2, 2, 2}));
  auto m = cache.acquire(seq({1, 1, 1, 1, 9}), 4);  // touches the first entry
  ASSERT_TRUE(m);
  store.free(m->seq);
  cache.insert(store.create(4), seq({3, 3, 3, 3}));  // 12 tokens > 10: the LRU ({2,...}) goes
  EXPECT_EQ(cache.stats().entries, 2u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_FALSE(cache.acquire(seq({2, 2, 2, 2, 2}), 4));
  EXPECT_TRUE(cache.acquire(seq({1, 1, 1, 1, 2}), 4).has_value());
  cache.insert(store.create(20), std::vector<int32_t>(20, 5));  // bigger than the whole budget: not kept
  EXPECT_EQ(cache.stats().entries, 2u);
}

TEST(PrefixCache, SessionEntriesArePinnedUntilReleased) {
  FakeStore store;
  PrefixCache cache(store, 100);
  cache.insert(store.create(5), seq({7, 7, 7, 7, 7}), "s1");
  cache.insert(store.create(4), seq({1, 1, 1, 1}));
  cache.insert(store.create(4), seq({2, 2, 2, 2}));  // over budget: the unpinned LRU goes, not the older pinned one
  EXPECT_TRUE(cache.acquire(seq({7, 7, 7, 7, 7, 8}), 5).has_value());
  EXPECT_FALSE(cache.acquire(seq({1, 1, 1, 1, 1}), 4).has_value());
  EXPECT_EQ(cache.release_session("s1"), 1u);
  EXPECT_EQ(cache.release_session("s1"), 0u);
  EXPECT_FALSE(cache.acquire(seq({7, 7, 7, 7, 7, 8}), 5).has_value());
}

TEST(PrefixCache, DestructorFreesEverything) {
  FakeStore store;
  {
    PrefixCache cache(store, 1000);
    cache.insert(store.create(2), seq({1, 2}));
    cache.insert(store.create(2), seq({3, 4}), "s");
  }
  EXPECT_TRUE(store.lengths.empty());
}

}  // namespace
}  // namespace banyan::node
