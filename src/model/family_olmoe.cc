// OLMoE (e.g. OLMoE-1B-7B): every layer is sparse, RMSNorm over the whole q and k projections (not per head),
// optional clipping of q/k/v to [-clip_qkv, clip_qkv], and no top-k renormalisation by default.
#include "model/family.h"

namespace banyan {

namespace {
void parse_olmoe(const ConfigReader& cfg, ModelSpec& s) {
  s.num_experts = cfg.req_int_any({"num_experts", "num_local_experts"});
  s.top_k = cfg.req_int("num_experts_per_tok");
  s.intermediate_size = cfg.req_int("intermediate_size");
  s.moe_intermediate_size = s.intermediate_size;
  s.norm_topk_prob = cfg.opt_bool("norm_topk_prob", false);
  s.qk_norm = QkNorm::Full;
  s.clip_qkv = cfg.maybe_double("clip_qkv");
  s.layer_is_moe.assign(size_t(s.num_layers), true);
}
}  // namespace

const FamilyTraits& olmoe_traits() {
  static const FamilyTraits t{Family::Olmoe, "olmoe", true, "mlp", {"gate_proj", "up_proj", "down_proj"},
                              parse_olmoe};
  return t;
}

}  // namespace banyan
