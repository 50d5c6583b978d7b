// Qwen3-MoE (e.g. Qwen3-30B-A3B): softmax router over 128 experts, per-head q/k RMSNorm, no shared expert.
#include "core/error.h"
#include "model/family.h"

namespace banyan {

std::vector<bool> qwen_moe_layer_pattern(const ConfigReader& cfg, int64_t num_layers, int64_t num_experts) {
  int64_t step = cfg.opt_int("decoder_sparse_step", 1);
  BANYAN_CHECK(step >= 1, "{}: decoder_sparse_step must be >= 1, got {}", cfg.source(), step);
  std::vector<bool> is_moe(size_t(num_layers), false);
  for (int64_t l = 0; l < num_layers; ++l) is_moe[size_t(l)] = num_experts > 0 && (l + 1) % step == 0;
  for (int64_t l : cfg.opt_int_list("mlp_only_layers")) {
    BANYAN_CHECK(l >= 0 && l < num_layers, "{}: mlp_only_layers entry {} outside [0, {})", cfg.source(), l,
                 num_layers);
    is_moe[size_t(l)] = false;
  }
  return is_moe;
}

namespace {
void parse_qwen3_moe(const ConfigReader& cfg, ModelSpec& s) {
  // transformers 5.x saves num_local_experts; earlier versions num_experts.
  s.num_experts = cfg.req_int_any({"num_experts", "num_local_experts"});
  s.top_k = cfg.req_int("num_experts_per_tok");
  s.moe_intermediate_size = cfg.req_int("moe_intermediate_size");
  s.intermediate_size = cfg.opt_int("intermediate_size", 0);
  s.norm_topk_prob = cfg.opt_bool("norm_topk_prob", false);  // transformers' Qwen3MoeConfig default
  s.qk_norm = QkNorm::PerHead;
  s.layer_is_moe = qwen_moe_layer_pattern(cfg, s.num_layers, s.num_experts);
}
}  // namespace

const FamilyTraits& qwen3_moe_traits() {
  static const FamilyTraits t{Family::Qwen3Moe, "qwen3_moe", true, "mlp", {"gate_proj", "up_proj", "down_proj"},
                              parse_qwen3_moe};
  return t;
}

}  // namespace banyan
