#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/safetensors.h"
#include "model/tensor_class.h"
#include "pack/gguf/gguf_export.h"
#include "pack/gguf/gguf_reader.h"
#include "pack/gguf/gguf_writer.h"
#include "pack/gguf/tensor_encode.h"
#include "pack/gguf/tokenizer_metadata.h"
#include "test_paths.h"

using namespace banyan;
using namespace banyan::gguf;
using banyan::test::fixtures_dir;
using banyan::test::make_temp_dir;

TEST(GgufWriter, RoundTripsMetadataAndTensors) {
  const auto dir = make_temp_dir("gguf_rt");
  std::vector<KeyValue> kvs{
      {"a.u32", uint32_t(7)},  {"a.i32", int32_t(-3)}, {"a.f32", 1.5f},
      {"a.bool", true},        {"a.u64", uint64_t(1) << 40}, {"a.str", std::string("héllo")},
      {"a.strs", std::vector<std::string>{"x", "", "y z"}},  {"a.ints", std::vector<int32_t>{1, -2, 3}},
      {"a.floats", std::vector<float>{0.25f, -8.0f}},
  };
  // A [2, 3] row-major tensor is GGML dims (3, 2); a second one starts at the next 32-byte boundary.
  std::vector<TensorDesc> ts{{"t0", {3, 2}, TensorType::F32, 0}, {"t1", {5}, TensorType::F16, 0}};
  const float t0[6] = {1, 2, 3, 4, 5, 6};
  std::string t1;
  const float t1f[5] = {0.5f, -1, 2, 65504, 0};
  encode(TensorType::F16, t1f, 5, t1);
  {
    Writer w(dir / "x.gguf", kvs, ts);
    w.append(t0, 8);  // in chunks
    w.append(reinterpret_cast<const char*>(t0) + 8, 16);
    w.append(t1.data(), t1.size());
    w.finish();
  }
  Reader r(dir / "x.gguf");
  ASSERT_EQ(r.kvs().size(), kvs.size());
  for (size_t i = 0; i < kvs.size(); ++i) {
    EXPECT_EQ(r.kvs()[i].key, kvs[i].key);
    EXPECT_TRUE(r.kvs()[i].value == kvs[i].value) << kvs[i].key;
  }
  ASSERT_EQ(r.tensors().size(), 2u);
  EXPECT_EQ(r.tensor("t0").dims, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(r.tensor("t0").offset, 0u);
  EXPECT_EQ(r.tensor("t1").offset, 32u);
  EXPECT_EQ(r.data_offset() % 32, 0u);
  EXPECT_EQ(std::memcmp(r.tensor_data(r.tensor("t0")), t0, 24), 0);
  EXPECT_EQ(std::memcmp(r.tensor_data(r.tensor("t1")), t1.data(), t1.size()), 0);
}

TEST(GgufWriter, RejectsIncompleteAndOverlongData) {
  const auto dir = make_temp_dir("gguf_bad");
  {
    Writer w(dir / "a.gguf", {}, {{"t", {4}, TensorType::F32, 0}});
    const float x[4] = {};
    w.append(x, 8);
    EXPECT_THROW(w.finish(), Error);
  }
  Writer w(dir / "b.gguf", {}, {{"t", {1}, TensorType::F32, 0}});
  const float x[2] = {};
  EXPECT_THROW(w.append(x, 8), Error);
  EXPECT_THROW(Writer(dir / "c.gguf", {}, {{"q", {31}, TensorType::Q8_0, 0}}), Error);
}

TEST(GgufEncode, Q8ZeroErrorIsWithinHalfAStep) {
  std::vector<float> x(256);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i) * 0.37f) * (1.0f + float(i % 7));
  std::string q;
  encode(TensorType::Q8_0, x.data(), int64_t(x.size()), q);
  ASSERT_EQ(q.size(), 8 * 34u);
  std::vector<float> y(x.size());
  dequantize_q8_0(reinterpret_cast<const uint8_t*>(q.data()), int64_t(x.size()), y.data());
  for (size_t b = 0; b < 8; ++b) {
    float amax = 0;
    for (size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    const float step = amax / 127.0f;
    for (size_t i = 0; i < 32; ++i)  // half a step, plus the fp16 rounding of the scale (<= 2^-11 relative) × 127
      EXPECT_LE(std::fabs(x[b * 32 + i] - y[b * 32 + i]), 0.5f * step + amax * 0.001f) << b << " " << i;
  }
  std::vector<float> zeros(32, 0.0f);
  q.clear();
  encode(TensorType::Q8_0, zeros.data(), 32, q);
  dequantize_q8_0(reinterpret_cast<const uint8_t*>(q.data()), 32, y.data());
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[size_t(i)], 0.0f);
}

TEST(GgufEncode, RotaryPermutationInterleavesHalvesPerHead) {
  // 2 heads of head_dim 4, one column: HF rows per head (a0 a1 | b0 b1) → GGML (a0 b0 a1 b1).
  const std::vector<float> w{10, 11, 20, 21, 30, 31, 40, 41};
  EXPECT_EQ(permute_rotary_rows(w, 8, 1, 2), (std::vector<float>{10, 20, 11, 21, 30, 40, 31, 41}));
  // Whole rows move: 2 columns.
  const std::vector<float> w2{1, 2, 3, 4, 5, 6, 7, 8};  // rows (1,2) (3,4) | (5,6) (7,8) of one head of dim 4
  EXPECT_EQ(permute_rotary_rows(w2, 4, 2, 1), (std::vector<float>{1, 2, 5, 6, 3, 4, 7, 8}));
  EXPECT_THROW(permute_rotary_rows(w, 8, 1, 3), Error);
}

TEST(GgufExport, Qwen3MoeFixtureTensorsAndDims) {
  const auto model = fixtures_dir() / "models" / "qwen3_moe";
  const auto out = make_temp_dir("gguf_q3") / "m.gguf";
  export_gguf(model, out, TensorType::F32);
  const ModelSpec spec = load_model_spec(model);
  Reader r(out);
  EXPECT_EQ(std::get<std::string>(r.value("general.architecture").v), "qwen3moe");
  EXPECT_EQ(std::get<uint32_t>(r.value("qwen3moe.expert_count").v), uint32_t(spec.num_experts));
  EXPECT_EQ(std::get<uint32_t>(r.value("qwen3moe.expert_used_count").v), uint32_t(spec.top_k));
  EXPECT_EQ(std::get<uint32_t>(r.value("qwen3moe.block_count").v), uint32_t(spec.num_layers));
  EXPECT_EQ(std::get<uint32_t>(r.value("qwen3moe.attention.key_length").v), uint32_t(spec.head_dim));
  Checkpoint ck(model);
  // Embedding [V, H] → (H, V), values unchanged in f32.
  const auto& emb = r.tensor("token_embd.weight");
  EXPECT_EQ(emb.dims, (std::vector<int64_t>{spec.hidden_size, spec.vocab_size}));
  EXPECT_EQ(ck.view("model.embed_tokens.weight").to_f32(),
            std::vector<float>(reinterpret_cast<const float*>(r.tensor_data(emb)),
                               reinterpret_cast<const float*>(r.tensor_data(emb)) + emb.numel()));
  // Stacked experts: gate [E, I, H] → (H, I, E); expert e's block is its HF tensor.
  const int layer = spec.moe_layers().front();
  const auto& g = r.tensor("blk." + std::to_string(layer) + ".ffn_gate_exps.weight");
  EXPECT_EQ(g.dims, (std::vector<int64_t>{spec.hidden_size, spec.moe_intermediate_size, spec.num_experts}));
  const auto& d = r.tensor("blk." + std::to_string(layer) + ".ffn_down_exps.weight");
  EXPECT_EQ(d.dims, (std::vector<int64_t>{spec.moe_intermediate_size, spec.hidden_size, spec.num_experts}));
  const int64_t per = spec.hidden_size * spec.moe_intermediate_size;
  const int e = int(spec.num_experts) - 1;
  const auto src = ck.view(expert_weight_name(spec, layer, e, ExpertProj::Down)).to_f32();
  const auto* got = reinterpret_cast<const float*>(r.tensor_data(d)) + e * per;
  EXPECT_EQ(src, std::vector<float>(got, got + per));
  EXPECT_EQ(r.tensor("blk.0.attn_q_norm.weight").dims, (std::vector<int64_t>{spec.head_dim}));
  EXPECT_EQ(r.tensor("blk." + std::to_string(layer) + ".ffn_gate_inp.weight").type, TensorType::F32);
}

TEST(GgufExport, Q8ZeroKeepsNormsAndRoutersF32) {
  const auto model = fixtures_dir() / "models" / "qwen2_moe";
  const auto out = make_temp_dir("gguf_q2") / "m.gguf";
  export_gguf(model, out, TensorType::Q8_0);
  Reader r(out);
  EXPECT_EQ(std::get<std::string>(r.value("general.architecture").v), "qwen2moe");
  EXPECT_TRUE(r.has("qwen2moe.expert_shared_feed_forward_length"));
  EXPECT_EQ(r.tensor("blk.0.attn_norm.weight").type, TensorType::F32);
  EXPECT_EQ(r.tensor("blk.0.ffn_gate_inp.weight").type, TensorType::F32);
  EXPECT_TRUE(r.tensor("blk.0.attn_q.bias").numel() > 0);
  for (const auto& t : r.tensors())
    if (t.dims.size() >= 2 && t.dims[0] % 32 == 0 && t.name.find("gate_inp") == std::string::npos) {
      EXPECT_EQ(t.type, TensorType::Q8_0) << t.name;
    }
}

TEST(GgufTokenizer, ByteLevelBpeMetadataMatchesTokenizerJson) {
  const auto model = fixtures_dir() / "models" / "qwen3_moe";
  const ModelSpec spec = load_model_spec(model);
  const auto kvs = tokenizer_metadata(model, spec);
  auto get = [&](const std::string& k) -> const Value& {
    for (const auto& kv : kvs)
      if (kv.key == k) return kv.value;
    ADD_FAILURE() << "missing " << k;
    static Value none;
    return none;
  };
  std::ifstream in(model / "tokenizer.json");
  const auto tok = nlohmann::json::parse(in);
  const auto& tokens = std::get<std::vector<std::string>>(get("tokenizer.ggml.tokens").v);
  const auto& types = std::get<std::vector<int32_t>>(get("tokenizer.ggml.token_type").v);
  EXPECT_EQ(int64_t(tokens.size()), std::max<int64_t>(spec.vocab_size, int64_t(tok["model"]["vocab"].size())));
  EXPECT_EQ(std::get<std::vector<std::string>>(get("tokenizer.ggml.merges").v).size(), tok["model"]["merges"].size());
  for (const auto& [text, id] : tok["model"]["vocab"].items()) {
    ASSERT_EQ(tokens.at(id.get<size_t>()), text);
  }
  for (const auto& a : tok["added_tokens"]) {
    EXPECT_EQ(tokens.at(a["id"].get<size_t>()), a["content"].get<std::string>());
    EXPECT_EQ(types.at(a["id"].get<size_t>()), a["special"].get<bool>() ? kControl : kUserDefined);
  }
  EXPECT_EQ(std::get<std::string>(get("tokenizer.ggml.model").v), "gpt2");
}

TEST(GgufTokenizer, RecognisesQwen2RegexAndRejectsUnknown) {
  EXPECT_EQ(pretokenizer_name(R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"),
            "qwen2");
  EXPECT_EQ(pretokenizer_name(""), "gpt-2");  // plain ByteLevel: llama.cpp knows "gpt-2", not "gpt2"
  EXPECT_EQ(pretokenizer_name("\\w+"), "");
}

TEST(GgufExport, MixtralUsesLlamaArchAndPermutesQK) {
  const auto model = fixtures_dir() / "models" / "mixtral";
  const auto out = make_temp_dir("gguf_mx") / "m.gguf";
  export_gguf(model, out, TensorType::F32);
  const ModelSpec spec = load_model_spec(model);
  Reader r(out);
  EXPECT_EQ(std::get<std::string>(r.value("general.architecture").v), "llama");
  Checkpoint ck(model);
  for (auto [name, hf, heads] : {std::tuple{"blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight",
                                            spec.num_heads},
                                 std::tuple{"blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight",
                                            spec.num_kv_heads}}) {
    const auto v = ck.view(hf);
    const auto want = permute_rotary_rows(v.to_f32(), v.shape[0], v.shape[1], heads);
    const auto& t = r.tensor(name);
    const auto* got = reinterpret_cast<const float*>(r.tensor_data(t));
    EXPECT_EQ(want, std::vector<float>(got, got + t.numel())) << name;
    EXPECT_NE(want, v.to_f32()) << name;  // the permutation is not the identity here
  }
  const auto v = ck.view("model.layers.0.self_attn.v_proj.weight").to_f32();
  const auto& t = r.tensor("blk.0.attn_v.weight");
  EXPECT_EQ(v, std::vector<float>(reinterpret_cast<const float*>(r.tensor_data(t)),
                                  reinterpret_cast<const float*>(r.tensor_data(t)) + t.numel()));
}
