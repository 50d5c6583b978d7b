// A plan may widen the nodes' top-k (plan.node_top_k, what `plan --scheme auto` records). Then the packed bundle
// must route each token to that many of its experts: its config.json says so, and its logits equal the full model
// restricted to the node's experts AT THAT k — the run `eval quality` scores for the plan by default.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "../pack/bundle_logits_check.h"
#include "test_paths.h"

using namespace banyan;
using namespace banyan::test;
namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// Packs `plan`, then checks every node: config and manifest carry min(node_top_k, local); bundle logits equal the
// restricted full model at that k within `tol`, and differ from the restricted model at the model's own k.
void expect_wide_bundles(const fs::path& dir, const Plan& plan, const std::vector<int32_t>& tokens, float tol) {
  const int64_t k = plan.effective_node_top_k();
  const int64_t model_k = load_model_spec(dir).top_k;
  ASSERT_GT(k, model_k);
  auto manifests_say_k = [&](const PlanNode&, const fs::path& bundle) {
    EXPECT_EQ(read_json(bundle / "config.json")["num_experts_per_tok"], k);
    EXPECT_EQ(read_json(bundle / "banyan-node.json")["num_experts_per_tok"], k);
    EXPECT_EQ(read_json(bundle / "banyan-node.json")["top_k"], model_k);
    EXPECT_EQ(load_model_spec(bundle).top_k, k);
  };
  expect_nodes_match_restricted(dir, plan, {tokens}, tol, int(plan.node_top_k), manifests_say_k);
}

}  // namespace

TEST(BundleTopK, FixtureBundlesRouteToThePlansWiderTopK) {
  const std::vector<int32_t> tokens = {1, 5, 9, 14, 3, 27, 8, 2, 11, 40, 6, 19};
  for (const char* fam : {"qwen3_moe", "qwen2_moe", "mixtral", "olmoe"}) {
    const fs::path dir = fixtures_dir() / "models" / fam;
    PlanOptions o;
    o.nodes = 2;  // contiguous halves: 4 of 8 experts
    PlanModel m = plan_model_of(dir);
    o.node_top_k = std::min<int64_t>(m.top_k + 1, 4);
    if (o.node_top_k <= m.top_k) continue;  // qwen2_moe routes to 4 already: a half cannot widen it
    expect_wide_bundles(dir, make_plan(m, o, nullptr), tokens, 1e-5f);
  }
}

// The shared model at the `auto` rule's k (8 -> 12) on 64 of 128 experts.
TEST(BundleTopK, TinyQwen3MoeHalfAtTopTwelve) {
  BANYAN_REQUIRE_SHARED(shared);
  const fs::path dir = shared / "models" / "tiny-qwen3moe";
  PlanModel m = plan_model_of(dir);
  PlanOptions o;
  o.nodes = 2;
  o.node_top_k = auto_node_top_k(m.top_k, m.num_experts / 2, m.num_experts);
  ASSERT_EQ(o.node_top_k, 12);
  std::vector<int32_t> tokens;
  for (int i = 0; i < 24; ++i) tokens.push_back(int32_t((i * 977 + 31) % 8000));
  expect_wide_bundles(dir, make_plan(m, o, nullptr), tokens, 1e-4f);
}
