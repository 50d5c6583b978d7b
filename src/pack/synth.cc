#include "pack/synth.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "model/tensor_class.h"
#include "pack/shards.h"
#include "plan/progress.h"

namespace banyan {
namespace {

namespace fs = std::filesystem;

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

bool is_norm(const std::string& name) {
  return name.find("norm.weight") != std::string::npos || name.find("layernorm") != std::string::npos;
}

void add(std::vector<TensorSpec>& out, std::string name, DType dtype, Shape shape) {
  out.push_back({std::move(name), dtype, std::move(shape)});
}

void add_attention(const ModelSpec& s, const std::string& p, DType dt, std::vector<TensorSpec>& out) {
  const int64_t H = s.hidden_size, nh = s.num_heads;
  if (s.uses_mla()) {
    const int64_t qk = s.qk_nope_head_dim + s.qk_rope_head_dim;
    if (s.q_lora_rank > 0) {
      add(out, p + "self_attn.q_a_proj.weight", dt, {s.q_lora_rank, H});
      add(out, p + "self_attn.q_a_layernorm.weight", dt, {s.q_lora_rank});
      add(out, p + "self_attn.q_b_proj.weight", dt, {nh * qk, s.q_lora_rank});
    } else {
      add(out, p + "self_attn.q_proj.weight", dt, {nh * qk, H});
    }
    add(out, p + "self_attn.kv_a_proj_with_mqa.weight", dt, {s.kv_lora_rank + s.qk_rope_head_dim, H});
    add(out, p + "self_attn.kv_a_layernorm.weight", dt, {s.kv_lora_rank});
    add(out, p + "self_attn.kv_b_proj.weight", dt, {nh * (s.qk_nope_head_dim + s.v_head_dim), s.kv_lora_rank});
    add(out, p + "self_attn.o_proj.weight", dt, {H, nh * s.v_head_dim});
    return;
  }
  const int64_t q = nh * s.head_dim, kv = s.num_kv_heads * s.head_dim;
  add(out, p + "self_attn.q_proj.weight", dt, {q, H});
  if (s.attention_bias) add(out, p + "self_attn.q_proj.bias", dt, {q});
  add(out, p + "self_attn.k_proj.weight", dt, {kv, H});
  if (s.attention_bias) add(out, p + "self_attn.k_proj.bias", dt, {kv});
  add(out, p + "self_attn.v_proj.weight", dt, {kv, H});
  if (s.attention_bias) add(out, p + "self_attn.v_proj.bias", dt, {kv});
  add(out, p + "self_attn.o_proj.weight", dt, {H, q});
  if (s.qk_norm == QkNorm::PerHead) {
    add(out, p + "self_attn.q_norm.weight", dt, {s.head_dim});
    add(out, p + "self_attn.k_norm.weight", dt, {s.head_dim});
  } else if (s.qk_norm == QkNorm::Full) {
    add(out, p + "self_attn.q_norm.weight", dt, {q});
    add(out, p + "self_attn.k_norm.weight", dt, {kv});
  }
}

void add_mlp(const std::string& prefix, int64_t inter, int64_t H, DType dt, std::vector<TensorSpec>& out) {
  add(out, prefix + "gate_proj.weight", dt, {inter, H});
  add(out, prefix + "up_proj.weight", dt, {inter, H});
  add(out, prefix + "down_proj.weight", dt, {H, inter});
}

void add_moe(const ModelSpec& s, int layer, const std::string& p, DType dt, std::vector<TensorSpec>& out) {
  const int64_t H = s.hidden_size, I = s.moe_intermediate_size;
  const std::string router = router_weight_name(s, layer);
  add(out, router, dt, {s.num_experts, H});
  if (s.has_selection_bias) {
    // Stored in fp32 by DeepSeek-V3 checkpoints; next to the router weight.
    std::string bias = router.substr(0, router.size() - std::string("weight").size()) + "e_score_correction_bias";
    add(out, bias, DType::F32, {s.num_experts});
  }
  for (int e = 0; e < s.num_experts; ++e) {
    add(out, expert_weight_name(s, layer, e, ExpertProj::Gate), dt, {I, H});
    add(out, expert_weight_name(s, layer, e, ExpertProj::Up), dt, {I, H});
    add(out, expert_weight_name(s, layer, e, ExpertProj::Down), dt, {H, I});
  }
  if (s.num_shared_experts > 0) {
    const bool qwen = s.family == Family::Qwen2Moe;
    add_mlp(p + (qwen ? "mlp.shared_expert." : "mlp.shared_experts."), s.shared_expert_intermediate_size, H, dt,
            out);
  }
  if (s.shared_expert_gate) add(out, p + "mlp.shared_expert_gate.weight", dt, {1, H});
}

// Fills `n` elements starting at element `first` of a tensor's stream.
void fill(DType dt, bool norm, uint64_t seed, uint64_t first, size_t n, std::vector<uint8_t>& buf) {
  buf.resize(n * dtype_size(dt));
  uint64_t state = seed + first * 0x9e3779b97f4a7c15ull;
  // std 0.02 uniform: half-width 0.02·√3.
  constexpr float kHalfWidth = 0.0346410162f;
  for (size_t i = 0; i < n; ++i) {
    float v = 1.0f;
    if (!norm) v = (float(splitmix64(state) >> 40) * 0x1.0p-24f * 2.0f - 1.0f) * kHalfWidth;
    switch (dt) {
      case DType::BF16: {
        uint16_t b = f32_to_bf16(v);
        std::memcpy(&buf[i * 2], &b, 2);
        break;
      }
      case DType::F16: {
        uint16_t h = f32_to_f16(v);
        std::memcpy(&buf[i * 2], &h, 2);
        break;
      }
      case DType::F32: std::memcpy(&buf[i * 4], &v, 4); break;
      default: fail("synth: unsupported dtype {}", dtype_name(dt));
    }
  }
}

std::string torch_dtype_name(DType dt) {
  switch (dt) {
    case DType::BF16: return "bfloat16";
    case DType::F16: return "float16";
    case DType::F32: return "float32";
    default: fail("synth: unsupported dtype {} (bf16, f16, f32)", dtype_name(dt));
  }
}

}  // namespace

std::vector<TensorSpec> synth_tensor_specs(const ModelSpec& s, DType dt) {
  std::vector<TensorSpec> out;
  const int64_t H = s.hidden_size;
  add(out, "model.embed_tokens.weight", dt, {s.vocab_size, H});
  for (int layer = 0; layer < s.num_layers; ++layer) {
    const std::string p = fmt::format("model.layers.{}.", layer);
    add(out, p + "input_layernorm.weight", dt, {H});
    add_attention(s, p, dt, out);
    add(out, p + "post_attention_layernorm.weight", dt, {H});
    if (s.is_moe_layer(layer))
      add_moe(s, layer, p, dt, out);
    else
      add_mlp(p + "mlp.", s.intermediate_size, H, dt, out);
  }
  add(out, "model.norm.weight", dt, {H});
  if (!s.tie_word_embeddings) add(out, "lm_head.weight", dt, {s.vocab_size, H});
  for (const auto& t : out) {
    classify_tensor(s, t.name);  // throws if banyan would not recognise its own synthetic tensor
    for (auto d : t.shape) BANYAN_CHECK(d > 0, "synth: tensor {} would have shape {}", t.name, shape_str(t.shape));
  }
  return out;
}

SynthResult synth_checkpoint(const fs::path& config_path, const fs::path& out_dir, const SynthOptions& o) {
  std::ifstream in(config_path);
  BANYAN_CHECK(in, "cannot read config {}", config_path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::ordered_json config;
  try {
    config = nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", config_path.string(), e.what());
  }
  ModelSpec spec = parse_model_spec(nlohmann::json::parse(ss.str()), config_path.string());
  const std::string dtype_field = config.contains("dtype") && !config.contains("torch_dtype") ? "dtype" : "torch_dtype";
  config[dtype_field] = torch_dtype_name(o.dtype);

  auto specs = synth_tensor_specs(spec, o.dtype);
  SynthResult r;
  std::vector<uint64_t> sizes;
  for (const auto& t : specs) {
    uint64_t n = uint64_t(shape_numel(t.shape)) * dtype_size(t.dtype);
    sizes.push_back(n);
    r.tensor_bytes += n;
    r.largest_tensor_bytes = std::max(r.largest_tensor_bytes, n);
  }
  r.num_tensors = specs.size();
  fs::create_directories(out_dir);
  write_text_file(out_dir / "config.json", config.dump(2) + "\n");
  auto shards = split_into_shards(sizes, o.max_shard_bytes);
  r.shards = shards.size();
  Progress progress("synth", r.tensor_bytes, "bytes");
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  std::vector<uint8_t> buf;
  constexpr size_t kChunkElems = 1 << 20;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file = shard_file_name(s, shards.size());
    std::vector<TensorSpec> shard_specs;
    for (size_t i : shards[s]) shard_specs.push_back(specs[i]), weight_map[specs[i].name] = file;
    SafetensorsWriter w(out_dir / file, shard_specs, {{"format", "pt"}});
    for (size_t i : shards[s]) {
      const TensorSpec& t = specs[i];
      const uint64_t numel = uint64_t(shape_numel(t.shape));
      const uint64_t seed = name_hash(t.name) ^ (o.seed * 0xd1b54a32d192ed03ull);
      const bool norm = is_norm(t.name);
      for (uint64_t first = 0; first < numel; first += kChunkElems) {
        size_t n = size_t(std::min<uint64_t>(kChunkElems, numel - first));
        fill(t.dtype, norm, seed, first, n, buf);
        w.append(buf.data(), buf.size());
        progress.advance(buf.size());
      }
    }
    w.finish();
  }
  progress.finish();
  if (shards.size() > 1) write_shard_index(out_dir, r.tensor_bytes, weight_map);
  return r;
}

}  // namespace banyan
