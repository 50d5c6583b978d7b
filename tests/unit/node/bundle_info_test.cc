// Probe mass by hand, and bundle manifest reading (a plain model directory is "all experts local").
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "node/bundle_info.h"
#include "test_paths.h"

namespace banyan::node {
namespace {

TEST(ProbeMass, SumsLocalExpertsAmongTheGlobalTopK) {
  const std::vector<float> probs = {0.05f, 0.40f, 0.10f, 0.30f, 0.15f};  // top-2: experts 1 (0.40) and 3 (0.30)
  const std::vector<uint8_t> only1 = {0, 1, 0, 0, 0};
  const std::vector<uint8_t> only3 = {0, 0, 0, 1, 0};
  const std::vector<uint8_t> not_top = {1, 0, 1, 0, 1};
  EXPECT_NEAR(captured_topk_mass(probs, 2, only1), 0.40, 1e-6);
  EXPECT_NEAR(captured_topk_mass(probs, 2, only3), 0.30, 1e-6);
  EXPECT_NEAR(captured_topk_mass(probs, 2, not_top), 0.0, 1e-6);  // local experts outside the top-k do not count
  EXPECT_NEAR(captured_topk_mass(probs, 2, {}), 0.70, 1e-6);      // everything local
  EXPECT_NEAR(captured_topk_mass(probs, 3, {}), 0.85, 1e-6);
  // Ties go to the lower id, as in the router.
  const std::vector<float> tied = {0.25f, 0.25f, 0.25f, 0.25f};
  const std::vector<uint8_t> high = {0, 0, 1, 1};
  EXPECT_NEAR(captured_topk_mass(tied, 2, high), 0.0, 1e-6);
}

TEST(BundleInfo, PlainModelHasEveryExpertLocal) {
  const auto dir = test::fixtures_dir() / "models" / "qwen3_moe";
  const ModelSpec spec = load_model_spec(dir);
  const BundleInfo info = load_bundle_info(dir, spec);
  EXPECT_FALSE(info.is_bundle);
  EXPECT_EQ(info.global_experts, spec.num_experts);
  const auto mask = info.local_mask(0);
  ASSERT_EQ(int64_t(mask.size()), spec.num_experts);
  for (auto m : mask) EXPECT_EQ(m, 1);
}

TEST(BundleInfo, ReadsManifestAndRejectsBadIds) {
  const auto src = test::fixtures_dir() / "models" / "qwen3_moe";
  const ModelSpec spec = load_model_spec(src);
  const auto dir = test::make_temp_dir("bundle_info");
  nlohmann::json manifest = {{"format", "banyan-node/1"}, {"plan", "p1"}, {"node", {{"index", 1}, {"name", "node-1"}}},
                             {"num_experts", 8}, {"top_k", 2}, {"local_experts", 4}};
  std::vector<std::vector<int32_t>> l2g(size_t(spec.num_moe_layers()), std::vector<int32_t>{0, 2, 4, 6});
  manifest["local_to_global"] = l2g;
  std::ofstream(dir / "banyan-node.json") << manifest.dump();
  const BundleInfo info = load_bundle_info(dir, spec);
  EXPECT_TRUE(info.is_bundle);
  EXPECT_EQ(info.plan_id, "p1");
  EXPECT_EQ(info.node_name, "node-1");
  EXPECT_EQ(info.local_mask(0), (std::vector<uint8_t>{1, 0, 1, 0, 1, 0, 1, 0}));
  EXPECT_FALSE(info.has_router_full);
  l2g[0][1] = 8;
  manifest["local_to_global"] = l2g;
  std::ofstream(dir / "banyan-node.json") << manifest.dump();
  EXPECT_THROW(load_bundle_info(dir, spec), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace banyan::node
