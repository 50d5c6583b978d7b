// Per-family knowledge: config fields beyond the common ones, and how the family names its MoE weights.
// One file per family (family_<name>.cc) defines its traits; classification itself is shared (tensor_class.cc).
#pragma once
#include <array>
#include <string_view>

#include "model/config_reader.h"
#include "model/model_spec.h"

namespace banyan {

struct FamilyTraits {
  Family family;
  std::string_view model_type;
  bool has_engine;
  // The module holding the router and experts inside a decoder layer, as Hugging Face names it.
  std::string_view moe_block;  // "mlp" or "block_sparse_moe"
  // Per-expert projection module names for gate, up, down (e.g. gate_proj/up_proj/down_proj, or w1/w3/w2).
  std::array<std::string_view, 3> expert_proj;
  // Fills the family-specific fields of `spec` (experts, top-k, MoE layer pattern, shared experts, MLA, ...).
  // Called after the common fields (dims, heads, RoPE, tokens) are set.
  void (*parse)(const ConfigReader& cfg, ModelSpec& spec);
};

const FamilyTraits& family_traits(Family f);

const FamilyTraits& qwen3_moe_traits();
const FamilyTraits& qwen2_moe_traits();
const FamilyTraits& mixtral_traits();
const FamilyTraits& olmoe_traits();
const FamilyTraits& deepseek_v2_traits();
const FamilyTraits& deepseek_v3_traits();
const FamilyTraits& kimi_k2_traits();

// Qwen-style MoE layer pattern: layer L is sparse unless listed in mlp_only_layers, when there are experts and
// (L + 1) % decoder_sparse_step == 0 (transformers' Qwen2-MoE / Qwen3-MoE rule).
std::vector<bool> qwen_moe_layer_pattern(const ConfigReader& cfg, int64_t num_layers, int64_t num_experts);

}  // namespace banyan
