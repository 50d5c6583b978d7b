#include <gtest/gtest.h>

#include <fmt/format.h>

#include <map>

#include "route/placement.h"

namespace banyan::route {
namespace {

Candidate scored(std::string name, double probe, double logprob, int64_t load, int64_t tokens = 10) {
  Candidate c;
  c.name = std::move(name);
  c.scored = true;
  c.probe_mass = probe;
  c.prompt_logprob = logprob;
  c.load = load;
  c.prompt_tokens = tokens;
  return c;
}

Candidate unscored(std::string name, int64_t load) {
  Candidate c;
  c.name = std::move(name);
  c.load = load;
  return c;
}

TEST(Placement, PolicyNamesRoundTrip) {
  for (Policy p : {Policy::Hash, Policy::LeastLoaded, Policy::Probe, Policy::Likelihood, Policy::Auto})
    EXPECT_EQ(parse_policy(policy_name(p)), p);
  EXPECT_FALSE(parse_policy("random"));
}

TEST(Placement, ProbePicksHighestProbeMass) {
  std::vector<Candidate> c = {scored("a", 0.40, -1.0, 0), scored("b", 0.70, -3.0, 5), scored("c", 0.55, -0.5, 0)};
  auto d = place(Policy::Probe, "s", c);
  EXPECT_EQ(d.index, 1u);
  EXPECT_EQ(d.metric, "probe_mass");
  EXPECT_FALSE(d.tie_broken_by_load);
}

TEST(Placement, LikelihoodPicksHighestPromptLogprob) {
  std::vector<Candidate> c = {scored("a", 0.40, -1.0, 0), scored("b", 0.70, -3.0, 0), scored("c", 0.55, -0.5, 9)};
  auto d = place(Policy::Likelihood, "s", c);
  EXPECT_EQ(d.index, 2u);
  EXPECT_EQ(d.metric, "prompt_logprob");
}

TEST(Placement, AutoUsesProbeForShortPromptsAndLikelihoodForLongOnes) {
  PlacementOptions o;
  o.auto_probe_below = 32;
  std::vector<Candidate> shortp = {scored("a", 0.9, -3.0, 0, 31), scored("b", 0.2, -1.0, 0, 31)};
  std::vector<Candidate> longp = {scored("a", 0.9, -3.0, 0, 32), scored("b", 0.2, -1.0, 0, 32)};
  EXPECT_EQ(place(Policy::Auto, "s", shortp, o).index, 0u);
  EXPECT_EQ(place(Policy::Auto, "s", shortp, o).metric, "probe_mass");
  EXPECT_EQ(place(Policy::Auto, "s", longp, o).index, 1u);
  EXPECT_EQ(place(Policy::Auto, "s", longp, o).metric, "prompt_logprob_tail");  // nodes without it: prompt_logprob
}

// auto compares the prompt log-prob without the prompt's first tokens when nodes report it; likelihood keeps the
// whole prompt's.
TEST(Placement, AutoComparesThePromptTailWhenReported) {
  std::vector<Candidate> c = {scored("a", 0.5, -1.0, 0, 64), scored("b", 0.5, -2.0, 0, 64)};
  c[0].prompt_logprob_tail = -3.0;
  c[1].prompt_logprob_tail = -1.5;
  EXPECT_EQ(place(Policy::Auto, "s", c).index, 1u);
  EXPECT_EQ(place(Policy::Likelihood, "s", c).index, 0u);
  EXPECT_EQ(metric_value(c[0], "prompt_logprob_tail"), -3.0);
  c[0].prompt_logprob_tail.reset();  // a node without the tail is compared by its whole-prompt log-prob
  EXPECT_EQ(metric_value(c[0], "prompt_logprob_tail"), -1.0);
  EXPECT_EQ(place(Policy::Auto, "s", c).index, 0u);
  // Only unscored or probe-less candidates: auto falls back from the probe to the tail, then to load.
  std::vector<Candidate> shortp = {scored("a", 0, -2.0, 0, 8), scored("b", 0, -1.0, 0, 8)};
  for (auto& x : shortp) x.probe_mass.reset();
  shortp[0].prompt_logprob_tail = -0.5;
  const Decision d = place(Policy::Auto, "s", shortp);
  EXPECT_EQ(d.metric, "prompt_logprob_tail");
  EXPECT_EQ(d.index, 0u);
}

TEST(Placement, NearTieGoesToTheLeastLoaded) {
  PlacementOptions o;
  o.probe_tie = 0.02;
  // b is best by 0.01 (< margin) but busy; a is within the margin and idle; c is clearly worse and idle.
  std::vector<Candidate> c = {scored("a", 0.60, 0, 1), scored("b", 0.61, 0, 7), scored("c", 0.30, 0, 0)};
  auto d = place(Policy::Probe, "s", c, o);
  EXPECT_EQ(c[d.index].name, "a");
  EXPECT_TRUE(d.tie_broken_by_load);
  // Outside the margin the score wins regardless of load.
  o.probe_tie = 0.005;
  d = place(Policy::Probe, "s", c, o);
  EXPECT_EQ(c[d.index].name, "b");
  EXPECT_FALSE(d.tie_broken_by_load);
}

// Share cap over the live sessions: after the warm-up (share_warmup_per_node x candidates sessions), a node that
// would hold more than F of them with this session gives it to the best scorer under F.
TEST(Placement, ShareCapMovesTheSessionToTheBestNodeUnderIt) {
  auto with_sessions = [](Candidate c, int64_t sessions) {
    c.sessions = sessions;
    return c;
  };
  PlacementOptions o;
  o.max_node_share = 1.0;  // explicit: off (the default cap, 1.6 / 3, is tested below)
  o.logprob_tie = 0.075;
  o.share_warmup_per_node = 2;  // 3 candidates: from 6 live sessions on
  // a is best by far and holds 4 of 10 sessions; c scores better than b.
  std::vector<Candidate> c = {with_sessions(scored("a", 0, -1.0, 4), 4), with_sessions(scored("b", 0, -2.0, 3), 3),
                              with_sessions(scored("c", 0, -1.5, 3), 3)};
  auto d = place(Policy::Likelihood, "s", c, o);
  EXPECT_EQ(c[d.index].name, "a");  // no cap
  EXPECT_FALSE(d.moved_by_share_cap);
  o.max_node_share = 0.5;  // 5 / 11 <= 0.5: a keeps it
  d = place(Policy::Likelihood, "s", c, o);
  EXPECT_EQ(c[d.index].name, "a");
  EXPECT_FALSE(d.moved_by_share_cap);
  o.max_node_share = 0.4;  // a: 5 / 11 > 0.4; b and c: 4 / 11 -> the better score, c
  d = place(Policy::Likelihood, "s", c, o);
  EXPECT_EQ(c[d.index].name, "c");
  EXPECT_TRUE(d.moved_by_share_cap);
  EXPECT_EQ(d.metric, "prompt_logprob");
  o.max_node_share = 0.35;  // c: 4 / 11 > 0.35 as well: nobody stays under -> fewest sessions, better score: c
  c[1].sessions = 3;
  d = place(Policy::Likelihood, "s", c, o);
  EXPECT_EQ(c[d.index].name, "c");
  c[2].sessions = 2;  // now c: 3 / 10 <= 0.35 and b: 4 / 10 > 0.35 -> c (under the cap)
  o.max_node_share = 0.35;
  d = place(Policy::Likelihood, "s", c, o);
  EXPECT_EQ(c[d.index].name, "c");
  EXPECT_TRUE(d.moved_by_share_cap);
  // Warm-up: 9 live sessions < 4 x 3 -> no cap.
  o.share_warmup_per_node = 4;
  d = place(Policy::Likelihood, "s", c, o);
  EXPECT_EQ(c[d.index].name, "a");
  EXPECT_FALSE(d.moved_by_share_cap);
  // Auto and probe use it too; hash and least-loaded do not.
  o.share_warmup_per_node = 0;
  o.max_node_share = 0.4;
  std::vector<Candidate> p = {with_sessions(scored("a", 0.9, 0, 0, 10), 8), with_sessions(scored("b", 0.1, 0, 0, 10), 2)};
  EXPECT_EQ(p[place(Policy::Probe, "s", p, o).index].name, "b");
  EXPECT_EQ(p[place(Policy::Auto, "s", p, o).index].name, "b");  // 10-token prompt: probe
  o.max_node_share = 0;
  EXPECT_ANY_THROW(place(Policy::Auto, "s", p, o));
}

// The default cap is eval quality's: min(1, max_load_factor / candidates) = 0.4 among 4 candidates, 0.8 among 2;
// an explicit max_node_share overrides it.
TEST(Placement, DefaultShareCapScalesWithTheCandidates) {
  PlacementOptions o;
  EXPECT_FALSE(o.max_node_share);
  EXPECT_DOUBLE_EQ(o.max_load_factor, 1.6);
  EXPECT_DOUBLE_EQ(o.node_share(1), 1.0);
  EXPECT_DOUBLE_EQ(o.node_share(2), 0.8);
  EXPECT_DOUBLE_EQ(o.node_share(4), 0.4);
  EXPECT_DOUBLE_EQ(o.node_share(8), 0.2);
  auto with_sessions = [](Candidate c, int64_t sessions) {
    c.sessions = sessions;
    return c;
  };
  // 4 candidates, 16 live sessions (= the default warm-up 4 x 4); a is best by far and holds 6: 7 / 17 > 0.4.
  // 64-token prompts: auto compares the prompt log-prob.
  std::vector<Candidate> c = {with_sessions(scored("a", 0, -1.0, 40, 64), 6),
                              with_sessions(scored("b", 0, -3.0, 40, 64), 4),
                              with_sessions(scored("c", 0, -2.0, 40, 64), 3),
                              with_sessions(scored("d", 0, -2.5, 40, 64), 3)};
  auto d = place(Policy::Auto, "s", c, o);
  EXPECT_EQ(c[d.index].name, "c");  // the best scorer under 0.4
  EXPECT_TRUE(d.moved_by_share_cap);
  c[0].sessions = 5;
  c[1].sessions = 5;  // 16 live; a: 6 / 17 <= 0.4 -> a
  d = place(Policy::Auto, "s", c, o);
  EXPECT_EQ(c[d.index].name, "a");
  EXPECT_FALSE(d.moved_by_share_cap);
  // 2 candidates: F = 0.8. a holds 7 of 8: 8 / 9 > 0.8 -> b; with an explicit 1.0 a keeps it.
  std::vector<Candidate> two = {with_sessions(scored("a", 0, -1.0, 40, 64), 7),
                                with_sessions(scored("b", 0, -3.0, 40, 64), 1)};
  d = place(Policy::Auto, "s", two, o);
  EXPECT_EQ(two[d.index].name, "b");
  EXPECT_TRUE(d.moved_by_share_cap);
  two[0].sessions = 6;
  two[1].sessions = 2;  // a: 7 / 9 <= 0.8
  EXPECT_EQ(two[place(Policy::Auto, "s", two, o).index].name, "a");
  two[0].sessions = 7;
  two[1].sessions = 1;
  o.max_node_share = 1.0;
  EXPECT_EQ(two[place(Policy::Auto, "s", two, o).index].name, "a");
  o.max_node_share.reset();
  o.max_load_factor = 2.0;  // 2 / 2 = 1: off
  EXPECT_EQ(two[place(Policy::Auto, "s", two, o).index].name, "a");
  o.max_load_factor = 0;
  EXPECT_ANY_THROW(place(Policy::Auto, "s", two, o));
}

TEST(Placement, NearTieWithEqualLoadKeepsTheBetterScore) {
  PlacementOptions o;
  o.logprob_tie = 0.1;
  std::vector<Candidate> c = {scored("a", 0, -1.05, 2), scored("b", 0, -1.00, 2)};
  auto d = place(Policy::Likelihood, "s", c, o);
  EXPECT_EQ(c[d.index].name, "b");
  EXPECT_FALSE(d.tie_broken_by_load);
}

TEST(Placement, UnscoredCandidatesLoseToScoredOnesAndAllUnscoredFallsBackToLoad) {
  std::vector<Candidate> c = {unscored("a", 0), scored("b", 0.1, -5, 9)};
  EXPECT_EQ(place(Policy::Probe, "s", c).index, 1u);
  std::vector<Candidate> plain = {unscored("a", 3), unscored("b", 1), unscored("c", 2)};
  auto d = place(Policy::Auto, "s", plain);
  EXPECT_EQ(plain[d.index].name, "b");
  EXPECT_EQ(d.metric, "load");
}

TEST(Placement, NodesThatCannotProbeAreComparedByLikelihood) {
  // Nodes answer probe_mass = null when they cannot compute the unmasked router (see node score endpoint).
  std::vector<Candidate> c = {scored("a", 0, -2.0, 0), scored("b", 0, -1.0, 0)};
  for (auto& x : c) x.probe_mass.reset();
  auto d = place(Policy::Probe, "s", c);
  EXPECT_EQ(c[d.index].name, "b");
  EXPECT_EQ(d.metric, "prompt_logprob");
  // A candidate lacking the metric in use is not compared on it.
  std::vector<Candidate> mixed = {scored("a", 0.9, -2.0, 0), scored("b", 0.1, -1.0, 0)};
  mixed[1].probe_mass.reset();
  d = place(Policy::Probe, "s", mixed);
  EXPECT_EQ(mixed[d.index].name, "a");
  EXPECT_EQ(d.metric, "probe_mass");
}

TEST(Placement, LeastLoadedPicksFewestInFlight) {
  std::vector<Candidate> c = {unscored("a", 4), unscored("b", 0), unscored("c", 2)};
  EXPECT_EQ(place(Policy::LeastLoaded, "s", c).index, 1u);
}

TEST(Placement, HashIsStableAndSpreads) {
  std::vector<Candidate> c = {unscored("node-0", 0), unscored("node-1", 0), unscored("node-2", 0)};
  std::map<size_t, int> hits;
  for (int i = 0; i < 3000; ++i) {
    const std::string s = "session-" + std::to_string(i);
    const size_t first = place(Policy::Hash, s, c).index;
    EXPECT_EQ(place(Policy::Hash, s, c).index, first);
    ++hits[first];
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_GT(hits[i], 850) << "node " << i;
    EXPECT_LT(hits[i], 1150) << "node " << i;
  }
}

TEST(Placement, HashMovesOnlyTheSessionsOfARemovedNode) {
  std::vector<Candidate> three = {unscored("node-0", 0), unscored("node-1", 0), unscored("node-2", 0)};
  std::vector<Candidate> two = {unscored("node-0", 0), unscored("node-2", 0)};
  for (int i = 0; i < 500; ++i) {
    const std::string s = fmt::format("s{}", i);  // not "s" + to_string: GCC 12 -Wrestrict false positive
    const std::string before = three[place(Policy::Hash, s, three).index].name;
    const std::string after = two[place(Policy::Hash, s, two).index].name;
    if (before != "node-1") {
      EXPECT_EQ(before, after) << s;
    }
  }
}

}  // namespace
}  // namespace banyan::route
