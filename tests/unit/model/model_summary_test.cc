// `inspect`'s numbers: a hand-built Qwen2-MoE checkpoint with hand-computed sizes, the shared tiny model against
// sizes this test computes from tensor shapes, and the real CLI's --json.
#include "model/model_summary.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "test_paths.h"

namespace banyan {
namespace {

namespace fs = std::filesystem;

class SyntheticQwen2Moe : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("banyan-summary");
    std::ofstream(dir_ / "config.json") << R"({
      "model_type": "qwen2_moe", "vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 2,
      "num_attention_heads": 2, "num_key_value_heads": 2, "num_experts": 4, "num_experts_per_tok": 2,
      "moe_intermediate_size": 4, "shared_expert_intermediate_size": 8, "intermediate_size": 8,
      "torch_dtype": "bfloat16", "eos_token_id": 1})";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Tensors of the model; `skip` leaves one out, `extra` adds one.
  void write_checkpoint(const std::string& skip = "", const std::string& extra = "") {
    std::vector<TensorSpec> specs = {{"model.embed_tokens.weight", DType::BF16, {16, 8}},
                                     {"lm_head.weight", DType::BF16, {16, 8}},
                                     {"model.norm.weight", DType::F32, {8}}};
    for (int l = 0; l < 2; ++l) {
      auto p = "model.layers." + std::to_string(l) + ".";
      specs.push_back({p + "input_layernorm.weight", DType::F32, {8}});
      specs.push_back({p + "post_attention_layernorm.weight", DType::F32, {8}});
      for (const char* x : {"q", "k", "v"}) {
        specs.push_back({p + "self_attn." + x + "_proj.weight", DType::BF16, {8, 8}});
        specs.push_back({p + "self_attn." + x + "_proj.bias", DType::BF16, {8}});
      }
      specs.push_back({p + "self_attn.o_proj.weight", DType::BF16, {8, 8}});
      specs.push_back({p + "mlp.gate.weight", DType::BF16, {4, 8}});
      specs.push_back({p + "mlp.shared_expert.gate_proj.weight", DType::BF16, {8, 8}});
      specs.push_back({p + "mlp.shared_expert.up_proj.weight", DType::BF16, {8, 8}});
      specs.push_back({p + "mlp.shared_expert.down_proj.weight", DType::BF16, {8, 8}});
      specs.push_back({p + "mlp.shared_expert_gate.weight", DType::BF16, {1, 8}});
      for (int e = 0; e < 4; ++e) {
        auto q = p + "mlp.experts." + std::to_string(e) + ".";
        specs.push_back({q + "gate_proj.weight", DType::BF16, {4, 8}});
        specs.push_back({q + "up_proj.weight", DType::BF16, {4, 8}});
        specs.push_back({q + "down_proj.weight", DType::BF16, {8, 4}});
      }
    }
    std::erase_if(specs, [&](const TensorSpec& s) { return s.name == skip; });
    if (!extra.empty()) specs.push_back({extra, DType::BF16, {2}});
    SafetensorsWriter w(dir_ / "model.safetensors", specs);
    for (const auto& s : specs) {
      std::vector<uint8_t> zeros(dtype_size(s.dtype) * size_t(shape_numel(s.shape)));
      w.write(s.name, zeros.data(), zeros.size());
    }
    w.finish();
  }

  ModelSummary summarize() {
    ModelSpec spec = load_model_spec(dir_);
    Checkpoint ck(dir_);
    return summarize_model(spec, ck);
  }

  fs::path dir_;
};

TEST_F(SyntheticQwen2Moe, HandComputedSizes) {
  write_checkpoint();
  ModelSummary s = summarize();
  EXPECT_EQ(s.family, "qwen2_moe");
  EXPECT_EQ(s.num_layers, 2);
  EXPECT_EQ(s.num_moe_layers, 2);
  EXPECT_EQ(s.num_experts, 4);
  EXPECT_EQ(s.top_k, 2);
  EXPECT_EQ(s.num_tensors, 3 + 2 * (2 + 7 + 1 + 4 + 12));
  // Per layer: norms 2x32, attention 4x128 + 3x16, router 64, shared expert 3x128 + gate 16 = 1088 bytes of trunk;
  // experts 4 x (3 x 64) = 768 bytes. Outside layers: 256 + 256 + 32.
  EXPECT_EQ(s.bytes_trunk, 544u + 2 * 1088u);
  EXPECT_EQ(s.bytes_routed_experts, 2 * 768u);
  EXPECT_EQ(s.bytes_total, 2720u + 1536u);
  EXPECT_EQ(s.bytes_per_expert, 192u);
  EXPECT_EQ(s.bytes_by_dtype.at("F32"), 32u + 2 * 64u);
  EXPECT_EQ(s.bytes_by_role.at("shared_expert"), 2 * 384u);
  EXPECT_EQ(s.bytes_by_role.at("shared_expert_gate"), 2 * 16u);
  EXPECT_EQ(s.bytes_by_role.at("router"), 2 * 64u);
  // Parameters: trunk 264 + 2 x 528; routed 2 x 384; a token runs 2 of 4 experts in both layers.
  EXPECT_EQ(s.params_trunk, 1320u);
  EXPECT_EQ(s.params_routed_experts, 768u);
  EXPECT_EQ(s.active_params_per_token, 1320u + 2 * 192u);
  // Bytes per node: trunk + ceil(4 / n) experts of each layer.
  const uint64_t expected[] = {4256, 3488, 3488, 3104, 3104, 3104, 3104, 3104};
  ASSERT_EQ(s.node_splits.size(), 8u);
  for (int n = 1; n <= 8; ++n) {
    EXPECT_EQ(s.node_splits[size_t(n - 1)].nodes, n);
    EXPECT_EQ(s.node_splits[size_t(n - 1)].bytes_per_node, expected[n - 1]) << n << " nodes";
  }
  EXPECT_EQ(s.node_splits[2].experts_per_node, 2);

  nlohmann::json j = summary_to_json(s);
  for (const char* key : {"family", "num_layers", "num_moe_layers", "num_experts", "top_k", "bytes_total",
                          "bytes_trunk", "bytes_routed_experts", "active_params_per_token", "num_tensors"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["bytes_trunk"], 2720);
  std::string text = summary_to_text(s);
  EXPECT_NE(text.find("2,720"), std::string::npos) << text;
  EXPECT_NE(text.find("qwen2_moe"), std::string::npos);
}

TEST_F(SyntheticQwen2Moe, ShardedCheckpointSummarisesLikeOneFile) {
  write_checkpoint();
  ModelSummary single = summarize();
  // Split the same tensors over two shards with an index, as large checkpoints are saved.
  Checkpoint one(dir_);
  std::vector<TensorSpec> first, second;
  nlohmann::json weight_map;
  for (const auto& name : one.tensor_names()) {
    const TensorInfo& t = one.info(name);
    bool in_first = name.find("layers.1.") == std::string::npos;
    (in_first ? first : second).push_back({name, t.dtype, t.shape});
    weight_map[name] = in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  for (auto [specs, file] : {std::pair{&first, "model-00001-of-00002.safetensors"},
                             std::pair{&second, "model-00002-of-00002.safetensors"}}) {
    SafetensorsWriter w(dir_ / file, *specs);
    for (const auto& sp : *specs) {
      TensorView v = one.view(sp.name);
      w.write(sp.name, v.data, v.nbytes);
    }
    w.finish();
  }
  fs::remove(dir_ / "model.safetensors");
  std::ofstream(dir_ / "model.safetensors.index.json") << nlohmann::json{{"metadata", {}}, {"weight_map", weight_map}};
  ModelSummary sharded = summarize();
  EXPECT_EQ(Checkpoint(dir_).files().size(), 2u);
  EXPECT_EQ(sharded.num_tensors, single.num_tensors);
  EXPECT_EQ(sharded.bytes_total, single.bytes_total);
  EXPECT_EQ(sharded.bytes_trunk, single.bytes_trunk);
  EXPECT_EQ(sharded.bytes_routed_experts, single.bytes_routed_experts);
  EXPECT_EQ(sharded.active_params_per_token, single.active_params_per_token);
  EXPECT_NE(sharded.source_hash, single.source_hash);
}

TEST_F(SyntheticQwen2Moe, MissingExpertIsAnErrorNamingIt) {
  write_checkpoint("model.layers.1.mlp.experts.2.up_proj.weight");
  try {
    summarize();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("model.layers.1.mlp.experts.2.up_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("layer 1 expert 2"), std::string::npos) << msg;
  }
}

TEST_F(SyntheticQwen2Moe, MissingRouterIsAnError) {
  write_checkpoint("model.layers.0.mlp.gate.weight");
  try {
    summarize();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.gate.weight"), std::string::npos) << e.what();
  }
}

TEST_F(SyntheticQwen2Moe, UnclassifiableTensorNamesFileAndTensor) {
  write_checkpoint("", "model.layers.0.mlp.mystery.weight");
  try {
    summarize();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'model.layers.0.mlp.mystery.weight'"), std::string::npos) << msg;
  }
}

// Sizes the test derives itself from the tensor shapes: a tensor is a routed expert when its name has
// ".mlp.experts." (the Qwen3-MoE layout); everything else is replicated trunk, the router included.
struct ShapeTotals {
  uint64_t total = 0, routed = 0, trunk = 0, trunk_params = 0, expert0_layer0_params = 0;
  size_t tensors = 0;
};

ShapeTotals totals_from_shapes(const Checkpoint& ck) {
  ShapeTotals t;
  for (const auto& name : ck.tensor_names()) {
    const TensorInfo& info = ck.info(name);
    uint64_t numel = uint64_t(shape_numel(info.shape));
    uint64_t bytes = numel * dtype_size(info.dtype);
    t.total += bytes;
    ++t.tensors;
    if (name.find(".mlp.experts.") != std::string::npos) {
      t.routed += bytes;
      if (name.starts_with("model.layers.0.mlp.experts.0.")) t.expert0_layer0_params += numel;
    } else {
      t.trunk += bytes;
      t.trunk_params += numel;
    }
  }
  return t;
}

TEST(ModelSummaryShared, TinyQwen3MoeMatchesShapes) {
  BANYAN_REQUIRE_SHARED(shared);
  auto dir = shared / "models" / "tiny-qwen3moe";
  ModelSpec spec = load_model_spec(dir);
  Checkpoint ck(dir);
  ModelSummary s = summarize_model(spec, ck);
  ShapeTotals t = totals_from_shapes(ck);
  EXPECT_EQ(s.family, "qwen3_moe");
  EXPECT_EQ(s.num_layers, 8);
  EXPECT_EQ(s.num_moe_layers, 8);
  EXPECT_EQ(s.num_experts, 128);
  EXPECT_EQ(s.top_k, 8);
  EXPECT_EQ(size_t(s.num_tensors), t.tensors);
  EXPECT_EQ(s.num_tensors, 3147);
  EXPECT_EQ(s.bytes_routed_experts, t.routed);
  EXPECT_EQ(s.bytes_trunk, t.trunk);
  EXPECT_EQ(s.bytes_total, t.total);
  EXPECT_EQ(s.bytes_total, ck.files()[0]->header().tensors.back().end);  // the data section, end to end
  EXPECT_EQ(s.active_params_per_token, t.trunk_params + 8 * 8 * t.expert0_layer0_params);
  EXPECT_EQ(s.node_splits[1].bytes_per_node, t.trunk + t.routed / 2);
  EXPECT_EQ(s.node_splits[7].bytes_per_node, t.trunk + t.routed / 8);
}

TEST(ModelSummaryShared, InspectCliJson) {
  BANYAN_REQUIRE_SHARED(shared);
  auto dir = shared / "models" / "tiny-qwen3moe";
  ASSERT_TRUE(fs::exists(test::banyan_binary())) << "build the banyan target: " << test::banyan_binary();
  std::string out;
  ASSERT_EQ(test::run_command(test::banyan_binary().string() + " inspect --json " + dir.string(), &out), 0) << out;
  nlohmann::json j = nlohmann::json::parse(out);
  Checkpoint ck(dir);
  ShapeTotals t = totals_from_shapes(ck);
  EXPECT_EQ(j.at("family"), "qwen3_moe");
  EXPECT_EQ(j.at("num_layers"), 8);
  EXPECT_EQ(j.at("num_moe_layers"), 8);
  EXPECT_EQ(j.at("num_experts"), 128);
  EXPECT_EQ(j.at("top_k"), 8);
  EXPECT_EQ(j.at("num_tensors"), t.tensors);
  EXPECT_EQ(j.at("bytes_total"), t.total);
  EXPECT_EQ(j.at("bytes_trunk"), t.trunk);
  EXPECT_EQ(j.at("bytes_routed_experts"), t.routed);
  EXPECT_EQ(j.at("active_params_per_token"), t.trunk_params + 8 * 8 * t.expert0_layer0_params);
  EXPECT_EQ(j.at("nodes").size(), 8u);

  std::string text;
  ASSERT_EQ(test::run_command(test::banyan_binary().string() + " inspect " + dir.string(), &text), 0);
  EXPECT_NE(text.find("qwen3_moe"), std::string::npos);
  EXPECT_NE(text.find("bytes per node"), std::string::npos);

  std::string err;
  EXPECT_EQ(test::run_command(test::banyan_binary().string() + " inspect /nonexistent-banyan 2>&1", &err), 1);
  EXPECT_NE(err.find("banyan: error: /nonexistent-banyan"), std::string::npos) << err;
}

}  // namespace
}  // namespace banyan
