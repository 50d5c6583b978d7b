// Tensor classification for every family: Hugging Face names as each family saves them (per-expert and fused
// layouts), the naming helpers, and an error for every kind of tensor that fits no class.
#include "model/tensor_class.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "format/safetensors.h"
#include "test_paths.h"

namespace banyan {
namespace {

ModelSpec load(const std::string& name) { return load_model_spec(test::fixtures_dir() / "configs" / name); }

void expect_unclassifiable(const ModelSpec& spec, const std::string& name, const std::string& why) {
  try {
    classify_tensor(spec, name);
    ADD_FAILURE() << name << " was classified";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("'" + name + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(why), std::string::npos) << msg;
  }
}

void expect_expert(const ModelSpec& spec, const std::string& name, int layer, int expert, ExpertProj proj) {
  SCOPED_TRACE(name);
  TensorClass c = classify_tensor(spec, name);
  EXPECT_EQ(c.role, TensorRole::RoutedExpert);
  EXPECT_EQ(c.layer, layer);
  EXPECT_EQ(c.expert, expert);
  EXPECT_EQ(c.proj, proj);
  EXPECT_FALSE(c.fused);
}

void expect_role(const ModelSpec& spec, const std::string& name, TensorRole role, int layer) {
  SCOPED_TRACE(name);
  TensorClass c = classify_tensor(spec, name);
  EXPECT_EQ(role_name(c.role), role_name(role));
  EXPECT_EQ(c.layer, layer);
}

TEST(TensorClass, Qwen3MoeNames) {
  ModelSpec s = load("qwen3-30b-a3b");
  expect_role(s, "model.embed_tokens.weight", TensorRole::Trunk, -1);
  expect_role(s, "model.norm.weight", TensorRole::Trunk, -1);
  expect_role(s, "lm_head.weight", TensorRole::Trunk, -1);
  for (const char* t : {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                        "self_attn.o_proj.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight",
                        "input_layernorm.weight", "post_attention_layernorm.weight"})
    expect_role(s, std::string("model.layers.7.") + t, TensorRole::Trunk, 7);
  expect_role(s, "model.layers.3.mlp.gate.weight", TensorRole::Router, 3);
  expect_expert(s, "model.layers.3.mlp.experts.127.gate_proj.weight", 3, 127, ExpertProj::Gate);
  expect_expert(s, "model.layers.3.mlp.experts.0.up_proj.weight", 3, 0, ExpertProj::Up);
  expect_expert(s, "model.layers.47.mlp.experts.5.down_proj.weight", 47, 5, ExpertProj::Down);
  EXPECT_EQ(router_weight_name(s, 3), "model.layers.3.mlp.gate.weight");
  EXPECT_EQ(expert_weight_name(s, 2, 9, ExpertProj::Up), "model.layers.2.mlp.experts.9.up_proj.weight");
}

TEST(TensorClass, Qwen2MoeSharedExpertAndBiases) {
  ModelSpec s = load("qwen1.5-moe-a2.7b");
  TensorClass qb = classify_tensor(s, "model.layers.0.self_attn.q_proj.bias");
  EXPECT_EQ(qb.role, TensorRole::Trunk);
  for (auto [proj, p] : {std::pair{"gate_proj", ExpertProj::Gate}, std::pair{"up_proj", ExpertProj::Up},
                         std::pair{"down_proj", ExpertProj::Down}}) {
    TensorClass c = classify_tensor(s, std::string("model.layers.4.mlp.shared_expert.") + proj + ".weight");
    EXPECT_EQ(c.role, TensorRole::SharedExpert);
    EXPECT_EQ(c.proj, p);
    EXPECT_EQ(c.layer, 4);
  }
  expect_role(s, "model.layers.4.mlp.shared_expert_gate.weight", TensorRole::SharedExpertGate, 4);
  expect_expert(s, "model.layers.23.mlp.experts.59.down_proj.weight", 23, 59, ExpertProj::Down);
  expect_unclassifiable(s, "model.layers.23.mlp.experts.60.down_proj.weight", "60 experts");
}

TEST(TensorClass, MixtralBlockSparseMoe) {
  ModelSpec s = load("mixtral-8x7b");
  expect_role(s, "model.layers.31.block_sparse_moe.gate.weight", TensorRole::Router, 31);
  expect_expert(s, "model.layers.1.block_sparse_moe.experts.7.w1.weight", 1, 7, ExpertProj::Gate);
  expect_expert(s, "model.layers.1.block_sparse_moe.experts.7.w3.weight", 1, 7, ExpertProj::Up);
  expect_expert(s, "model.layers.1.block_sparse_moe.experts.7.w2.weight", 1, 7, ExpertProj::Down);
  EXPECT_EQ(router_weight_name(s, 0), "model.layers.0.block_sparse_moe.gate.weight");
  EXPECT_EQ(expert_weight_name(s, 0, 1, ExpertProj::Gate), "model.layers.0.block_sparse_moe.experts.1.w1.weight");
  EXPECT_EQ(expert_weight_name(s, 0, 1, ExpertProj::Up), "model.layers.0.block_sparse_moe.experts.1.w3.weight");
  EXPECT_EQ(expert_weight_name(s, 0, 1, ExpertProj::Down), "model.layers.0.block_sparse_moe.experts.1.w2.weight");
  // transformers v5 names Mixtral's block "mlp" and fuses the experts.
  expect_role(s, "model.layers.2.mlp.gate.weight", TensorRole::Router, 2);
  TensorClass f = classify_tensor(s, "model.layers.2.mlp.experts.gate_up_proj");
  EXPECT_TRUE(f.fused);
  EXPECT_EQ(f.proj, ExpertProj::GateUp);
  EXPECT_EQ(f.expert, -1);
  // Qwen-style projection names are not Mixtral's.
  expect_unclassifiable(s, "model.layers.1.block_sparse_moe.experts.7.gate_proj.weight", "expert projection");
  // Mixtral has no dense layers.
  expect_unclassifiable(s, "model.layers.1.mlp.gate_proj.weight", "makes MoE");
}

TEST(TensorClass, OlmoeFullQkNorm) {
  ModelSpec s = load("olmoe-1b-7b");
  expect_role(s, "model.layers.0.self_attn.q_norm.weight", TensorRole::Trunk, 0);
  expect_role(s, "model.layers.0.mlp.gate.weight", TensorRole::Router, 0);
  expect_expert(s, "model.layers.15.mlp.experts.63.gate_proj.weight", 15, 63, ExpertProj::Gate);
}

TEST(TensorClass, DeepSeekDenseSharedBiasAndMtp) {
  ModelSpec v3 = load("deepseek-v3");
  expect_role(v3, "model.layers.0.mlp.gate_proj.weight", TensorRole::DenseMlp, 0);
  expect_role(v3, "model.layers.2.mlp.down_proj.weight", TensorRole::DenseMlp, 2);
  expect_unclassifiable(v3, "model.layers.0.mlp.gate.weight", "makes dense");
  expect_unclassifiable(v3, "model.layers.1.mlp.experts.0.up_proj.weight", "makes dense");
  expect_role(v3, "model.layers.3.mlp.gate.weight", TensorRole::Router, 3);
  expect_role(v3, "model.layers.3.mlp.gate.e_score_correction_bias", TensorRole::RouterBias, 3);
  expect_role(v3, "model.layers.3.mlp.shared_experts.gate_proj.weight", TensorRole::SharedExpert, 3);
  expect_unclassifiable(v3, "model.layers.3.mlp.gate_proj.weight", "makes MoE");
  for (const char* t : {"q_a_proj.weight", "q_a_layernorm.weight", "q_b_proj.weight", "kv_a_proj_with_mqa.weight",
                        "kv_a_layernorm.weight", "kv_b_proj.weight", "o_proj.weight"})
    expect_role(v3, std::string("model.layers.10.self_attn.") + t, TensorRole::Trunk, 10);
  // FP8 checkpoints carry a block scale beside each weight.
  TensorClass scale = classify_tensor(v3, "model.layers.3.mlp.experts.255.down_proj.weight_scale_inv");
  EXPECT_EQ(scale.role, TensorRole::RoutedExpert);
  EXPECT_TRUE(scale.is_scale);
  EXPECT_EQ(scale.expert, 255);
  // Layer 61 is the multi-token-prediction module (num_nextn_predict_layers = 1).
  expect_role(v3, "model.layers.61.mlp.experts.0.up_proj.weight", TensorRole::Unused, 61);
  expect_role(v3, "model.layers.61.eh_proj.weight", TensorRole::Unused, 61);
  expect_unclassifiable(v3, "model.layers.62.input_layernorm.weight", "61 layers");

  ModelSpec v2 = load("deepseek-v2-lite");
  expect_unclassifiable(v2, "model.layers.3.mlp.gate.e_score_correction_bias", "selection bias");
  expect_role(v2, "model.layers.1.mlp.shared_experts.down_proj.weight", TensorRole::SharedExpert, 1);
  expect_role(v2, "model.layers.1.self_attn.q_proj.weight", TensorRole::Trunk, 1);

  ModelSpec k2 = load("kimi-k2");
  expect_unclassifiable(k2, "model.layers.61.eh_proj.weight", "61 layers");
  EXPECT_EQ(router_weight_name(k2, 5), "model.layers.5.mlp.gate.weight");
}

TEST(TensorClass, FusedLayouts) {
  ModelSpec s = load("qwen3-30b-a3b");
  struct Case {
    const char* name;
    ExpertProj proj;
    bool is_bias, is_scale;
  };
  const Case cases[] = {
      {"model.layers.1.mlp.experts.gate_up_proj", ExpertProj::GateUp, false, false},  // transformers v5 / GPT-OSS
      {"model.layers.1.mlp.experts.down_proj", ExpertProj::Down, false, false},
      {"model.layers.1.mlp.experts.gate_up_proj_bias", ExpertProj::GateUp, true, false},  // GPT-OSS
      {"model.layers.1.mlp.experts.down_proj_bias", ExpertProj::Down, true, false},
      {"model.layers.1.mlp.experts.gate_up_proj_blocks", ExpertProj::GateUp, false, false},  // MXFP4
      {"model.layers.1.mlp.experts.gate_up_proj_scales", ExpertProj::GateUp, false, true},
      {"model.layers.1.mlp.input_linear.weight", ExpertProj::GateUp, false, false},  // GraniteMoE
      {"model.layers.1.mlp.output_linear.weight", ExpertProj::Down, false, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    TensorClass t = classify_tensor(s, c.name);
    EXPECT_EQ(t.role, TensorRole::RoutedExpert);
    EXPECT_TRUE(t.fused);
    EXPECT_EQ(t.expert, -1);
    EXPECT_EQ(t.layer, 1);
    EXPECT_EQ(t.proj, c.proj);
    EXPECT_EQ(t.is_bias, c.is_bias);
    EXPECT_EQ(t.is_scale, c.is_scale);
  }
  // GraniteMoE / GPT-OSS routers.
  expect_role(s, "model.layers.1.mlp.router.layer.weight", TensorRole::Router, 1);
  TensorClass rb = classify_tensor(s, "model.layers.1.mlp.router.bias");
  EXPECT_EQ(rb.role, TensorRole::Router);
  EXPECT_TRUE(rb.is_bias);

  ModelSpec mix = load("mixtral-8x7b");
  TensorClass g = classify_tensor(mix, "model.layers.0.block_sparse_moe.input_linear.weight");
  EXPECT_TRUE(g.fused);
  EXPECT_EQ(g.proj, ExpertProj::GateUp);
}

TEST(TensorClass, UnclassifiableTensorsAreErrorsNamingThem) {
  ModelSpec s = load("qwen3-30b-a3b");
  expect_unclassifiable(s, "model.rotary_emb.inv_freq", "not a known");
  expect_unclassifiable(s, "model.layers.x.mlp.gate.weight", "no layer index");
  expect_unclassifiable(s, "model.layers.01.mlp.gate.weight", "no layer index");
  expect_unclassifiable(s, "model.layers.48.mlp.gate.weight", "48 layers");
  expect_unclassifiable(s, "model.layers.0.mlp.experts.128.up_proj.weight", "128 experts");
  expect_unclassifiable(s, "model.layers.0.mlp.experts.1.w1.weight", "expert projection");
  expect_unclassifiable(s, "model.layers.0.mlp.experts.1.up_proj.qweight", "expert projection");
  expect_unclassifiable(s, "model.layers.0.mlp.experts.gate_up_proj_extra", "unknown expert tensor");
  expect_unclassifiable(s, "model.layers.0.mlp.shared_expert.up_proj.weight", "has none");
  expect_unclassifiable(s, "model.layers.0.mlp.shared_expert_gate.weight", "has none");
  expect_unclassifiable(s, "model.layers.0.mlp.gate.e_score_correction_bias", "selection bias");
  expect_unclassifiable(s, "model.layers.0.mystery.weight", "unknown tensor");
  expect_unclassifiable(s, "model.layers.0.mlp.gate_proj.weight", "makes MoE");
  EXPECT_THROW(expert_weight_name(s, 0, 0, ExpertProj::GateUp), Error);

  ModelSpec v5 = load("qwen3-moe-v5");  // layer 3 is in mlp_only_layers, layer 0 is dense by sparse step
  expect_role(v5, "model.layers.3.mlp.gate_proj.weight", TensorRole::DenseMlp, 3);
  expect_role(v5, "model.layers.0.mlp.up_proj.weight", TensorRole::DenseMlp, 0);
  expect_unclassifiable(v5, "model.layers.3.mlp.experts.0.up_proj.weight", "makes dense");
}

// The naming helpers and the classifier agree for every family.
TEST(TensorClass, NamingRoundTripsThroughClassification) {
  for (const char* cfg : {"qwen3-30b-a3b", "qwen1.5-moe-a2.7b", "mixtral-8x7b", "olmoe-1b-7b", "deepseek-v2-lite",
                          "deepseek-v3", "kimi-k2"}) {
    SCOPED_TRACE(cfg);
    ModelSpec s = load(cfg);
    for (int layer : {s.moe_layers().front(), s.moe_layers().back()}) {
      expect_role(s, router_weight_name(s, layer), TensorRole::Router, layer);
      for (int e : {0, int(s.num_experts) - 1})
        for (ExpertProj p : {ExpertProj::Gate, ExpertProj::Up, ExpertProj::Down})
          expect_expert(s, expert_weight_name(s, layer, e, p), layer, e, p);
    }
  }
}

TEST(TensorClass, SharedTinyQwen3MoeEveryTensor) {
  BANYAN_REQUIRE_SHARED(shared);
  auto dir = shared / "models" / "tiny-qwen3moe";
  ModelSpec s = load_model_spec(dir);
  Checkpoint ck(dir);
  std::map<std::string_view, int> counts;
  std::set<std::tuple<int, int, int>> experts;
  for (const auto& name : ck.tensor_names()) {
    TensorClass c = classify_tensor(s, name);
    counts[role_name(c.role)]++;
    if (c.role == TensorRole::RoutedExpert) experts.insert({c.layer, c.expert, int(c.proj)});
  }
  // 8 layers x 128 experts x 3 projections, one router per layer, the rest trunk.
  EXPECT_EQ(counts["routed_expert"], 8 * 128 * 3);
  EXPECT_EQ(experts.size(), size_t(8 * 128 * 3));
  EXPECT_EQ(counts["router"], 8);
  EXPECT_EQ(counts["trunk"], int(ck.num_tensors()) - 8 * 128 * 3 - 8);
  EXPECT_EQ(counts.size(), 3u);
}

}  // namespace
}  // namespace banyan
