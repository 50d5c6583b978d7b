// Qwen2-MoE (e.g. Qwen1.5-MoE-A2.7B): softmax router without renormalisation by default, one shared expert whose
// output is scaled by sigmoid(shared_expert_gate · x), and biases on the q/k/v projections.
#include "model/family.h"

namespace banyan {

namespace {
void parse_qwen2_moe(const ConfigReader& cfg, ModelSpec& s) {
  s.num_experts = cfg.req_int_any({"num_experts", "num_local_experts"});
  s.top_k = cfg.req_int("num_experts_per_tok");
  s.moe_intermediate_size = cfg.req_int("moe_intermediate_size");
  s.intermediate_size = cfg.opt_int("intermediate_size", 0);
  s.norm_topk_prob = cfg.opt_bool("norm_topk_prob", false);
  s.shared_expert_intermediate_size = cfg.opt_int("shared_expert_intermediate_size", 0);
  s.num_shared_experts = s.shared_expert_intermediate_size > 0 ? 1 : 0;
  s.shared_expert_gate = s.num_shared_experts > 0;
  // transformers builds q/k/v with bias=True for Qwen2-MoE; v5 configs may spell it qkv_bias.
  s.attention_bias = cfg.opt_bool("qkv_bias", true);
  s.layer_is_moe = qwen_moe_layer_pattern(cfg, s.num_layers, s.num_experts);
}
}  // namespace

const FamilyTraits& qwen2_moe_traits() {
  static const FamilyTraits t{Family::Qwen2Moe, "qwen2_moe", true, "mlp", {"gate_proj", "up_proj", "down_proj"},
                              parse_qwen2_moe};
  return t;
}

}  // namespace banyan
