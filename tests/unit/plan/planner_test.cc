#include "plan/planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "plan/predicted_quality.h"
#include "synthetic_profiles.h"

using namespace banyan;
using banyan::test::make_grouped_profiles;

namespace {

constexpr auto model = banyan::test::make_plan_model;

std::vector<int> range(int a, int b) {
  std::vector<int> v;
  for (int i = a; i < b; ++i) v.push_back(i);
  return v;
}

// The group (domain "groupG") that all of a node's cluster documents come from; -1 when mixed.
int node_group(const Plan& plan, const Profiles& p, int node) {
  std::set<std::string> domains;
  for (size_t d = 0; d < plan.calibration->doc_cluster.size(); ++d)
    if (plan.calibration->doc_cluster[d] == plan.nodes[node].cluster) domains.insert(p.domains[d]);
  if (domains.size() != 1) return -1;
  return std::stoi(domains.begin()->substr(5));
}

}  // namespace

TEST(Planner, ContiguousExactLists) {
  PlanOptions o;
  o.nodes = 4;
  o.scheme = Scheme::Contiguous;
  Plan plan = make_plan(model(16, 3), o, nullptr);
  ASSERT_EQ(plan.nodes.size(), 4u);
  EXPECT_EQ(plan.experts_per_node, 4);
  for (int g = 0; g < 4; ++g)
    for (int l = 0; l < 3; ++l) {
      EXPECT_EQ(plan.nodes[g].experts[l], range(4 * g, 4 * g + 4)) << "node " << g << " layer " << l;
      EXPECT_TRUE(plan.nodes[g].replicated[l].empty());
    }
  EXPECT_FALSE(plan.calibration.has_value());
  EXPECT_EQ(plan.id.size(), 16u);
}

TEST(Planner, ContiguousRejectsIndivisibleAndMissingProfiles) {
  PlanOptions o;
  o.nodes = 3;
  EXPECT_THROW(make_plan(model(16, 2), o, nullptr), Error);
  o.nodes = 2;
  o.replicate = 2;  // hot experts need calibration
  EXPECT_THROW(make_plan(model(16, 2), o, nullptr), Error);
  o.replicate = 0;
  o.scheme = Scheme::Clustered;
  EXPECT_THROW(make_plan(model(16, 2), o, nullptr), Error);
}

TEST(Planner, ClusteredFindsSeparableGroupsAndTheirExperts) {
  Profiles p = make_grouped_profiles(2, 20, 3, 16, 1);
  PlanOptions o;
  o.nodes = 2;
  o.scheme = Scheme::Clustered;
  o.seed = 3;
  Plan plan = make_plan(model(16, 3), o, &p, "p.safetensors");
  EXPECT_EQ(plan.experts_per_node, 8);
  std::set<int> groups;
  for (int g = 0; g < 2; ++g) {
    int group = node_group(plan, p, g);
    ASSERT_GE(group, 0) << "node " << g << " serves a mixed cluster";
    groups.insert(group);
    for (int l = 0; l < 3; ++l)
      for (int e : plan.nodes[g].experts[l]) EXPECT_EQ(e % 2, group) << "node " << g << " layer " << l;
    EXPECT_DOUBLE_EQ(plan.clusters[g].traffic_share, 0.5);
    ASSERT_EQ(plan.clusters[g].centroid.size(), 3u);
    ASSERT_EQ(plan.clusters[g].centroid[0].size(), 16u);
    ASSERT_TRUE(plan.nodes[g].quality.has_value());
    // Each node holds its group's experts, so it captures far more on its own documents than on everyone's.
    EXPECT_GT(plan.nodes[g].quality->on_cluster, plan.nodes[g].quality->on_all + 0.2);
    EXPECT_EQ(plan.nodes[g].quality->metric, "captured_topk_mass");
  }
  EXPECT_EQ(groups.size(), 2u);
  EXPECT_EQ(plan.calibration->documents, 40);
  EXPECT_EQ(plan.calibration->tokens, 40 * 16);
}

TEST(Planner, ClusteredIsDisjointAndBalanced) {
  Profiles p = make_grouped_profiles(3, 10, 4, 24, 2);
  PlanOptions o;
  o.nodes = 4;  // more nodes than natural groups: still disjoint, equal, complete
  o.scheme = Scheme::Clustered;
  Plan plan = make_plan(model(24, 4), o, &p);
  for (int l = 0; l < 4; ++l) {
    std::vector<int> all;
    for (const auto& node : plan.nodes) {
      EXPECT_EQ(node.experts[l].size(), 6u);
      all.insert(all.end(), node.experts[l].begin(), node.experts[l].end());
    }
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, range(0, 24)) << "layer " << l;
  }
  // Traffic shares sum to 1.
  double share = 0;
  for (const auto& c : plan.clusters) share += c.traffic_share;
  EXPECT_NEAR(share, 1.0, 1e-12);
}

TEST(Planner, ReplicasAreAddedToEveryNodeWithEqualCounts) {
  Profiles p = make_grouped_profiles(2, 10, 2, 16, 4, /*hot_expert=*/true);
  for (Scheme s : {Scheme::Contiguous, Scheme::Clustered}) {
    PlanOptions o;
    o.nodes = 2;
    o.scheme = s;
    o.replicate = 1;
    Plan plan = make_plan(model(16, 2), o, &p);
    // Expert 0 lives in one group already; the other node adds it and the first fills one more: 9 each.
    EXPECT_EQ(plan.experts_per_node, 9) << scheme_name(s);
    for (const auto& node : plan.nodes)
      for (int l = 0; l < 2; ++l) {
        EXPECT_EQ(node.replicated[l], std::vector<int>{0});
        EXPECT_TRUE(std::binary_search(node.experts[l].begin(), node.experts[l].end(), 0));
        EXPECT_TRUE(std::is_sorted(node.experts[l].begin(), node.experts[l].end()));
      }
  }
}

TEST(Planner, BudgetKeepsEachClustersTopExperts) {
  Profiles p = make_grouped_profiles(2, 12, 2, 16, 5, /*hot_expert=*/true);
  PlanOptions o;
  o.nodes = 2;
  o.scheme = Scheme::Budget;
  o.experts_per_node = 5;
  o.replicate = 1;
  Plan plan = make_plan(model(16, 2), o, &p);
  EXPECT_EQ(plan.experts_per_node, 5);
  for (int g = 0; g < 2; ++g) {
    int group = node_group(plan, p, g);
    ASSERT_GE(group, 0);
    for (int l = 0; l < 2; ++l) {
      ASSERT_EQ(plan.nodes[g].experts[l].size(), 5u);
      EXPECT_TRUE(std::binary_search(plan.nodes[g].experts[l].begin(), plan.nodes[g].experts[l].end(), 0));
      for (int e : plan.nodes[g].experts[l])
        if (e != 0) {
          EXPECT_EQ(e % 2, group);
        }
    }
  }
  o.replicate = 6;  // more replicas than the budget
  EXPECT_THROW(make_plan(model(16, 2), o, &p), Error);
  o.replicate = 0;
  o.experts_per_node = 0;
  EXPECT_THROW(make_plan(model(16, 2), o, &p), Error);
}

TEST(Planner, RefusesProfilesOfAnotherModel) {
  Profiles p = make_grouped_profiles(2, 4, 2, 16, 6);
  p.source_hash = "other";
  PlanOptions o;
  o.scheme = Scheme::Clustered;
  EXPECT_THROW(make_plan(model(16, 2), o, &p), Error);
  Profiles q = make_grouped_profiles(2, 4, 2, 16, 6);
  EXPECT_THROW(make_plan(model(32, 2), o, &q), Error);  // expert count differs
}

TEST(PredictedQuality, HandComputed) {
  Profiles p;
  p.resize(1, 1, 4, true, false);
  p.moe_layers = {0};
  p.domains = {"x"};
  p.tokens = {4};
  p.probs = {0.1f, 0.2f, 0.3f, 0.4f};
  p.counts = {0, 2, 3, 3};
  p.topk_mass = {0.0f, 0.1f, 0.2f, 0.2f};
  NodeQuality q = predict_node_quality(p, {{1, 3}}, {0});
  EXPECT_EQ(q.metric, "captured_topk_mass");
  EXPECT_NEAR(q.on_cluster, (0.1 + 0.2) / 0.5, 1e-6);
  EXPECT_NEAR(q.on_all, 0.6, 1e-6);
  EXPECT_NEAR(q.router_mass_cluster, 0.6, 1e-6);
  p.topk_mass.clear();
  q = predict_node_quality(p, {{1, 3}}, {0});
  EXPECT_EQ(q.metric, "topk_selection_share");
  EXPECT_NEAR(q.on_cluster, 5.0 / 8.0, 1e-6);
  // The whole expert set captures everything.
  EXPECT_NEAR(predict_node_quality(p, {{0, 1, 2, 3}}, {0}).on_cluster, 1.0, 1e-12);
}

TEST(Planner, FullNodeCapturesEverything) {
  Profiles p = make_grouped_profiles(2, 5, 2, 8, 8);
  PlanOptions o;
  o.nodes = 1;
  Plan plan = make_plan(model(8, 2), o, &p);
  EXPECT_NEAR(plan.nodes[0].quality->on_cluster, 1.0, 1e-9);
  EXPECT_EQ(plan.nodes[0].quality->documents, 10);
}

// `auto` resolves by budget: any K -> budget (overlap allowed), no K -> disjoint clustered; always balanced;
// the best criterion the profiles carry (here topk_mass: the synthetic profiles have no out_norm).
TEST(Planner, AutoResolvesSchemeAndCriterion) {
  Profiles p = make_grouped_profiles(2, 12, 2, 16, 7);
  PlanOptions o;
  o.nodes = 2;
  o.scheme = Scheme::Auto;
  o.experts_per_node = 10;
  PlanOptions r = resolve_auto(o, &p);
  EXPECT_EQ(r.scheme, Scheme::Budget);
  EXPECT_EQ(r.experts_per_node, 10);
  EXPECT_EQ(r.criterion, Criterion::TopkMass);
  EXPECT_TRUE(r.balance);
  o.experts_per_node = 8;  // K = E/N: still budget
  EXPECT_EQ(resolve_auto(o, &p).scheme, Scheme::Budget);
  o.experts_per_node = 0;
  r = resolve_auto(o, &p);
  EXPECT_EQ(r.scheme, Scheme::Clustered);
  EXPECT_EQ(r.criterion, Criterion::TopkMass);
  EXPECT_TRUE(r.balance);
  // Refinement for disjoint splits and where every node keeps at least half the experts (16 here); an explicit
  // --refine stays.
  EXPECT_EQ(r.refine, kAutoRefineRounds);  // disjoint halves: 8 of 16
  o.nodes = 4;                              // disjoint quarters: 4 of 16
  EXPECT_EQ(resolve_auto(o, &p).refine, kAutoRefineRounds);
  o.experts_per_node = 8;                   // budget 8 of 16
  EXPECT_EQ(resolve_auto(o, &p).refine, kAutoRefineRounds);
  o.experts_per_node = 7;
  EXPECT_EQ(resolve_auto(o, &p).refine, 0);
  o.refine = 2;
  EXPECT_EQ(resolve_auto(o, &p).refine, 2);
  o.refine = 0;
  o.nodes = 2;
  o.experts_per_node = 10;
  EXPECT_THROW(resolve_auto(o, nullptr), Error);
  PlanOptions explicit_options = o;
  explicit_options.scheme = Scheme::Budget;
  EXPECT_EQ(resolve_auto(explicit_options, &p).criterion, Criterion::Probs);  // non-auto passes through
  EXPECT_EQ(parse_scheme("auto"), Scheme::Auto);
}

// With out_norm in the profiles, auto ranks experts by it: a plan whose out_norm favours other experts than
// the router probabilities keeps the out_norm favourites, and equals the explicit budget/out_norm/balanced plan.
TEST(Planner, AutoPlanUsesOutNormWhenPresent) {
  Profiles base = make_grouped_profiles(2, 12, 2, 16, 9);
  Profiles p;
  p.resize(base.docs, base.layers, base.experts, /*with_topk_mass=*/true, /*with_out_norm=*/true);
  p.probs = base.probs;
  p.counts = base.counts;
  p.topk_mass = base.topk_mass;
  p.domains = base.domains;
  p.tokens = base.tokens;
  p.source_hash = base.source_hash;
  p.corpus = base.corpus;
  p.per_domain = base.per_domain;
  p.seq_tokens = base.seq_tokens;
  p.top_k = base.top_k;
  p.moe_layers = base.moe_layers;
  // Saliency: group g's documents have large outputs on experts e with e / 8 == g (ids 0-7 vs 8-15), unlike
  // their probabilities (e % 2 == g).
  for (int64_t d = 0; d < p.docs; ++d) {
    int g = p.domains[d] == "group0" ? 0 : 1;
    for (int64_t l = 0; l < p.layers; ++l)
      for (int64_t e = 0; e < p.experts; ++e) p.out_norm[p.offset(d, l) + e] = (e / 8 == g) ? 1.0f + 0.01f * e : 0.1f;
  }
  PlanOptions o;
  o.nodes = 2;
  o.scheme = Scheme::Auto;
  o.experts_per_node = 9;
  Plan plan = make_plan(model(16, 2), o, &p);
  EXPECT_EQ(plan.scheme, "budget");
  EXPECT_EQ(plan.criterion, "out_norm");
  EXPECT_TRUE(plan.balanced_clusters);
  for (int g = 0; g < 2; ++g) {
    int group = node_group(plan, p, g);
    ASSERT_GE(group, 0);
    for (int l = 0; l < 2; ++l) {
      int own = 0;
      for (int e : plan.nodes[g].experts[l]) own += (e / 8 == group);
      EXPECT_EQ(own, 8) << "node " << g << " layer " << l;  // all 8 salient experts, plus one more
    }
  }
  PlanOptions explicit_options = o;
  explicit_options.scheme = Scheme::Budget;
  explicit_options.criterion = Criterion::OutNorm;
  explicit_options.balance = true;
  explicit_options.node_top_k = 3;  // auto widens k = 2 to round(0.75 k E / K) = round(2.67) = 3 (the id covers it)
  explicit_options.refine = kAutoRefineRounds;  // K = 9 of 16 ≥ half: auto refines
  Plan same = make_plan(model(16, 2), explicit_options, &p);
  for (int g = 0; g < 2; ++g) EXPECT_EQ(plan.nodes[g].experts, same.nodes[g].experts);
  EXPECT_EQ(plan.id, same.id);
}

// The widening rule: round(0.75 k E / local) within [k, local] for nodes that lack experts, k for a full node.
TEST(Planner, AutoNodeTopKRule) {
  EXPECT_EQ(auto_node_top_k(8, 64, 128), 12);   // half the experts: 1.5 k
  EXPECT_EQ(auto_node_top_k(8, 32, 128), 24);   // a quarter: 3 k
  EXPECT_EQ(auto_node_top_k(8, 48, 128), 16);
  EXPECT_EQ(auto_node_top_k(8, 96, 128), 8);    // 0.75 k E / local = 8: no widening
  EXPECT_EQ(auto_node_top_k(8, 112, 128), 8);   // 6.86 rounds to 7, raised to k
  EXPECT_EQ(auto_node_top_k(8, 10, 128), 10);   // capped by the local count
  EXPECT_EQ(auto_node_top_k(8, 128, 128), 8);   // a full node is the full model
  EXPECT_EQ(auto_node_top_k(2, 4, 8), 3);
  EXPECT_EQ(auto_node_top_k(3, 4, 8), 4);       // round(4.5) = 5, capped at 4
  EXPECT_EQ(auto_node_top_k(1, 4, 8), 2);       // round(1.5) = 2
  EXPECT_THROW(auto_node_top_k(2, 9, 8), Error);
}

// auto records the widened top-k; explicit schemes keep the model's unless --node-top-k is given.
TEST(Planner, NodeTopKInPlans) {
  Profiles p = make_grouped_profiles(2, 12, 2, 16, 7);
  PlanOptions o;
  o.nodes = 2;
  o.scheme = Scheme::Auto;
  o.experts_per_node = 10;
  Plan a = make_plan(model(16, 2), o, &p);
  EXPECT_EQ(a.node_top_k, 2);  // model k 2, 10 of 16 local: round(2.4) = 2
  o.experts_per_node = 0;      // disjoint halves: 8 local -> round(3) = 3
  EXPECT_EQ(make_plan(model(16, 2), o, &p).node_top_k, 3);
  o.node_top_k = 5;
  EXPECT_EQ(make_plan(model(16, 2), o, &p).node_top_k, 5);
  o.node_top_k = 17;
  EXPECT_THROW(make_plan(model(16, 2), o, &p), Error);
  PlanOptions c;
  c.nodes = 2;
  c.scheme = Scheme::Contiguous;
  Plan plain = make_plan(model(16, 2), c, nullptr);
  EXPECT_EQ(plain.node_top_k, 2);
  c.node_top_k = 4;
  Plan wide = make_plan(model(16, 2), c, nullptr);
  EXPECT_EQ(wide.node_top_k, 4);
  EXPECT_NE(wide.id, plain.id);
}
