#include "plan/plan_file.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "plan/planner.h"
#include "synthetic_profiles.h"
#include "test_paths.h"

using namespace banyan;

namespace {
Plan sample_plan() {
  Profiles p = banyan::test::make_grouped_profiles(2, 6, 2, 8, 9, true);
  PlanModel m;
  m.source_path = "/m";
  m.source_sha256 = "abc123";
  m.family = "qwen3_moe";
  m.num_layers = 3;
  m.moe_layers = {1, 2};
  m.num_experts = 8;
  m.top_k = 2;
  p.moe_layers = {1, 2};
  PlanOptions o;
  o.scheme = Scheme::Clustered;
  o.replicate = 1;
  return make_plan(m, o, &p, "prof.safetensors");
}
}  // namespace

TEST(PlanFile, JsonRoundTrip) {
  Plan a = sample_plan();
  auto dir = banyan::test::make_temp_dir("plan_file");
  write_plan(dir / "plan.json", a);
  Plan b = read_plan(dir / "plan.json");
  EXPECT_EQ(plan_to_json(a), plan_to_json(b));
  EXPECT_EQ(b.id, compute_plan_id(b));
  EXPECT_EQ(b.moe_index(2), 1);
  EXPECT_EQ(b.moe_index(0), -1);
  std::filesystem::remove_all(dir);
}

TEST(PlanFile, IdDependsOnExperts) {
  Plan a = sample_plan();
  Plan b = a;
  std::swap(b.nodes[0].experts[0].back(), b.nodes[1].experts[0].back());
  EXPECT_NE(compute_plan_id(a), compute_plan_id(b));
}

TEST(PlanFile, ValidationRejectsBrokenPlans) {
  Plan a = sample_plan();
  auto j = plan_to_json(a);
  {
    auto k = j;
    k["nodes"][0]["experts"][0][1] = k["nodes"][0]["experts"][0][0];  // duplicate
    EXPECT_THROW(plan_from_json(k, "dup"), Error);
  }
  {
    auto k = j;
    k["nodes"][1]["experts"][1].erase(0);  // unequal count
    EXPECT_THROW(plan_from_json(k, "count"), Error);
  }
  {
    auto k = j;
    k["nodes"][0]["experts"][0][0] = 8;  // out of range
    EXPECT_THROW(plan_from_json(k, "range"), Error);
  }
  {
    auto k = j;
    k["format"] = "banyan-plan/0";
    EXPECT_THROW(plan_from_json(k, "format"), Error);
  }
  {
    auto k = j;
    k.erase("nodes");
    EXPECT_THROW(plan_from_json(k, "missing"), Error);
  }
  EXPECT_NO_THROW(plan_from_json(j, "ok"));
}

// node_top_k: written and read back; a plan file without it means the model's top_k; it enters the id only when
// it differs from top_k (older plans keep their ids); out of range is refused.
TEST(PlanFile, NodeTopKRoundTripDefaultAndId) {
  Plan a = sample_plan();
  EXPECT_EQ(a.node_top_k, a.top_k);
  auto j = plan_to_json(a);
  EXPECT_EQ(j["node_top_k"], 2);
  j.erase("node_top_k");
  EXPECT_EQ(plan_from_json(j, "old").node_top_k, 2);
  EXPECT_EQ(plan_from_json(j, "old").id, a.id);
  Plan zero = a;
  zero.node_top_k = 0;  // unset in code means top_k, same id
  EXPECT_EQ(compute_plan_id(zero), a.id);
  EXPECT_EQ(zero.effective_node_top_k(), 2);
  Plan wide = a;
  wide.node_top_k = 3;
  EXPECT_NE(compute_plan_id(wide), a.id);
  EXPECT_EQ(wide.effective_node_top_k(), 3);
  wide.node_top_k = 8;  // more than the node holds: the bundle routes to all its local experts
  EXPECT_EQ(wide.effective_node_top_k(), wide.experts_per_node);
  wide.id = compute_plan_id(wide);
  EXPECT_EQ(plan_from_json(plan_to_json(wide), "wide").node_top_k, 8);
  auto k = plan_to_json(wide);
  k["node_top_k"] = 9;
  EXPECT_THROW(plan_from_json(k, "too wide"), Error);
}
