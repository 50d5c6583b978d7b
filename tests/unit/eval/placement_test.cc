// Placement policies and their scores on synthetic per-(sequence, node) matrices, checked by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "eval/placement.h"

namespace banyan {
namespace {

// 3 sequences × 2 nodes.
PlacementInputs example() {
  PlacementInputs in;
  in.prompt_tokens = 64;
  in.prompt_nll = NodeMatrix(3, 2);
  in.continuation_nll = NodeMatrix(3, 2);
  in.probe_mass = NodeMatrix(3, 2);
  // seq 0: node 0 better everywhere.
  in.prompt_nll.at(0, 0) = 1.0, in.prompt_nll.at(0, 1) = 2.0;
  in.continuation_nll.at(0, 0) = 1.0, in.continuation_nll.at(0, 1) = 3.0;
  in.probe_mass.at(0, 0) = 0.7, in.probe_mass.at(0, 1) = 0.3;
  // seq 1: prompt prefers node 1, continuation prefers node 0, probe prefers node 1.
  in.prompt_nll.at(1, 0) = 2.0, in.prompt_nll.at(1, 1) = 1.5;
  in.continuation_nll.at(1, 0) = 2.0, in.continuation_nll.at(1, 1) = 2.5;
  in.probe_mass.at(1, 0) = 0.4, in.probe_mass.at(1, 1) = 0.6;
  // seq 2: node 1 better; probe ties (lowest index wins).
  in.prompt_nll.at(2, 0) = 3.0, in.prompt_nll.at(2, 1) = 1.0;
  in.continuation_nll.at(2, 0) = 4.0, in.continuation_nll.at(2, 1) = 1.0;
  in.probe_mass.at(2, 0) = 0.5, in.probe_mass.at(2, 1) = 0.5;
  return in;
}

TEST(Placement, ChoicesPerPolicy) {
  auto in = example();
  EXPECT_EQ(choose_nodes(Policy::Oracle, in), (std::vector<int>{0, 0, 1}));
  EXPECT_EQ(choose_nodes(Policy::Likelihood, in), (std::vector<int>{0, 1, 1}));
  EXPECT_EQ(choose_nodes(Policy::Probe, in), (std::vector<int>{0, 1, 0}));
  EXPECT_THROW(choose_nodes(Policy::Random, in), Error);
}

TEST(Placement, AutoUsesLikelihoodForLongPromptsAndProbeForShort) {
  auto in = example();  // no near-ties within the default margins
  EXPECT_EQ(choose_nodes(Policy::Auto, in), choose_nodes(Policy::Likelihood, in));  // 64-token prompts
  in.prompt_tokens = 16;
  EXPECT_EQ(choose_nodes(Policy::Auto, in), choose_nodes(Policy::Probe, in));
}

// auto, online in sequence order: among nodes within the margin of the best prompt NLL, the one with the fewest
// sequences so far; outside the margin the best node wins however loaded it is.
TEST(Placement, AutoTakesTheLeastLoadedNearTie) {
  PlacementInputs in;
  in.prompt_tokens = 64;
  in.prompt_nll = NodeMatrix(5, 3);
  in.continuation_nll = NodeMatrix(5, 3);
  in.probe_mass = NodeMatrix(5, 3);
  const double nll[5][3] = {{1.00, 1.03, 2.0},   // 0 best; 1 within 0.05 but both empty -> the better, 0
                            {1.00, 1.03, 2.0},   // 0 has 1, 1 has 0 -> 1
                            {1.00, 1.20, 1.04},  // 0 and 2 tie, 2 is empty -> 2
                            {1.00, 1.50, 1.50},  // only 0 -> 0 (now 2 sequences)
                            {1.02, 1.00, 1.04}}; // all three within 0.05; loads 2, 1, 1 -> 1 (better than 2)
  for (int s = 0; s < 5; ++s)
    for (int n = 0; n < 3; ++n) in.prompt_nll.at(s, n) = nll[s][n];
  AutoPlacement o;
  o.arrival_order = ArrivalOrder::File;  // the loads this test reasons about are those of file order
  o.nll_margin = 0.05;
  EXPECT_EQ(choose_nodes(Policy::Auto, in, o), (std::vector<int>{0, 1, 2, 0, 1}));
  o.nll_margin = 0;  // pure likelihood
  EXPECT_EQ(choose_nodes(Policy::Auto, in, o), choose_nodes(Policy::Likelihood, in));
  o.nll_margin = -1;
  EXPECT_THROW(choose_nodes(Policy::Auto, in, o), Error);
  o.nll_margin = 0.05;
  // Short prompts: the probe metric with its own margin (higher is better).
  in.prompt_tokens = 16;
  for (int s = 0; s < 5; ++s) in.probe_mass.at(s, 0) = 0.50, in.probe_mass.at(s, 1) = 0.495, in.probe_mass.at(s, 2) = 0.1;
  o.probe_margin = 0.01;
  EXPECT_EQ(choose_nodes(Policy::Auto, in, o), (std::vector<int>{0, 1, 0, 1, 0}));
}

// Share cap: after the warm-up, a node that would exceed F of the sequences placed so far is skipped for the
// best-NLL node that would not; none such (F < 1 / nodes at that point): the least loaded, ties by NLL.
TEST(Placement, AutoShareCapMovesOverflowToTheBestEligibleNode) {
  auto make = [](int64_t S, const std::vector<double>& row) {
    PlacementInputs in;
    in.prompt_tokens = 64;
    const int64_t N = int64_t(row.size());
    in.prompt_nll = NodeMatrix(S, N);
    in.continuation_nll = NodeMatrix(S, N);
    in.probe_mass = NodeMatrix(S, N);
    for (int64_t s = 0; s < S; ++s)
      for (int64_t n = 0; n < N; ++n) in.prompt_nll.at(s, n) = row[size_t(n)];
    return in;
  };
  AutoPlacement o;
  EXPECT_FALSE(o.max_node_share);  // by default min(1, 1.6 / nodes): 0.8 here, after 4 x 2 sequences
  o.arrival_order = ArrivalOrder::File;  // the per-arrival decisions below are those of file order
  auto in = make(6, {1.0, 2.0});
  EXPECT_EQ(choose_nodes(Policy::Auto, in, o), (std::vector<int>(6, 0)));  // 6 < the warm-up of 8
  o.max_node_share = 0.5;
  o.share_warmup_per_node = 1;  // the cap applies from the 3rd sequence (2 nodes)
  // s=2: node 0 would hold 3/3 -> node 1; s=3: 3/4 -> 1; s=4: both would hold 3/5 -> least loaded tie, better
  // NLL -> 0; s=5: node 0 4/6 -> 1.
  EXPECT_EQ(choose_nodes(Policy::Auto, in, o), (std::vector<int>{0, 0, 1, 1, 0, 1}));
  o.share_warmup_per_node = 3;  // warm-up covers all 6
  EXPECT_EQ(choose_nodes(Policy::Auto, in, o), (std::vector<int>(6, 0)));
  // 3 nodes, F = 0.4, no warm-up: the best eligible by NLL (node 2 before node 1), else the least loaded.
  in = make(5, {1.0, 1.5, 1.2});
  o.max_node_share = 0.4;
  o.share_warmup_per_node = 0;
  // s=0: none can stay <= 0.4 -> least loaded (all 0), best NLL 0; s=1: none (0: 2/2, 1 and 2: 1/2) -> least
  // loaded 1 and 2, better NLL 2; s=2: only 1 (1/3) -> 1; s=3: all would hold 2/4 -> least loaded, NLL -> 0;
  // s=4: 1 and 2 at 2/5 -> better NLL 2.
  EXPECT_EQ(choose_nodes(Policy::Auto, in, o), (std::vector<int>{0, 2, 1, 0, 2}));
  // Bound: 200 sequences that all prefer node 0; after the default warm-up no node holds more than F of them.
  in = make(200, {1.0, 1.5, 1.2});
  o = AutoPlacement();
  o.max_node_share = 0.4;  // explicit: overrides the default 1.6 / 3
  auto choice = choose_nodes(Policy::Auto, in, o);
  std::vector<int> load(3, 0);
  for (int n : choice) ++load[size_t(n)];
  EXPECT_EQ(load[0], 80);  // = 0.4 x 200: the cap binds exactly
  EXPECT_GT(load[2], load[1]);  // the overflow prefers the better node 2
  o.max_node_share = 0;
  EXPECT_THROW(choose_nodes(Policy::Auto, in, o), Error);
  o.max_node_share = 1.5;
  EXPECT_THROW(choose_nodes(Policy::Auto, in, o), Error);
}

// The arrival order: a seeded permutation, the same on every platform (tools/eval/load_factor_study.py replicates
// it and pins the same constant), different per seed; file order is the identity.
TEST(ArrivalOrder, SeededShuffleIsADeterministicPermutation) {
  EXPECT_EQ(arrival_permutation(10, ArrivalOrder::Shuffled, 1),
            (std::vector<int64_t>{4, 2, 8, 1, 9, 3, 0, 6, 7, 5}));
  EXPECT_EQ(arrival_permutation(10, ArrivalOrder::Shuffled, 2),
            (std::vector<int64_t>{9, 8, 3, 2, 4, 6, 1, 7, 5, 0}));
  for (int64_t S : {0, 1, 2, 7, 143, 200}) {
    auto p = arrival_permutation(S, ArrivalOrder::Shuffled, 1);
    EXPECT_EQ(p, arrival_permutation(S, ArrivalOrder::Shuffled, 1));  // deterministic
    std::vector<int64_t> sorted = p, identity(static_cast<size_t>(S));
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < S; ++i) identity[size_t(i)] = i;
    EXPECT_EQ(sorted, identity) << S;  // a permutation
    EXPECT_EQ(arrival_permutation(S, ArrivalOrder::File, 1), identity);
    if (S >= 7) {
      EXPECT_NE(p, identity) << S;
      EXPECT_NE(p, arrival_permutation(S, ArrivalOrder::Shuffled, 2)) << S;
    }
  }
  EXPECT_EQ(parse_arrival_order("shuffled"), ArrivalOrder::Shuffled);
  EXPECT_EQ(parse_arrival_order("file"), ArrivalOrder::File);
  EXPECT_FALSE(parse_arrival_order("random"));
  EXPECT_EQ(arrival_order_name(ArrivalOrder::Shuffled), "shuffled");
  EXPECT_EQ(AutoPlacement().arrival_order, ArrivalOrder::Shuffled);  // the default
}

namespace {
// S sequences x N nodes of random prompt / continuation NLLs; every third sequence strongly prefers node 0.
PlacementInputs random_inputs(int64_t S, int64_t N, uint32_t seed) {
  PlacementInputs in;
  in.prompt_tokens = 64;
  in.prompt_nll = NodeMatrix(S, N);
  in.continuation_nll = NodeMatrix(S, N);
  in.probe_mass = NodeMatrix(S, N);
  uint32_t x = seed;
  auto uniform = [&x] {
    x = x * 1664525u + 1013904223u;
    return double(x >> 8) / double(1u << 24);
  };
  for (int64_t s = 0; s < S; ++s)
    for (int64_t n = 0; n < N; ++n) {
      in.prompt_nll.at(s, n) = 2.0 + uniform() - (s % 3 == 0 && n == 0 ? 1.0 : 0.0);
      in.continuation_nll.at(s, n) = in.prompt_nll.at(s, n) + 0.5 * uniform();
      in.probe_mass.at(s, n) = uniform();
    }
  return in;
}
}  // namespace

// `auto` in shuffled order = `auto` in file order on the sequences permuted into arrival order, with the results
// put back in protocol order (so the cap sees interleaved arrivals, and the JSON keeps the protocol's order).
TEST(ArrivalOrder, AutoPlacesInArrivalOrderAndReportsInProtocolOrder) {
  const PlacementInputs in = random_inputs(60, 4, 11);
  AutoPlacement shuffled;  // defaults: shuffled, seed 1, F = 0.4 at 4 nodes
  const auto perm = arrival_permutation(60, ArrivalOrder::Shuffled, shuffled.arrival_seed);
  PlacementInputs permuted = in;
  for (int64_t k = 0; k < 60; ++k)
    for (int64_t n = 0; n < 4; ++n) {
      permuted.prompt_nll.at(k, n) = in.prompt_nll.at(perm[size_t(k)], n);
      permuted.continuation_nll.at(k, n) = in.continuation_nll.at(perm[size_t(k)], n);
      permuted.probe_mass.at(k, n) = in.probe_mass.at(perm[size_t(k)], n);
    }
  AutoPlacement file = shuffled;
  file.arrival_order = ArrivalOrder::File;
  const auto got = choose_nodes(Policy::Auto, in, shuffled);
  const auto ref = choose_nodes(Policy::Auto, permuted, file);
  for (int64_t k = 0; k < 60; ++k) EXPECT_EQ(got[size_t(perm[size_t(k)])], ref[size_t(k)]) << k;
  // The cap binds (node 0 is preferred by a third of the sequences plus its random wins), so the order matters.
  EXPECT_NE(got, choose_nodes(Policy::Auto, in, file));
}

// Without the cap and without load-broken near-ties (margin 0), every sequence goes to its own best node whatever
// the arrival order: same choices and ppl in both orders. (With the near-tie margin the least-loaded rule makes
// the choice depend on the arrivals before it, so uncapped `auto` is order-dependent in general.)
TEST(ArrivalOrder, UncappedPlacementWithoutLoadTiesIsOrderIndependent) {
  const PlacementInputs in = random_inputs(80, 4, 5);
  AutoPlacement o;
  o.max_node_share = 1.0;
  o.nll_margin = 0;
  AutoPlacement f = o;
  f.arrival_order = ArrivalOrder::File;
  EXPECT_EQ(choose_nodes(Policy::Auto, in, o), choose_nodes(Policy::Auto, in, f));
  EXPECT_EQ(choose_nodes(Policy::Auto, in, o), choose_nodes(Policy::Likelihood, in));
  o.arrival_seed = 12345;
  EXPECT_DOUBLE_EQ(score_placement(Policy::Auto, in, 1.0, RandomDefinition::MeanNll, o).ppl,
                   score_placement(Policy::Auto, in, 1.0, RandomDefinition::MeanNll, f).ppl);
}

// The default cap scales with the node count: F = min(1, 1.6 / nodes); --max-node-share overrides it; the
// placement holds it (all 200 sequences prefer node 0).
TEST(Placement, DefaultShareCapIsTheLoadFactorOverNodes) {
  AutoPlacement o;
  EXPECT_DOUBLE_EQ(o.max_load_factor, 1.6);
  EXPECT_DOUBLE_EQ(o.node_share(1), 1.0);
  EXPECT_DOUBLE_EQ(o.node_share(2), 0.8);
  EXPECT_DOUBLE_EQ(o.node_share(4), 0.4);
  EXPECT_DOUBLE_EQ(o.node_share(8), 0.2);
  o.max_load_factor = 2;
  EXPECT_DOUBLE_EQ(o.node_share(4), 0.5);
  o.max_node_share = 1.0;  // explicit: off
  EXPECT_DOUBLE_EQ(o.node_share(4), 1.0);
  for (int64_t N : {2, 4, 8}) {
    PlacementInputs in;
    in.prompt_tokens = 64;
    in.prompt_nll = NodeMatrix(200, N);
    in.continuation_nll = NodeMatrix(200, N);
    in.probe_mass = NodeMatrix(200, N);
    for (int64_t s = 0; s < 200; ++s)
      for (int64_t n = 0; n < N; ++n) in.prompt_nll.at(s, n) = 1.0 + 0.5 * double(n);
    std::vector<int> load(size_t(N), 0);
    for (int n : choose_nodes(Policy::Auto, in)) ++load[size_t(n)];
    EXPECT_EQ(load[0], int(1.6 / double(N) * 200 + 1e-9)) << N;  // 160, 80, 40: the cap binds exactly
    AutoPlacement off;
    off.max_node_share = 1.0;
    std::fill(load.begin(), load.end(), 0);
    for (int n : choose_nodes(Policy::Auto, in, off)) ++load[size_t(n)];
    EXPECT_EQ(load[0], 200) << N;
  }
  o = AutoPlacement();
  o.max_load_factor = 0;
  EXPECT_THROW(choose_nodes(Policy::Auto, random_inputs(10, 2, 1), o), Error);
}

TEST(Placement, ScoresByHand) {
  auto in = example();
  const double full = std::exp(0.5);
  PlacementScore oracle = score_placement(Policy::Oracle, in, full, RandomDefinition::MeanNll);
  EXPECT_NEAR(oracle.ppl, std::exp((1.0 + 2.0 + 1.0) / 3), 1e-12);
  EXPECT_NEAR(oracle.ppl_ratio, oracle.ppl / full, 1e-12);
  EXPECT_DOUBLE_EQ(oracle.agree_with_oracle, 1.0);
  EXPECT_EQ(oracle.node_load, (std::vector<double>{2, 1}));

  PlacementScore probe = score_placement(Policy::Probe, in, full, RandomDefinition::MeanNll);
  EXPECT_NEAR(probe.ppl, std::exp((1.0 + 2.5 + 4.0) / 3), 1e-12);
  EXPECT_NEAR(probe.agree_with_oracle, 1.0 / 3, 1e-12);
  EXPECT_EQ(probe.node_load, (std::vector<double>{2, 1}));

  PlacementScore lik = score_placement(Policy::Likelihood, in, full, RandomDefinition::MeanNll);
  EXPECT_NEAR(lik.ppl, std::exp((1.0 + 2.5 + 1.0) / 3), 1e-12);
  EXPECT_NEAR(lik.agree_with_oracle, 2.0 / 3, 1e-12);
  EXPECT_EQ(lik.node_load, (std::vector<double>{1, 2}));
}

TEST(Placement, OracleIsNeverWorseThanAnyPolicy) {
  auto in = example();
  const double oracle = score_placement(Policy::Oracle, in, 1.0, RandomDefinition::MeanNll).ppl;
  for (Policy p : {Policy::Random, Policy::Probe, Policy::Likelihood, Policy::Auto})
    for (RandomDefinition d : {RandomDefinition::MeanNll, RandomDefinition::MeanNode})
      EXPECT_LE(oracle, score_placement(p, in, 1.0, d).ppl * (1 + 1e-12)) << policy_name(p);
}

TEST(Placement, RandomBothDefinitions) {
  auto in = example();
  RandomScores r = score_random(in.continuation_nll);
  // exp(mean of all six) vs mean of the two columns' exp(mean).
  EXPECT_NEAR(r.ppl_mean_nll, std::exp((1.0 + 3.0 + 2.0 + 2.5 + 4.0 + 1.0) / 6), 1e-12);
  EXPECT_NEAR(r.ppl_mean_node, (std::exp(7.0 / 3) + std::exp(6.5 / 3)) / 2, 1e-12);
  EXPECT_GE(r.ppl_mean_node, r.ppl_mean_nll);  // Jensen: the mean of exps is at least the exp of the mean
  PlacementScore s = score_placement(Policy::Random, in, 2.0, RandomDefinition::MeanNode);
  EXPECT_DOUBLE_EQ(s.ppl, r.ppl_mean_node);
  EXPECT_DOUBLE_EQ(s.agree_with_oracle, 0.5);
  EXPECT_EQ(s.node_load, (std::vector<double>{1.5, 1.5}));
  EXPECT_TRUE(s.choices.empty());
}

TEST(Placement, PplIfAllSentHere) {
  auto in = example();
  auto p = ppl_if_all_sent_here(in.continuation_nll);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_NEAR(p[0], std::exp(7.0 / 3), 1e-12);
  EXPECT_NEAR(p[1], std::exp(6.5 / 3), 1e-12);
}

TEST(Placement, ValidationRejectsMismatchedOrNonFinite) {
  auto in = example();
  in.probe_mass = NodeMatrix(3, 3);
  EXPECT_THROW(choose_nodes(Policy::Oracle, in), Error);
  in = example();
  in.prompt_nll.at(1, 1) = NAN;
  EXPECT_THROW(choose_nodes(Policy::Oracle, in), Error);
  in = example();
  in.auto_nll = NodeMatrix(2, 2);
  EXPECT_THROW(choose_nodes(Policy::Auto, in), Error);
  in.auto_nll = NodeMatrix(3, 2);
  in.auto_nll.at(2, 0) = INFINITY;
  EXPECT_THROW(choose_nodes(Policy::Auto, in), Error);
}

// With auto_nll present, auto compares it (the prompt without its first tokens) instead of the whole prompt's NLL;
// likelihood keeps the whole prompt.
TEST(Placement, AutoComparesTheAutoNllWhenPresent) {
  auto in = example();  // prompt_nll: likelihood picks 0, 1, 1
  in.auto_nll = NodeMatrix(3, 2);
  const double tail[3][2] = {{2.0, 1.0}, {1.0, 2.0}, {1.0, 1.5}};  // far apart: no near-ties
  for (int s = 0; s < 3; ++s)
    for (int n = 0; n < 2; ++n) in.auto_nll.at(s, n) = tail[s][n];
  EXPECT_EQ(choose_nodes(Policy::Auto, in), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(choose_nodes(Policy::Likelihood, in), (std::vector<int>{0, 1, 1}));
  in.prompt_tokens = 16;  // short prompts still use the probe
  EXPECT_EQ(choose_nodes(Policy::Auto, in), choose_nodes(Policy::Probe, in));
}

TEST(Placement, ParsePolicyList) {
  EXPECT_EQ(parse_policy_list("random, probe,likelihood,probe"),
            (std::vector<Policy>{Policy::Random, Policy::Probe, Policy::Likelihood}));
  EXPECT_EQ(parse_policy_list("prompt_likelihood"), (std::vector<Policy>{Policy::Likelihood}));
  EXPECT_THROW(parse_policy_list("random,nearest"), Error);
  EXPECT_THROW(parse_policy_list(""), Error);
}

}  // namespace
}  // namespace banyan
