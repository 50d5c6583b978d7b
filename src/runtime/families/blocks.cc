// Loaders shared by the families: attention, SwiGLU MLPs, routed experts, layer norms.
#include "core/error.h"
#include "model/tensor_class.h"
#include "runtime/families/family.h"

namespace banyan::families {

void load_layer_norms(const Checkpoint& ckpt, const ModelSpec& spec, const std::string& prefix, LayerWeights& out) {
  out.attn_norm = weight_vector(ckpt, prefix + "input_layernorm.weight", spec.hidden_size);
  out.ffn_norm = weight_vector(ckpt, prefix + "post_attention_layernorm.weight", spec.hidden_size);
}

void load_attention(const Checkpoint& ckpt, const ModelSpec& spec, const std::string& prefix, bool qkv_bias,
                    QkNorm qk_norm, AttentionWeights& out) {
  const std::string p = prefix + "self_attn.";
  const int64_t H = spec.hidden_size, hd = spec.head_dim;
  const int64_t q_dim = spec.num_heads * hd, kv_dim = spec.num_kv_heads * hd;
  out.q = weight_matrix(ckpt, p + "q_proj.weight", q_dim, H);
  out.k = weight_matrix(ckpt, p + "k_proj.weight", kv_dim, H);
  out.v = weight_matrix(ckpt, p + "v_proj.weight", kv_dim, H);
  out.o = weight_matrix(ckpt, p + "o_proj.weight", H, q_dim);
  if (qkv_bias) {
    out.q_bias = weight_vector(ckpt, p + "q_proj.bias", q_dim);
    out.k_bias = weight_vector(ckpt, p + "k_proj.bias", kv_dim);
    out.v_bias = weight_vector(ckpt, p + "v_proj.bias", kv_dim);
  }
  BANYAN_CHECK(!ckpt.has(p + "o_proj.bias"), "{}: o_proj.bias is not supported by this family's attention", p);
  if (qk_norm == QkNorm::PerHead) {
    out.q_norm = weight_vector(ckpt, p + "q_norm.weight", hd);
    out.k_norm = weight_vector(ckpt, p + "k_norm.weight", hd);
  } else if (qk_norm == QkNorm::Full) {
    out.q_norm = weight_vector(ckpt, p + "q_norm.weight", q_dim);
    out.k_norm = weight_vector(ckpt, p + "k_norm.weight", kv_dim);
  }
}

ops::ExpertWeights load_swiglu(const Checkpoint& ckpt, const std::string& gate, const std::string& up,
                               const std::string& down, int64_t hidden, int64_t inter) {
  return ops::ExpertWeights{weight_matrix(ckpt, gate, inter, hidden), weight_matrix(ckpt, up, inter, hidden),
                            weight_matrix(ckpt, down, hidden, inter)};
}

namespace {
// Views into one expert's slice of a fused stack [E, rows, cols] (transformers v5 saves experts this way).
ops::Matrix stack_slice(const TensorView& t, int64_t e, int64_t row0, int64_t rows, int64_t cols) {
  const size_t es = dtype_size(t.dtype);
  const size_t offset = (size_t(e) * size_t(t.dim(1)) + size_t(row0)) * size_t(cols) * es;
  return ops::Matrix{t.dtype, t.data + offset, rows, cols};
}

TensorView fused_stack(const Checkpoint& ckpt, const std::string& name, const Shape& shape) {
  const TensorView t = ckpt.view(name);
  BANYAN_CHECK(t.dtype == DType::BF16 || t.dtype == DType::F16 || t.dtype == DType::F32,
               "{}: tensor '{}' has dtype {}; the CPU engine reads BF16, F16 or F32", ckpt.dir().string(), name,
               dtype_name(t.dtype));
  BANYAN_CHECK(t.shape == shape, "{}: fused expert stack '{}' has shape {}, expected {}", ckpt.dir().string(), name,
               shape_str(t.shape), shape_str(shape));
  return t;
}
}  // namespace

void load_routed_experts(const Checkpoint& ckpt, const ModelSpec& spec, int layer, LayerWeights& out) {
  out.is_moe = true;
  const int64_t E = spec.num_experts, H = spec.hidden_size, I = spec.moe_intermediate_size;
  out.router = weight_matrix(ckpt, router_weight_name(spec, layer), E, H);
  out.experts.resize(size_t(E));
  // Per-expert tensors (as Hugging Face has long saved them) or fused stacks "<prefix>experts.gate_up_proj"
  // [E, 2I, H] (gate rows first) and "<prefix>experts.down_proj" [E, H, I].
  const std::string first = expert_weight_name(spec, layer, 0, ExpertProj::Gate);
  const std::string prefix = first.substr(0, first.find("experts.") + 8);
  if (!ckpt.has(first) && ckpt.has(prefix + "gate_up_proj")) {
    const TensorView gu = fused_stack(ckpt, prefix + "gate_up_proj", {E, 2 * I, H});
    const TensorView dn = fused_stack(ckpt, prefix + "down_proj", {E, H, I});
    for (int64_t e = 0; e < E; ++e)
      out.experts[size_t(e)] = ops::ExpertWeights{stack_slice(gu, e, 0, I, H), stack_slice(gu, e, I, I, H),
                                                  stack_slice(dn, e, 0, H, I)};
    return;
  }
  for (int e = 0; e < int(E); ++e)
    out.experts[size_t(e)] = load_swiglu(ckpt, expert_weight_name(spec, layer, e, ExpertProj::Gate),
                                         expert_weight_name(spec, layer, e, ExpertProj::Up),
                                         expert_weight_name(spec, layer, e, ExpertProj::Down), H, I);
}

}  // namespace banyan::families
