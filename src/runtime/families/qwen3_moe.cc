// Qwen3-MoE: per-head q/k RMSNorm, no biases, softmax top-k with norm_topk_prob (true in released configs),
// dense MLP layers where mlp_only_layers / decoder_sparse_step say so.
#include "runtime/families/family.h"

namespace banyan::families {

namespace {
FamilyOptions options(const ModelSpec& spec) {
  FamilyOptions o;
  o.qkv_bias = spec.attention_bias;
  o.qk_norm = QkNorm::PerHead;
  o.renormalize_topk = spec.norm_topk_prob;
  return o;
}

void load_layer(const Checkpoint& ckpt, const ModelSpec& spec, int layer, LayerWeights& out) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  load_layer_norms(ckpt, spec, p, out);
  load_attention(ckpt, spec, p, spec.attention_bias, QkNorm::PerHead, out.attn);
  if (spec.layer_is_moe.at(size_t(layer))) {
    load_routed_experts(ckpt, spec, layer, out);
  } else {
    out.dense_mlp = load_swiglu(ckpt, p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight", p + "mlp.down_proj.weight",
                                spec.hidden_size, spec.intermediate_size);
  }
}
}  // namespace

const FamilyLoader& qwen3_moe_loader() {
  static const FamilyLoader loader{options, load_layer};
  return loader;
}

}  // namespace banyan::families
