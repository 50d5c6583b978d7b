// ModelSpec parsing of hand-written configs shaped like the public ones (tests/fixtures/configs/), with expected
// values read off those configs and the transformers rules for each family.
#include "model/model_spec.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "test_paths.h"

namespace banyan {
namespace {

ModelSpec load(const std::string& name) { return load_model_spec(test::fixtures_dir() / "configs" / name); }

std::vector<int> range(int begin, int end) {
  std::vector<int> v;
  for (int i = begin; i < end; ++i) v.push_back(i);
  return v;
}

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected banyan::Error";
  return "";
}

TEST(ModelSpec, Qwen3_30B_A3B) {
  ModelSpec s = load("qwen3-30b-a3b");
  EXPECT_EQ(s.family, Family::Qwen3Moe);
  EXPECT_EQ(s.torch_dtype, "bfloat16");
  EXPECT_EQ(s.vocab_size, 151936);
  EXPECT_EQ(s.hidden_size, 2048);
  EXPECT_EQ(s.num_layers, 48);
  EXPECT_EQ(s.num_heads, 32);
  EXPECT_EQ(s.num_kv_heads, 4);
  EXPECT_EQ(s.head_dim, 128);  // explicit, not hidden/heads (= 64)
  EXPECT_EQ(s.num_experts, 128);
  EXPECT_EQ(s.top_k, 8);
  EXPECT_EQ(s.moe_intermediate_size, 768);
  EXPECT_TRUE(s.norm_topk_prob);
  EXPECT_EQ(s.scoring, RouterScoring::Softmax);
  EXPECT_EQ(s.qk_norm, QkNorm::PerHead);
  EXPECT_FALSE(s.attention_bias);
  EXPECT_EQ(s.num_shared_experts, 0);
  EXPECT_EQ(s.moe_layers(), range(0, 48));
  EXPECT_DOUBLE_EQ(s.rope.theta, 1e6);
  EXPECT_EQ(s.rope.type, "default");
  EXPECT_DOUBLE_EQ(s.rms_norm_eps, 1e-6);
  // eos from config.json, then generation_config.json's extra id.
  EXPECT_EQ(s.eos_token_ids, (std::vector<int64_t>{151645, 151643}));
  EXPECT_EQ(s.bos_token_id, 151643);
  EXPECT_EQ(s.pad_token_id, 151643);
  EXPECT_TRUE(family_has_engine(s.family));
  EXPECT_EQ(s.raw.at("max_window_layers"), 48);
}

TEST(ModelSpec, Qwen15_MoE_A27B_SharedExpertAndBias) {
  ModelSpec s = load("qwen1.5-moe-a2.7b");
  EXPECT_EQ(s.family, Family::Qwen2Moe);
  EXPECT_EQ(s.num_experts, 60);
  EXPECT_EQ(s.top_k, 4);
  EXPECT_EQ(s.moe_intermediate_size, 1408);
  EXPECT_EQ(s.num_shared_experts, 1);
  EXPECT_EQ(s.shared_expert_intermediate_size, 5632);
  EXPECT_TRUE(s.shared_expert_gate);
  EXPECT_TRUE(s.attention_bias);
  EXPECT_FALSE(s.norm_topk_prob);
  EXPECT_EQ(s.qk_norm, QkNorm::None);
  EXPECT_EQ(s.head_dim, 128);  // 2048 / 16
  EXPECT_EQ(s.num_moe_layers(), 24);
  EXPECT_EQ(s.eos_token_ids, (std::vector<int64_t>{151643}));
}

TEST(ModelSpec, Mixtral_8x7B) {
  ModelSpec s = load("mixtral-8x7b");
  EXPECT_EQ(s.family, Family::Mixtral);
  EXPECT_EQ(s.num_experts, 8);
  EXPECT_EQ(s.top_k, 2);
  EXPECT_EQ(s.moe_intermediate_size, 14336);
  EXPECT_TRUE(s.norm_topk_prob);  // softmax over the top-k logits
  EXPECT_EQ(s.head_dim, 128);
  EXPECT_EQ(s.num_kv_heads, 8);
  EXPECT_EQ(s.num_moe_layers(), 32);
  EXPECT_DOUBLE_EQ(s.rms_norm_eps, 1e-5);
  EXPECT_EQ(s.bos_token_id, 1);
  EXPECT_EQ(s.eos_token_ids, (std::vector<int64_t>{2}));
}

TEST(ModelSpec, OLMoE_1B_7B) {
  ModelSpec s = load("olmoe-1b-7b");
  EXPECT_EQ(s.family, Family::Olmoe);
  EXPECT_EQ(s.num_experts, 64);
  EXPECT_EQ(s.top_k, 8);
  EXPECT_EQ(s.moe_intermediate_size, 1024);
  EXPECT_FALSE(s.norm_topk_prob);
  EXPECT_EQ(s.qk_norm, QkNorm::Full);
  EXPECT_FALSE(s.clip_qkv.has_value());
  EXPECT_FALSE(s.bos_token_id.has_value());
  EXPECT_EQ(s.pad_token_id, 1);
  EXPECT_EQ(s.eos_token_ids, (std::vector<int64_t>{50279}));
  EXPECT_EQ(s.num_moe_layers(), 16);

  nlohmann::json cfg = s.raw;
  cfg["clip_qkv"] = 8.0;
  cfg.erase("norm_topk_prob");  // OLMoE's default is false
  ModelSpec clipped = parse_model_spec(cfg, "olmoe-clip");
  ASSERT_TRUE(clipped.clip_qkv.has_value());
  EXPECT_DOUBLE_EQ(*clipped.clip_qkv, 8.0);
  EXPECT_FALSE(clipped.norm_topk_prob);
}

TEST(ModelSpec, DeepSeekV2Lite) {
  ModelSpec s = load("deepseek-v2-lite");
  EXPECT_EQ(s.family, Family::DeepseekV2);
  EXPECT_FALSE(family_has_engine(s.family));
  EXPECT_EQ(s.num_layers, 27);
  EXPECT_EQ(s.moe_layers(), range(1, 27));  // first_k_dense_replace = 1
  EXPECT_FALSE(s.is_moe_layer(0));
  EXPECT_EQ(s.num_experts, 64);
  EXPECT_EQ(s.top_k, 6);
  EXPECT_EQ(s.num_shared_experts, 2);
  EXPECT_EQ(s.shared_expert_intermediate_size, 2 * 1408);
  EXPECT_EQ(s.intermediate_size, 10944);
  EXPECT_EQ(s.scoring, RouterScoring::Softmax);
  EXPECT_FALSE(s.has_selection_bias);
  EXPECT_EQ(s.topk_method, "greedy");
  EXPECT_EQ(s.q_lora_rank, 0);  // null: no q compression
  EXPECT_EQ(s.kv_lora_rank, 512);
  EXPECT_EQ(s.qk_nope_head_dim, 128);
  EXPECT_EQ(s.qk_rope_head_dim, 64);
  EXPECT_EQ(s.v_head_dim, 128);
  EXPECT_EQ(s.head_dim, 192);
  EXPECT_TRUE(s.uses_mla());
  EXPECT_EQ(s.rope.type, "yarn");
  EXPECT_DOUBLE_EQ(s.rope.factor, 40);
  EXPECT_DOUBLE_EQ(s.rope.mscale, 0.707);
  EXPECT_DOUBLE_EQ(s.rope.mscale_all_dim, 0.707);
  EXPECT_EQ(s.rope.original_max_position, 4096);
  EXPECT_DOUBLE_EQ(s.rope.theta, 10000);
}

TEST(ModelSpec, DeepSeekV3) {
  ModelSpec s = load("deepseek-v3");
  EXPECT_EQ(s.family, Family::DeepseekV3);
  EXPECT_EQ(s.num_moe_layers(), 58);  // 61 layers, first 3 dense
  EXPECT_EQ(s.moe_layers().front(), 3);
  EXPECT_EQ(s.num_experts, 256);
  EXPECT_EQ(s.scoring, RouterScoring::Sigmoid);
  EXPECT_TRUE(s.has_selection_bias);
  EXPECT_EQ(s.n_group, 8);
  EXPECT_EQ(s.topk_group, 4);
  EXPECT_DOUBLE_EQ(s.routed_scaling_factor, 2.5);
  EXPECT_TRUE(s.norm_topk_prob);
  EXPECT_EQ(s.q_lora_rank, 1536);
  EXPECT_EQ(s.num_nextn_predict_layers, 1);
  EXPECT_EQ(s.num_shared_experts, 1);
  EXPECT_EQ(s.shared_expert_intermediate_size, 2048);
}

TEST(ModelSpec, KimiK2IsDeepSeekV3Shaped) {
  ModelSpec s = load("kimi-k2");
  EXPECT_EQ(s.family, Family::KimiK2);
  EXPECT_EQ(s.model_type, "kimi_k2");
  EXPECT_EQ(family_name(s.family), "kimi_k2");
  EXPECT_EQ(s.num_experts, 384);
  EXPECT_EQ(s.num_moe_layers(), 60);
  EXPECT_EQ(s.scoring, RouterScoring::Sigmoid);
  EXPECT_TRUE(s.has_selection_bias);
  EXPECT_EQ(s.n_group, 1);
  EXPECT_DOUBLE_EQ(s.routed_scaling_factor, 2.827);
  EXPECT_DOUBLE_EQ(s.rope.theta, 50000);
  EXPECT_DOUBLE_EQ(s.rope.factor, 32);
  EXPECT_DOUBLE_EQ(s.rope.beta_fast, 1.0);
  EXPECT_EQ(s.eos_token_ids, (std::vector<int64_t>{163585}));
}

TEST(ModelSpec, TransformersV5Config) {
  ModelSpec s = load("qwen3-moe-v5");
  EXPECT_EQ(s.torch_dtype, "bfloat16");  // from "dtype"
  EXPECT_EQ(s.head_dim, 32);             // null → 256 / 8
  EXPECT_EQ(s.rope.type, "yarn");
  EXPECT_DOUBLE_EQ(s.rope.theta, 1e6);
  EXPECT_DOUBLE_EQ(s.rope.factor, 4.0);
  EXPECT_EQ(s.rope.original_max_position, 8192);
  // decoder_sparse_step 2: layers 1, 3, 5 sparse; mlp_only_layers removes 3.
  EXPECT_EQ(s.moe_layers(), (std::vector<int>{1, 5}));
  EXPECT_EQ(s.eos_token_ids, (std::vector<int64_t>{2, 3}));
  EXPECT_FALSE(s.bos_token_id.has_value());
  EXPECT_TRUE(s.tie_word_embeddings);
}

TEST(ModelSpec, RopeVariants) {
  nlohmann::json base = load("qwen3-30b-a3b").raw;
  {
    auto cfg = base;
    cfg["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}};
    auto s = parse_model_spec(cfg, "legacy-yarn");
    EXPECT_EQ(s.rope.type, "yarn");
    EXPECT_DOUBLE_EQ(s.rope.factor, 4.0);
    EXPECT_EQ(s.rope.original_max_position, 32768);
    EXPECT_DOUBLE_EQ(s.rope.theta, 1e6);
  }
  {
    auto cfg = base;
    cfg.erase("rope_theta");
    cfg["rope_parameters"] = {{"full_attention", {{"rope_type", "linear"}, {"rope_theta", 5e5}, {"factor", 2.0}}}};
    auto s = parse_model_spec(cfg, "v5-per-type");
    EXPECT_EQ(s.rope.type, "linear");
    EXPECT_DOUBLE_EQ(s.rope.theta, 5e5);
    EXPECT_DOUBLE_EQ(s.rope.factor, 2.0);
  }
  {
    auto cfg = base;
    cfg["rope_scaling"] = {{"type", "yarn"}, {"factor", 8.0}};
    auto s = parse_model_spec(cfg, "yarn-no-original");
    EXPECT_EQ(s.rope.original_max_position, 40960);  // falls back to max_position_embeddings
  }
  {
    auto cfg = base;
    cfg["rope_scaling"] = {{"type", "wavy"}};
    auto msg = error_of([&] { parse_model_spec(cfg, "bad-rope"); });
    EXPECT_NE(msg.find("bad-rope"), std::string::npos);
    EXPECT_NE(msg.find("\"wavy\""), std::string::npos);
  }
}

TEST(ModelSpec, UnknownModelTypeListsSupported) {
  nlohmann::json cfg = load("qwen3-30b-a3b").raw;
  cfg["model_type"] = "llama";
  auto msg = error_of([&] { parse_model_spec(cfg, "cfg.json"); });
  EXPECT_NE(msg.find("cfg.json"), std::string::npos);
  EXPECT_NE(msg.find("\"llama\""), std::string::npos);
  for (const auto& t : supported_model_types()) EXPECT_NE(msg.find(t), std::string::npos) << t;
  EXPECT_EQ(supported_model_types().size(), 7u);
}

TEST(ModelSpec, FieldErrorsNameTheField) {
  nlohmann::json base = load("qwen3-30b-a3b").raw;
  {
    auto cfg = base;
    cfg.erase("num_experts");
    auto msg = error_of([&] { parse_model_spec(cfg, "c.json"); });
    EXPECT_NE(msg.find("\"num_experts\""), std::string::npos) << msg;
  }
  {
    auto cfg = base;
    cfg["hidden_size"] = "big";
    auto msg = error_of([&] { parse_model_spec(cfg, "c.json"); });
    EXPECT_NE(msg.find("\"hidden_size\""), std::string::npos) << msg;
  }
  {
    auto cfg = base;
    cfg["num_experts_per_tok"] = 129;
    auto msg = error_of([&] { parse_model_spec(cfg, "c.json"); });
    EXPECT_NE(msg.find("num_experts_per_tok"), std::string::npos) << msg;
  }
  {
    auto cfg = base;
    cfg["mlp_only_layers"] = {48};
    auto msg = error_of([&] { parse_model_spec(cfg, "c.json"); });
    EXPECT_NE(msg.find("mlp_only_layers"), std::string::npos) << msg;
  }
  {
    auto cfg = base;
    cfg.erase("model_type");
    auto msg = error_of([&] { parse_model_spec(cfg, "c.json"); });
    EXPECT_NE(msg.find("model_type"), std::string::npos) << msg;
  }
  auto msg = error_of([&] { load_model_spec("/nonexistent-banyan-model"); });
  EXPECT_NE(msg.find("/nonexistent-banyan-model/config.json"), std::string::npos) << msg;
}

TEST(ModelSpec, SharedTinyQwen3Moe) {
  BANYAN_REQUIRE_SHARED(shared);
  ModelSpec s = load_model_spec(shared / "models" / "tiny-qwen3moe");
  EXPECT_EQ(s.family, Family::Qwen3Moe);
  EXPECT_EQ(s.num_layers, 8);
  EXPECT_EQ(s.num_experts, 128);
  EXPECT_EQ(s.top_k, 8);
  EXPECT_EQ(s.num_moe_layers(), 8);
  EXPECT_EQ(s.eos_token_ids, (std::vector<int64_t>{2}));
}

}  // namespace
}  // namespace banyan
