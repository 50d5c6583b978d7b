// OLMoE: q/k RMSNorm over the whole projection (not per head), optional q/k/v biases, clip_qkv clamps q, k and v
// after the norm, softmax top-k renormalised only when norm_topk_prob (false in OLMoE-1B-7B).
#include "runtime/families/family.h"

namespace banyan::families {

namespace {
FamilyOptions options(const ModelSpec& spec) {
  FamilyOptions o;
  o.qkv_bias = spec.attention_bias;
  o.qk_norm = QkNorm::Full;
  if (spec.clip_qkv) o.clip_qkv = float(*spec.clip_qkv);
  o.renormalize_topk = spec.norm_topk_prob;
  return o;
}

void load_layer(const Checkpoint& ckpt, const ModelSpec& spec, int layer, LayerWeights& out) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  load_layer_norms(ckpt, spec, p, out);
  load_attention(ckpt, spec, p, spec.attention_bias, QkNorm::Full, out.attn);
  load_routed_experts(ckpt, spec, layer, out);
}
}  // namespace

const FamilyLoader& olmoe_loader() {
  static const FamilyLoader loader{options, load_layer};
  return loader;
}

}  // namespace banyan::families
