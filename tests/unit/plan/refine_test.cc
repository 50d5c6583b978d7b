#include "plan/refine.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "plan/planner.h"
#include "synthetic_profiles.h"

using namespace banyan;
using banyan::test::make_grouped_profiles;

namespace {

// Captured mass of the given clusters with their best sets, by brute force over documents (normalised rows).
double captured_by_hand(const Profiles& p, const std::vector<int>& doc_cluster,
                        const std::vector<std::vector<std::vector<int>>>& sets) {
  double total = 0;
  for (int64_t d = 0; d < p.docs; ++d)
    for (int64_t l = 0; l < p.layers; ++l) {
      double in = 0, all = 0;
      for (int64_t e = 0; e < p.experts; ++e) all += p.probs[p.offset(d, l) + size_t(e)];
      for (int e : sets[size_t(doc_cluster[size_t(d)])][size_t(l)]) in += p.probs[p.offset(d, l) + size_t(e)];
      total += in / all;
    }
  return total / double(p.docs * p.layers);
}

}  // namespace

// Two clusters, four experts, one layer: the greedy pass (best (cluster, expert) pair first) gives expert 0 to
// cluster 0 and fills it with 1: 10 + 9 + 0 = 19. The exact re-split gives 0 to cluster 1, which needs nothing
// else: 9 + 9 + 9.5 = 27.5, the best of the six splits.
TEST(Refine, DisjointSetsMaximiseMass) {
  std::vector<std::vector<std::vector<double>>> mass = {{{10.0, 9.0, 9.0, 0.0}}, {{9.5, 0.0, 0.0, 0.0}}};
  RefineOptions o;
  o.per_node = 2;
  o.disjoint = true;
  auto sets = best_sets(mass, o);
  EXPECT_EQ(sets[0][0], (std::vector<int>{1, 2}));
  EXPECT_EQ(sets[1][0], (std::vector<int>{0, 3}));
  o.disjoint = false;  // overlap: each its own top 2 (ties by id)
  sets = best_sets(mass, o);
  EXPECT_EQ(sets[0][0], (std::vector<int>{0, 1}));
  EXPECT_EQ(sets[1][0], (std::vector<int>{0, 1}));
}

// Starting from a scrambled clustering of separable groups, refinement recovers the groups, never lowers the
// captured mass, and keeps the balance cap.
TEST(Refine, RecoversGroupsAndRaisesCapturedMass) {
  Profiles p = make_grouped_profiles(2, 10, 2, 8, 5);
  std::vector<int> start(size_t(p.docs));
  for (int64_t d = 0; d < p.docs; ++d) start[size_t(d)] = int(d % 2);  // half of each group in each cluster
  RefineOptions o;
  o.per_node = 4;
  o.disjoint = true;
  o.balanced = true;
  std::vector<int> c = start;
  const double before = captured_by_hand(p, start, best_sets(cluster_mass(p, p.probs, start, 2), o));
  o.rounds = 0;
  EXPECT_NEAR(refine_clusters(p, p.probs, 2, c, o), before, 1e-9);
  EXPECT_EQ(c, start);
  o.rounds = 5;
  const double after = refine_clusters(p, p.probs, 2, c, o);
  EXPECT_NEAR(after, captured_by_hand(p, c, best_sets(cluster_mass(p, p.probs, c, 2), o)), 1e-9);
  EXPECT_GT(after, before + 0.1);
  for (int64_t d = 0; d < p.docs; ++d) EXPECT_EQ(c[size_t(d)], c[size_t(d / 10 * 10)]) << "doc " << d;
  EXPECT_NE(c[0], c[10]);
}

TEST(Refine, RejectsBadSizes) {
  Profiles p = make_grouped_profiles(2, 3, 1, 8, 5);
  std::vector<int> c(size_t(p.docs), 0);
  RefineOptions o;
  o.per_node = 3;  // 2 x 3 does not cover 8 experts disjointly
  o.disjoint = true;
  o.rounds = 1;
  EXPECT_THROW(refine_clusters(p, p.probs, 2, c, o), Error);
  c[0] = 5;
  o.per_node = 4;
  EXPECT_THROW(refine_clusters(p, p.probs, 2, c, o), Error);
}

// A refined clustered plan is still a valid disjoint split and records its rounds.
TEST(Refine, ClusteredPlanWithRefinement) {
  Profiles p = make_grouped_profiles(4, 6, 2, 16, 3);
  PlanModel m = banyan::test::make_plan_model(16, 2);
  PlanOptions o;
  o.nodes = 4;
  o.scheme = Scheme::Clustered;
  o.balance = true;
  o.refine = 3;
  Plan plan = make_plan(m, o, &p);
  EXPECT_EQ(plan.refine, 3);
  for (int l = 0; l < 2; ++l) {
    std::vector<int> seen(16, 0);
    for (const auto& n : plan.nodes) {
      EXPECT_EQ(n.experts[l].size(), 4u);
      for (int e : n.experts[l]) ++seen[e];
    }
    for (int e = 0; e < 16; ++e) EXPECT_EQ(seen[e], 1) << "expert " << e;
  }
  // Separable groups: every node captures almost all of its cluster's mass.
  for (const auto& n : plan.nodes) EXPECT_GT(n.quality->on_cluster, 0.8);
}
