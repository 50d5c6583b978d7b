// Mixtral (e.g. Mixtral-8x7B): every layer is sparse; experts are w1 (gate), w3 (up), w2 (down) under
// block_sparse_moe. Routing takes the top-k logits and softmaxes over them, which equals a full softmax with the
// top-k weights renormalised: norm_topk_prob is effectively true.
#include "model/family.h"

namespace banyan {

namespace {
void parse_mixtral(const ConfigReader& cfg, ModelSpec& s) {
  s.num_experts = cfg.req_int_any({"num_local_experts", "num_experts"});
  s.top_k = cfg.req_int("num_experts_per_tok");
  s.intermediate_size = cfg.req_int("intermediate_size");
  s.moe_intermediate_size = s.intermediate_size;
  s.norm_topk_prob = true;
  s.layer_is_moe.assign(size_t(s.num_layers), true);
}
}  // namespace

const FamilyTraits& mixtral_traits() {
  static const FamilyTraits t{Family::Mixtral, "mixtral", true, "block_sparse_moe", {"w1", "w3", "w2"},
                              parse_mixtral};
  return t;
}

}  // namespace banyan
