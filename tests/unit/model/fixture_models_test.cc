// The tiny checkpoints transformers 5.x saved for each family (tests/fixtures/models/, see its README): every
// tensor classifies, MoE layers and expert counts agree with the tensors transformers wrote (listed in
// layouts.json), and the fused-layout copy of qwen3_moe summarises exactly like the per-expert one.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

#include "model/model_summary.h"
#include "test_paths.h"

namespace banyan {
namespace {

nlohmann::json layouts() {
  std::ifstream in(test::fixtures_dir() / "models" / "layouts.json");
  return nlohmann::json::parse(in);
}

TEST(FixtureModels, EveryFamilyClassifiesAndMatchesItsSavedTensors) {
  nlohmann::json all = layouts();
  ASSERT_GE(all.at("families").size(), 5u);
  const std::regex expert_re(R"(^model\.layers\.(\d+)\.(mlp|block_sparse_moe)\.experts\.(\d+)\.)");
  for (const auto& [family, info] : all.at("families").items()) {
    SCOPED_TRACE(family);
    auto dir = test::fixtures_dir() / "models" / family;
    ModelSpec spec = load_model_spec(dir);
    EXPECT_EQ(family_name(spec.family), family);
    Checkpoint ck(dir);
    ModelSummary s = summarize_model(spec, ck);  // throws on any unclassifiable tensor or missing expert
    EXPECT_EQ(s.num_tensors, info.at("num_tensors").get<int64_t>());

    std::set<int> layers_with_experts, expert_ids;
    uint64_t params_total = 0;
    for (const auto& [name, shape] : info.at("all_tensors").items()) {
      EXPECT_EQ(ck.info(name).shape, shape.get<Shape>()) << name;
      params_total += uint64_t(shape_numel(shape.get<Shape>()));
      std::smatch m;
      if (std::regex_search(name, m, expert_re)) {
        layers_with_experts.insert(std::stoi(m[1]));
        expert_ids.insert(std::stoi(m[3]));
      }
    }
    EXPECT_EQ(std::vector<int>(layers_with_experts.begin(), layers_with_experts.end()), spec.moe_layers());
    EXPECT_EQ(int64_t(expert_ids.size()), spec.num_experts);
    EXPECT_EQ(s.params_total, params_total);
    EXPECT_EQ(s.bytes_total, s.bytes_trunk + s.bytes_routed_experts + s.bytes_unused);
  }
}

TEST(FixtureModels, FusedLayoutSummarisesLikePerExpert) {
  auto base = test::fixtures_dir() / "models";
  ModelSpec spec = load_model_spec(base / "qwen3_moe");
  ModelSummary per_expert = summarize_model(spec, Checkpoint(base / "qwen3_moe"));
  ModelSpec fused_spec = load_model_spec(base / "qwen3_moe-fused");
  Checkpoint fused_ck(base / "qwen3_moe-fused");
  ModelSummary fused = summarize_model(fused_spec, fused_ck);
  int fused_tensors = 0;
  for (const auto& name : fused_ck.tensor_names()) fused_tensors += classify_tensor(fused_spec, name).fused;
  EXPECT_EQ(fused_tensors, 2 * int(spec.num_moe_layers()));  // gate_up_proj and down_proj per MoE layer
  EXPECT_LT(fused.num_tensors, per_expert.num_tensors);
  EXPECT_EQ(fused.bytes_total, per_expert.bytes_total);
  EXPECT_EQ(fused.bytes_trunk, per_expert.bytes_trunk);
  EXPECT_EQ(fused.bytes_routed_experts, per_expert.bytes_routed_experts);
  EXPECT_EQ(fused.bytes_per_expert, per_expert.bytes_per_expert);
  EXPECT_EQ(fused.active_params_per_token, per_expert.active_params_per_token);
  for (size_t i = 0; i < fused.node_splits.size(); ++i)
    EXPECT_EQ(fused.node_splits[i].bytes_per_node, per_expert.node_splits[i].bytes_per_node);
}

TEST(FixtureModels, TransformersV5ConfigFields) {
  auto base = test::fixtures_dir() / "models";
  ModelSpec q3 = load_model_spec(base / "qwen3_moe");  // v5 writes num_local_experts for qwen3_moe
  EXPECT_EQ(q3.num_experts, 8);
  EXPECT_EQ(q3.torch_dtype, "float32");
  EXPECT_EQ(q3.rope.type, "default");
  ModelSpec ds = load_model_spec(base / "deepseek_v3");
  EXPECT_EQ(ds.scoring, RouterScoring::Sigmoid);
  EXPECT_TRUE(ds.has_selection_bias);
  EXPECT_TRUE(ds.rope.interleave);
  EXPECT_EQ(ds.head_dim, ds.raw.at("qk_head_dim").get<int64_t>());
  ModelSpec q2 = load_model_spec(base / "qwen2_moe");
  EXPECT_TRUE(q2.attention_bias);
  EXPECT_TRUE(q2.shared_expert_gate);
}

}  // namespace
}  // namespace banyan
