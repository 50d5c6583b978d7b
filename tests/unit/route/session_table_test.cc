#include <gtest/gtest.h>

#include "route/session_table.h"

namespace banyan::route {
namespace {

using namespace std::chrono_literals;

TEST(SessionTable, PinLookupAndTurns) {
  SessionTable t(60s);
  const SteadyTime t0{};
  EXPECT_FALSE(t.lookup("a", t0));
  t.pin("a", "node-1", "probe", t0);
  auto e = t.lookup("a", t0 + 1s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->node, "node-1");
  EXPECT_EQ(e->policy, "probe");
  EXPECT_EQ(e->turns, 2);
  EXPECT_EQ(t.lookup("a", t0 + 2s)->turns, 3);
  t.pin("a", "node-2", "failover", t0 + 3s);
  EXPECT_EQ(t.lookup("a", t0 + 4s)->node, "node-2");
}

TEST(SessionTable, ExpiresAfterTtlWithoutUseButUseExtendsIt) {
  SessionTable t(10s);
  const SteadyTime t0{};
  t.pin("a", "n0", "hash", t0);
  t.pin("b", "n1", "hash", t0);
  EXPECT_TRUE(t.lookup("a", t0 + 9s));   // touches a: now lives until t0 + 19 s
  EXPECT_FALSE(t.lookup("b", t0 + 10s));  // exactly ttl idle: gone
  EXPECT_TRUE(t.lookup("a", t0 + 18s));
  EXPECT_FALSE(t.lookup("a", t0 + 28s));
}

TEST(SessionTable, ExpireReturnsTheDroppedSessionsAndCountsByNode) {
  SessionTable t(5s);
  const SteadyTime t0{};
  t.pin("a", "n0", "hash", t0);
  t.pin("b", "n0", "hash", t0 + 3s);
  t.pin("c", "n1", "hash", t0 + 3s);
  EXPECT_EQ(t.size(t0 + 4s), 3u);
  auto counts = t.count_by_node(t0 + 4s);
  EXPECT_EQ(counts["n0"], 2);
  EXPECT_EQ(counts["n1"], 1);
  auto gone = t.expire(t0 + 6s);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].first, "a");
  EXPECT_EQ(gone[0].second.node, "n0");
  EXPECT_EQ(t.size(t0 + 6s), 2u);
  EXPECT_EQ(t.expire(t0 + 100s).size(), 2u);
  EXPECT_EQ(t.size(t0 + 100s), 0u);
}

}  // namespace
}  // namespace banyan::route
