#include "pack/gguf/gguf_export.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "core/dtype.h"
#include "core/error.h"
#include "format/safetensors.h"
#include "model/tensor_class.h"
#include "pack/gguf/gguf_writer.h"
#include "pack/gguf/tensor_encode.h"
#include "pack/gguf/tokenizer_metadata.h"

namespace banyan::gguf {
namespace {

uint32_t u32(int64_t v) { return uint32_t(v); }

std::vector<int64_t> reversed(const Shape& s) { return {s.rbegin(), s.rend()}; }

// general.file_type codes of llama.cpp (the "mostly" type of the weights).
uint32_t file_type_code(TensorType t) {
  switch (t) {
    case TensorType::F32: return 0;
    case TensorType::F16: return 1;
    case TensorType::Q8_0: return 7;
    case TensorType::BF16: return 32;
  }
  return 0;
}

// Tells the kernel this process no longer needs the source pages in [p, p+n): they stay in the page cache but
// leave our resident set, so converting a checkpoint larger than RAM keeps RSS near one chunk.
void release_pages(const uint8_t* p, uint64_t n) {
  static const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(p) + page - 1) & ~(page - 1), end = (uintptr_t(p) + n) & ~(page - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// Converts one source tensor to the output type and appends it, a chunk of whole rows at a time (whole heads
// for the rotary permutation, which moves rows only within a head).
void append_converted(const TensorView& v, const TensorPlan& p, Writer& w, uint64_t chunk_bytes) {
  const int64_t rows = v.shape.empty() ? 1 : v.shape[0];
  const int64_t cols = rows > 0 ? v.numel() / rows : 0;
  int64_t unit = 1;  // rows per indivisible unit
  if (p.rotary_heads > 0) {
    BANYAN_CHECK(rows % p.rotary_heads == 0, "{}: {} rows do not split into {} heads", p.desc.name, rows,
                 p.rotary_heads);
    unit = rows / p.rotary_heads;
  }
  const int64_t per_chunk = unit * std::max<int64_t>(1, int64_t(chunk_bytes / 4) / std::max<int64_t>(1, unit * cols));
  const size_t elem = dtype_size(v.dtype);
  std::vector<float> x;
  std::string buf;
  for (int64_t r0 = 0; r0 < rows; r0 += per_chunk) {
    const int64_t nr = std::min(per_chunk, rows - r0);
    const uint8_t* src = v.data + size_t(r0 * cols) * elem;
    x.resize(size_t(nr * cols));
    convert_to_f32(v.dtype, src, x.data(), x.size());
    release_pages(src, uint64_t(nr * cols) * elem);
    if (p.rotary_heads > 0) x = permute_rotary_rows(x, nr, cols, nr / unit);
    buf.clear();
    encode(p.desc.type, x.data(), int64_t(x.size()), buf);
    w.append(buf.data(), buf.size());
  }
}

}  // namespace

TensorType parse_export_type(const std::string& name) {
  if (name == "f32") return TensorType::F32;
  if (name == "f16") return TensorType::F16;
  if (name == "bf16") return TensorType::BF16;
  if (name == "q8_0") return TensorType::Q8_0;
  fail("unknown GGUF tensor type '{}' (expected f32, f16, bf16 or q8_0)", name);
}

std::string gguf_architecture(Family f) {
  switch (f) {
    case Family::Qwen3Moe: return "qwen3moe";
    case Family::Qwen2Moe: return "qwen2moe";
    case Family::Olmoe: return "olmoe";
    case Family::Mixtral: return "llama";
    default: fail("GGUF export does not support the {} family", family_name(f));
  }
}

std::vector<KeyValue> architecture_metadata(const ModelSpec& s) {
  const std::string a = gguf_architecture(s.family);
  BANYAN_CHECK(s.rope.type == "default" && s.rope.partial_rotary_factor == 1.0,
               "GGUF export: rope type {} (partial factor {}) is not supported yet", s.rope.type,
               s.rope.partial_rotary_factor);
  std::vector<KeyValue> kv{
      {a + ".block_count", u32(s.num_layers)},
      {a + ".context_length", u32(s.max_position_embeddings)},
      {a + ".embedding_length", u32(s.hidden_size)},
      {a + ".feed_forward_length", u32(s.intermediate_size > 0 ? s.intermediate_size : s.moe_intermediate_size)},
      {a + ".attention.head_count", u32(s.num_heads)},
      {a + ".attention.head_count_kv", u32(s.num_kv_heads)},
      {a + ".attention.key_length", u32(s.head_dim)},
      {a + ".attention.value_length", u32(s.head_dim)},
      {a + ".rope.freq_base", float(s.rope.theta)},
      {a + ".attention.layer_norm_rms_epsilon", float(s.rms_norm_eps)},
      {a + ".expert_count", u32(s.num_experts)},
      {a + ".expert_used_count", u32(s.top_k)},
  };
  if (s.family != Family::Mixtral) kv.push_back({a + ".expert_feed_forward_length", u32(s.moe_intermediate_size)});
  if (s.family == Family::Mixtral) kv.push_back({a + ".rope.dimension_count", u32(s.head_dim)});
  if (s.family == Family::Qwen2Moe)
    kv.push_back({a + ".expert_shared_feed_forward_length", u32(s.shared_expert_intermediate_size)});
  if (s.family == Family::Olmoe && s.clip_qkv) kv.push_back({a + ".attention.clamp_kqv", float(*s.clip_qkv)});
  return kv;
}

std::vector<TensorPlan> plan_tensors(const ModelSpec& s, const std::filesystem::path& dir, TensorType type) {
  Checkpoint ckpt(dir);
  std::vector<TensorPlan> plans;
  // Adds the tensor stacked from `sources` (one source: unstacked). 1-D tensors and routers stay f32, and so do
  // rows q8_0 cannot block (not a multiple of 32).
  auto add = [&](const std::string& gguf_name, std::vector<std::string> sources, bool keep_f32 = false,
                 int64_t rotary_heads = 0) {
    const auto& first = ckpt.info(sources.at(0));
    for (const auto& src : sources)
      BANYAN_CHECK(ckpt.info(src).shape == first.shape, "{}: {} has shape {} but {} has {}", dir.string(), src,
                   shape_str(ckpt.info(src).shape), sources[0], shape_str(first.shape));
    TensorPlan p;
    p.desc.name = gguf_name;
    p.desc.dims = reversed(first.shape);
    if (sources.size() > 1) p.desc.dims.push_back(int64_t(sources.size()));
    TensorType t = type;
    if (keep_f32 || first.shape.size() < 2) t = TensorType::F32;
    if (t == TensorType::Q8_0 && p.desc.dims[0] % kQ8BlockSize != 0) t = TensorType::F16;
    p.desc.type = t;
    p.sources = std::move(sources);
    p.rotary_heads = rotary_heads;
    plans.push_back(std::move(p));
  };
  auto add_if = [&](const std::string& gguf_name, const std::string& src, bool keep_f32 = false) {
    if (ckpt.has(src)) add(gguf_name, {src}, keep_f32);
  };

  add("token_embd.weight", {"model.embed_tokens.weight"});
  add("output_norm.weight", {"model.norm.weight"});
  if (ckpt.has("lm_head.weight")) add("output.weight", {"lm_head.weight"});  // absent when tied to token_embd
  const bool llama_rotary = s.family == Family::Mixtral;
  for (int l = 0; l < s.num_layers; ++l) {
    const std::string hf = "model.layers." + std::to_string(l) + ".";
    const std::string blk = "blk." + std::to_string(l) + ".";
    add(blk + "attn_norm.weight", {hf + "input_layernorm.weight"});
    add(blk + "attn_q.weight", {hf + "self_attn.q_proj.weight"}, false, llama_rotary ? s.num_heads : 0);
    add(blk + "attn_k.weight", {hf + "self_attn.k_proj.weight"}, false, llama_rotary ? s.num_kv_heads : 0);
    add(blk + "attn_v.weight", {hf + "self_attn.v_proj.weight"});
    add(blk + "attn_output.weight", {hf + "self_attn.o_proj.weight"});
    for (const char* p : {"q", "k", "v"}) add_if(blk + "attn_" + p + ".bias", hf + "self_attn." + p + "_proj.bias");
    add_if(blk + "attn_q_norm.weight", hf + "self_attn.q_norm.weight");
    add_if(blk + "attn_k_norm.weight", hf + "self_attn.k_norm.weight");
    add(blk + "ffn_norm.weight", {hf + "post_attention_layernorm.weight"});
    if (!s.is_moe_layer(l)) {
      add(blk + "ffn_gate.weight", {hf + "mlp.gate_proj.weight"});
      add(blk + "ffn_up.weight", {hf + "mlp.up_proj.weight"});
      add(blk + "ffn_down.weight", {hf + "mlp.down_proj.weight"});
      continue;
    }
    add(blk + "ffn_gate_inp.weight", {router_weight_name(s, l)}, true);
    for (auto [proj, name] : {std::pair{ExpertProj::Gate, "ffn_gate_exps"}, std::pair{ExpertProj::Up, "ffn_up_exps"},
                              std::pair{ExpertProj::Down, "ffn_down_exps"}}) {
      std::vector<std::string> sources;
      for (int e = 0; e < s.num_experts; ++e) sources.push_back(expert_weight_name(s, l, e, proj));
      add(blk + name + ".weight", std::move(sources));
    }
    if (s.family == Family::Qwen2Moe) {
      add(blk + "ffn_gate_shexp.weight", {hf + "mlp.shared_expert.gate_proj.weight"});
      add(blk + "ffn_up_shexp.weight", {hf + "mlp.shared_expert.up_proj.weight"});
      add(blk + "ffn_down_shexp.weight", {hf + "mlp.shared_expert.down_proj.weight"});
      add_if(blk + "ffn_gate_inp_shexp.weight", hf + "mlp.shared_expert_gate.weight", true);
    }
  }
  return plans;
}

ExportStats export_gguf(const std::filesystem::path& dir, const std::filesystem::path& out, TensorType type,
                        uint64_t chunk_bytes) {
  const ModelSpec spec = load_model_spec(dir);
  const std::string arch = gguf_architecture(spec.family);
  std::vector<KeyValue> kvs{
      {"general.architecture", arch},
      {"general.name", dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string()},
      {"general.file_type", file_type_code(type)},
  };
  for (auto& kv : architecture_metadata(spec)) kvs.push_back(std::move(kv));
  for (auto& kv : tokenizer_metadata(dir, spec)) kvs.push_back(std::move(kv));

  const auto plans = plan_tensors(spec, dir, type);
  std::vector<TensorDesc> descs;
  for (const auto& p : plans) descs.push_back(p.desc);
  // Written to "<out>.partial" and renamed when complete, so a crash never leaves a truncated GGUF under the name.
  auto partial = out;
  partial += ".partial";
  Writer w(partial, std::move(kvs), std::move(descs));
  Checkpoint ckpt(dir);
  for (const auto& p : plans)
    for (const auto& src : p.sources) append_converted(ckpt.view(src), p, w, chunk_bytes);
  w.finish();
  std::filesystem::rename(partial, out);
  ExportStats st;
  st.tensors = plans.size();
  st.bytes = std::filesystem::file_size(out);
  return st;
}

}  // namespace banyan::gguf
