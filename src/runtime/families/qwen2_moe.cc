// Qwen2-MoE: q/k/v biases, no q/k norm, softmax top-k without renormalisation by default (norm_topk_prob=false),
// plus a shared expert on every MoE layer whose output is scaled by sigmoid(shared_expert_gate · x).
#include "runtime/families/family.h"

namespace banyan::families {

namespace {
FamilyOptions options(const ModelSpec& spec) {
  FamilyOptions o;
  o.qkv_bias = spec.attention_bias;  // true unless the config says qkv_bias=false
  o.renormalize_topk = spec.norm_topk_prob;
  return o;
}

void load_layer(const Checkpoint& ckpt, const ModelSpec& spec, int layer, LayerWeights& out) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  load_layer_norms(ckpt, spec, p, out);
  load_attention(ckpt, spec, p, spec.attention_bias, QkNorm::None, out.attn);
  if (spec.layer_is_moe.at(size_t(layer))) {
    load_routed_experts(ckpt, spec, layer, out);
    const std::string s = p + "mlp.shared_expert.";
    if (spec.shared_expert_intermediate_size > 0) {
      out.shared_expert = load_swiglu(ckpt, s + "gate_proj.weight", s + "up_proj.weight", s + "down_proj.weight",
                                      spec.hidden_size, spec.shared_expert_intermediate_size);
      out.shared_expert_gate = weight_matrix(ckpt, p + "mlp.shared_expert_gate.weight", 1, spec.hidden_size);
    }
  } else {
    out.dense_mlp = load_swiglu(ckpt, p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight", p + "mlp.down_proj.weight",
                                spec.hidden_size, spec.intermediate_size);
  }
}
}  // namespace

const FamilyLoader& qwen2_moe_loader() {
  static const FamilyLoader loader{options, load_layer};
  return loader;
}

}  // namespace banyan::families
