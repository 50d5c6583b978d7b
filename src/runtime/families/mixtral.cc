// Mixtral: plain attention, block_sparse_moe with experts w1 (gate), w3 (up), w2 (down). Routing is top-k of the
// logits then softmax over those k, which equals softmax → top-k → renormalise: always renormalised.
#include "runtime/families/family.h"

namespace banyan::families {

namespace {
FamilyOptions options(const ModelSpec&) {
  FamilyOptions o;
  o.renormalize_topk = true;
  return o;
}

void load_layer(const Checkpoint& ckpt, const ModelSpec& spec, int layer, LayerWeights& out) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  load_layer_norms(ckpt, spec, p, out);
  load_attention(ckpt, spec, p, false, QkNorm::None, out.attn);
  load_routed_experts(ckpt, spec, layer, out);
}
}  // namespace

const FamilyLoader& mixtral_loader() {
  static const FamilyLoader loader{options, load_layer};
  return loader;
}

}  // namespace banyan::families
