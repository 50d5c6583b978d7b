#include "plan/set_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "plan/planner.h"
#include "plan/refine.h"
#include "synthetic_profiles.h"

using namespace banyan;
using banyan::test::make_grouped_profiles;

namespace {

// One layer, the given probs rows (already normalised), every document in cluster 0 unless given.
Profiles rows_profiles(const std::vector<std::vector<float>>& rows) {
  Profiles p;
  const int64_t experts = int64_t(rows[0].size());
  p.resize(int64_t(rows.size()), 1, experts, /*with_topk_mass=*/true, /*with_out_norm=*/false);
  p.source_hash = "abc123";
  p.top_k = 1;
  p.moe_layers = {0};
  p.domains.assign(rows.size(), std::string("group0"));
  p.tokens.assign(rows.size(), 4);
  for (size_t d = 0; d < rows.size(); ++d) {
    for (int64_t e = 0; e < experts; ++e) {
      p.probs[p.offset(int64_t(d), 0) + size_t(e)] = rows[d][size_t(e)];
      p.counts[p.offset(int64_t(d), 0) + size_t(e)] = rows[d][size_t(e)];
      p.topk_mass[p.offset(int64_t(d), 0) + size_t(e)] = rows[d][size_t(e)];
    }
  }
  return p;
}

}  // namespace

// Three documents, two of three experts. The captured mass prefers {0, 1} (1.1 + 1.0 > 1.1 + 0.9) and leaves
// the third document 0.1 of its mass; the log coverage prefers {0, 2}: log .5 + log .5 + log 1 > log 1 + log 1 +
// log .1. The search must find it from the mass optimum.
TEST(SetSearch, BudgetTradesMassForTheWorstCoveredDocument) {
  Profiles p = rows_profiles({{0.5f, 0.5f, 0.0f}, {0.5f, 0.5f, 0.0f}, {0.1f, 0.0f, 0.9f}});
  const auto w = normalised_rows(p, p.probs);
  std::vector<int> clusters = {0, 0, 0};
  RefineOptions ro;
  ro.per_node = 2;
  auto sets = best_sets(cluster_mass(p, p.probs, clusters, 1), ro);
  ASSERT_EQ(sets[0][0], (std::vector<int>{0, 1}));
  const double before = log_coverage(p, w, clusters, sets, 1e-3);
  SetSearchOptions so;
  EXPECT_GE(log_coverage_search(p, w, clusters, sets, so), 1);
  EXPECT_EQ(sets[0][0], (std::vector<int>{0, 2}));
  const double after = log_coverage(p, w, clusters, sets, 1e-3);
  EXPECT_NEAR(after, 2 * std::log(0.5 + 1e-3) + std::log(1.0 + 1e-3), 1e-9);
  EXPECT_GT(after, before);
  // At the optimum nothing moves.
  EXPECT_EQ(log_coverage_search(p, w, clusters, sets, so), 0);
}

// Disjoint: two clusters, four experts, two each. Mass split (exact): cluster 0 takes {0, 1} (its docs put
// 0.45 + 0.45 there), cluster 1 {2, 3}; cluster 0's third document lives on expert 2 alone and is left with 0.
// Exchanging 1 for 2 costs cluster 1 little (its documents hold 3 too) and covers that document.
TEST(SetSearch, DisjointExchangeKeepsAPartition) {
  Profiles p = rows_profiles({{0.5f, 0.45f, 0.05f, 0.0f},
                              {0.5f, 0.45f, 0.05f, 0.0f},
                              {0.0f, 0.0f, 1.0f, 0.0f},
                              {0.0f, 0.0f, 0.3f, 0.7f},
                              {0.0f, 0.0f, 0.3f, 0.7f}});
  const auto w = normalised_rows(p, p.probs);
  std::vector<int> clusters = {0, 0, 0, 1, 1};
  RefineOptions ro;
  ro.per_node = 2;
  ro.disjoint = true;
  auto sets = best_sets(cluster_mass(p, p.probs, clusters, 2), ro);
  ASSERT_EQ(sets[0][0], (std::vector<int>{0, 1}));
  ASSERT_EQ(sets[1][0], (std::vector<int>{2, 3}));
  const double before = log_coverage(p, w, clusters, sets, 1e-3);
  SetSearchOptions so;
  so.disjoint = true;
  EXPECT_GE(log_coverage_search(p, w, clusters, sets, so), 1);
  EXPECT_EQ(sets[0][0], (std::vector<int>{0, 2}));
  EXPECT_EQ(sets[1][0], (std::vector<int>{1, 3}));
  EXPECT_GT(log_coverage(p, w, clusters, sets, 1e-3), before);
}

// On grouped synthetic profiles: sizes kept, disjoint sets stay a partition of the experts, the objective never
// drops, and the search is deterministic.
TEST(SetSearch, InvariantsOnSyntheticProfiles) {
  Profiles p = make_grouped_profiles(4, 12, 3, 32, 7);
  const auto w = normalised_rows(p, p.probs);
  std::vector<int> clusters(size_t(p.docs));
  for (int64_t d = 0; d < p.docs; ++d) clusters[size_t(d)] = int((d * 7) % 4);  // deliberately mixed clusters
  for (bool disjoint : {false, true}) {
    RefineOptions ro;
    ro.per_node = disjoint ? 8 : 12;
    ro.disjoint = disjoint;
    const auto start = best_sets(cluster_mass(p, p.probs, clusters, 4), ro);
    auto sets = start, again = start;
    SetSearchOptions so;
    so.disjoint = disjoint;
    log_coverage_search(p, w, clusters, sets, so);
    log_coverage_search(p, w, clusters, again, so);
    EXPECT_EQ(sets, again);
    EXPECT_GE(log_coverage(p, w, clusters, sets, so.eps), log_coverage(p, w, clusters, start, so.eps) - 1e-9);
    for (int64_t l = 0; l < p.layers; ++l) {
      std::set<int> all;
      for (int c = 0; c < 4; ++c) {
        const auto& s = sets[size_t(c)][size_t(l)];
        EXPECT_EQ(int64_t(s.size()), ro.per_node);
        EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
        EXPECT_EQ(std::set<int>(s.begin(), s.end()).size(), s.size());
        all.insert(s.begin(), s.end());
      }
      if (disjoint) {
        EXPECT_EQ(int64_t(all.size()), p.experts);
      }
    }
  }
}

// The planner option: same clusters, every node keeps its count, and the plan's log coverage is at least the
// plain plan's.
TEST(SetSearch, PlannerOptionRaisesLogCoverage) {
  Profiles p = make_grouped_profiles(4, 12, 3, 32, 11);
  PlanModel m = banyan::test::make_plan_model(32, 3);
  for (bool budget : {false, true}) {
    PlanOptions o;
    o.nodes = 4;
    o.scheme = budget ? Scheme::Budget : Scheme::Clustered;
    o.experts_per_node = budget ? 12 : 0;
    o.balance = true;
    o.refine = 3;
    const Plan plain = make_plan(m, o, &p);
    o.set_search = true;
    const Plan searched = make_plan(m, o, &p);
    ASSERT_TRUE(plain.calibration && searched.calibration);
    EXPECT_EQ(plain.calibration->doc_cluster, searched.calibration->doc_cluster);
    EXPECT_EQ(searched.experts_per_node, plain.experts_per_node);
    auto sets_of = [](const Plan& plan) {
      std::vector<std::vector<std::vector<int>>> s;
      for (const auto& n : plan.nodes) s.push_back(n.experts);
      return s;
    };
    const auto w = normalised_rows(p, p.probs);
    const auto& dc = plain.calibration->doc_cluster;
    EXPECT_GE(log_coverage(p, w, dc, sets_of(searched), 1e-3), log_coverage(p, w, dc, sets_of(plain), 1e-3) - 1e-9);
    o.replicate = 1;
    EXPECT_THROW(make_plan(m, o, &p), Error);
  }
}

// Soft responsibilities: a tiny beta weighs every document equally for every node, so every budget node gets
// the top experts of the overall mass; a huge beta on well-separated groups is the hard assignment (each group's
// documents are best covered by their own node), i.e. refine's best sets of the true clusters.
TEST(SoftSets, BetaInterpolatesBetweenSharedAndHardSets) {
  Profiles p = make_grouped_profiles(4, 10, 2, 32, 5);
  const auto w = normalised_rows(p, p.probs);
  std::vector<int> truth(size_t(p.docs));
  for (int64_t d = 0; d < p.docs; ++d) truth[size_t(d)] = int(d / 10);
  RefineOptions ro;
  ro.per_node = 8;
  const auto hard = best_sets(cluster_mass(p, p.probs, truth, 4), ro);
  auto sharp = hard;
  const double top = soft_responsibility_sets(p, w, sharp, 8, false, 1e4, 2);
  EXPECT_EQ(sharp, hard);
  EXPECT_NEAR(top, 1.0, 1e-9);
  auto flat = hard;
  soft_responsibility_sets(p, w, flat, 8, false, 1e-9, 1);
  const auto shared = best_sets(cluster_mass(p, p.probs, std::vector<int>(size_t(p.docs), 0), 1), ro);
  for (int c = 0; c < 4; ++c) EXPECT_EQ(flat[size_t(c)], shared[0]);
  EXPECT_NE(flat, hard);
  // Disjoint: still a partition of the experts with E / N each.
  auto dj = best_sets(cluster_mass(p, p.probs, truth, 4), RefineOptions{8, true, false, 0});
  soft_responsibility_sets(p, w, dj, 8, true, 20, 3);
  for (int64_t l = 0; l < p.layers; ++l) {
    std::set<int> all;
    for (int c = 0; c < 4; ++c) {
      EXPECT_EQ(dj[size_t(c)][size_t(l)].size(), 8u);
      all.insert(dj[size_t(c)][size_t(l)].begin(), dj[size_t(c)][size_t(l)].end());
    }
    EXPECT_EQ(int64_t(all.size()), p.experts);
  }
  EXPECT_THROW(soft_responsibility_sets(p, w, dj, 8, true, 0, 3), Error);
  // Inputs that do not fit the profiles are errors, not out-of-bounds reads.
  EXPECT_THROW(soft_responsibility_sets(p, std::vector<double>(w.begin(), w.end() - 1), dj, 8, true, 20, 1), Error);
  std::vector<std::vector<std::vector<int>>> none;
  EXPECT_THROW(soft_responsibility_sets(p, w, none, 8, true, 20, 1), Error);
  auto short_sets = dj;
  short_sets[1].pop_back();
  EXPECT_THROW(soft_responsibility_sets(p, w, short_sets, 8, true, 20, 1), Error);
}

// The planner records the opt-in choices (plan.json round trip) and rejects a negative beta.
TEST(SoftSets, PlanRecordsTheChoice) {
  Profiles p = make_grouped_profiles(2, 10, 2, 16, 3);
  PlanModel m = banyan::test::make_plan_model(16, 2);
  PlanOptions o;
  o.nodes = 2;
  o.scheme = Scheme::Budget;
  o.experts_per_node = 6;
  o.balance = true;
  o.refine = 2;
  const Plan plain = make_plan(m, o, &p);
  EXPECT_FALSE(plan_to_json(plain).contains("soft_sets"));
  o.soft_sets_beta = 20;
  o.refine_unbalanced = true;
  const Plan soft = make_plan(m, o, &p);
  const Plan back = plan_from_json(plan_to_json(soft), "test");
  EXPECT_DOUBLE_EQ(back.soft_sets_beta, 20.0);
  EXPECT_EQ(back.soft_sets_rounds, 3);
  EXPECT_TRUE(back.refine_unbalanced);
  EXPECT_FALSE(back.set_search);
  EXPECT_EQ(back.id, soft.id);
  o.soft_sets_beta = -1;
  EXPECT_THROW(make_plan(m, o, &p), Error);
}

// `auto` turns soft sets on at 4+ nodes holding at most half the experts (no replicas), and nowhere else; an
// explicit beta stays. The resulting plan records it.
TEST(SoftSets, AutoRule) {
  Profiles p = make_grouped_profiles(4, 12, 2, 16, 7);
  PlanOptions o;
  o.scheme = Scheme::Auto;
  auto beta = [&](int nodes, int64_t k) {
    o.nodes = nodes;
    o.experts_per_node = k;
    return resolve_auto(o, &p).soft_sets_beta;
  };
  EXPECT_EQ(beta(4, 8), kAutoSoftSetsBeta);  // 4 x E/2
  EXPECT_EQ(beta(4, 6), kAutoSoftSetsBeta);  // 4 x 3E/8
  EXPECT_EQ(beta(4, 0), kAutoSoftSetsBeta);  // disjoint quarters
  EXPECT_EQ(beta(8, 8), kAutoSoftSetsBeta);
  EXPECT_EQ(beta(4, 12), 0.0);               // 4 x 3E/4
  EXPECT_EQ(beta(2, 8), 0.0);                // 2 x E/2
  EXPECT_EQ(beta(2, 0), 0.0);                // disjoint halves
  EXPECT_EQ(beta(3, 8), 0.0);
  o.replicate = 1;
  EXPECT_EQ(beta(4, 8), 0.0);
  o.replicate = 0;
  o.soft_sets_beta = 50;
  EXPECT_EQ(beta(4, 8), 50.0);
  o.soft_sets_beta = 0;
  PlanModel m = banyan::test::make_plan_model(16, 2);
  o.nodes = 4;
  o.experts_per_node = 8;
  const Plan plan = make_plan(m, o, &p);
  EXPECT_EQ(plan.soft_sets_beta, kAutoSoftSetsBeta);
  PlanOptions hard = resolve_auto(o, &p);
  hard.soft_sets_beta = 0;
  const Plan hard_plan = make_plan(m, hard, &p);
  EXPECT_EQ(hard_plan.soft_sets_beta, 0.0);
  EXPECT_EQ(plan.calibration->doc_cluster, hard_plan.calibration->doc_cluster);
}
