// DeepSeek-V2, DeepSeek-V3 and Kimi-K2 (a DeepSeek-V3-shaped config with model_type "kimi_k2"): multi-head latent
// attention, the first first_k_dense_replace layers dense, shared experts, group-limited routing; V3/K2 score with
// a sigmoid plus a selection bias (e_score_correction_bias, topk_method "noaux_tc"). Parsed and inspectable; the
// engine for them comes later.
#include "core/error.h"
#include "model/family.h"

namespace banyan {

namespace {
void parse_deepseek(const ConfigReader& cfg, ModelSpec& s, RouterScoring default_scoring,
                    const std::string& default_topk_method) {
  s.num_experts = cfg.opt_int("n_routed_experts", 0);
  s.top_k = cfg.opt_int("num_experts_per_tok", 0);
  s.moe_intermediate_size = cfg.opt_int("moe_intermediate_size", 0);
  s.intermediate_size = cfg.req_int("intermediate_size");
  s.num_shared_experts = cfg.opt_int("n_shared_experts", 0);
  s.shared_expert_intermediate_size = s.num_shared_experts * s.moe_intermediate_size;
  s.norm_topk_prob = cfg.opt_bool("norm_topk_prob", false);
  s.routed_scaling_factor = cfg.opt_double("routed_scaling_factor", 1.0);
  s.n_group = cfg.opt_int("n_group", 1);
  s.topk_group = cfg.opt_int("topk_group", 1);
  s.topk_method = cfg.opt_string("topk_method", default_topk_method);
  std::string scoring = cfg.opt_string("scoring_func", default_scoring == RouterScoring::Sigmoid ? "sigmoid" : "softmax");
  if (scoring == "softmax")
    s.scoring = RouterScoring::Softmax;
  else if (scoring == "sigmoid")
    s.scoring = RouterScoring::Sigmoid;
  else
    fail("{}: unsupported scoring_func \"{}\" (supported: softmax, sigmoid)", cfg.source(), scoring);
  s.has_selection_bias = s.topk_method == "noaux_tc";
  s.num_nextn_predict_layers = cfg.opt_int("num_nextn_predict_layers", 0);

  s.q_lora_rank = cfg.opt_int("q_lora_rank", 0);
  s.kv_lora_rank = cfg.req_int("kv_lora_rank");
  s.qk_nope_head_dim = cfg.req_int("qk_nope_head_dim");
  s.qk_rope_head_dim = cfg.req_int("qk_rope_head_dim");
  s.v_head_dim = cfg.req_int("v_head_dim");
  // v5 configs also write head_dim (= qk_rope_head_dim) and qk_head_dim; banyan's head_dim is the q/k width.
  s.head_dim = s.qk_nope_head_dim + s.qk_rope_head_dim;
  s.rope.interleave = cfg.opt_bool("rope_interleave", true);

  // transformers: layer L is sparse when experts exist, L >= first_k_dense_replace and L % moe_layer_freq == 0.
  int64_t first_dense = cfg.opt_int("first_k_dense_replace", 0);
  int64_t freq = cfg.opt_int("moe_layer_freq", 1);
  BANYAN_CHECK(freq >= 1, "{}: moe_layer_freq must be >= 1, got {}", cfg.source(), freq);
  s.layer_is_moe.assign(size_t(s.num_layers), false);
  for (int64_t l = 0; l < s.num_layers; ++l)
    s.layer_is_moe[size_t(l)] = s.num_experts > 0 && l >= first_dense && l % freq == 0;
}

void parse_deepseek_v2(const ConfigReader& cfg, ModelSpec& s) {
  parse_deepseek(cfg, s, RouterScoring::Softmax, "greedy");
}
void parse_deepseek_v3(const ConfigReader& cfg, ModelSpec& s) {
  parse_deepseek(cfg, s, RouterScoring::Sigmoid, "noaux_tc");
}
}  // namespace

const FamilyTraits& deepseek_v2_traits() {
  static const FamilyTraits t{Family::DeepseekV2, "deepseek_v2", false, "mlp",
                              {"gate_proj", "up_proj", "down_proj"}, parse_deepseek_v2};
  return t;
}
const FamilyTraits& deepseek_v3_traits() {
  static const FamilyTraits t{Family::DeepseekV3, "deepseek_v3", false, "mlp",
                              {"gate_proj", "up_proj", "down_proj"}, parse_deepseek_v3};
  return t;
}
const FamilyTraits& kimi_k2_traits() {
  static const FamilyTraits t{Family::KimiK2, "kimi_k2", false, "mlp", {"gate_proj", "up_proj", "down_proj"},
                              parse_deepseek_v3};
  return t;
}

}  // namespace banyan
