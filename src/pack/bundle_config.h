// config.json of a node bundle: the source config, unchanged except for the routed-expert count and top-k.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "model/model_spec.h"

namespace banyan {

// The config key holding the routed-expert count as the family's reference config names it: num_experts (Qwen,
// OLMoE), num_local_experts (Mixtral), n_routed_experts (DeepSeek, Kimi).
std::string expert_count_key(Family family);

// Sets the expert count to `local_experts` (under every expert-count key the config has — transformers v5 writes
// num_local_experts even for qwen3_moe — and at least the family's own key) and num_experts_per_tok to
// min(top_k, local_experts), where top_k is the plan's node_top_k (the model's k unless the plan widens it).
// DeepSeek group-limited routing (n_group/topk_group) picks groups of the ORIGINAL expert numbering, which a
// bundle no longer has: a bundle routes over its local experts without group limits (n_group = topk_group = 1),
// and this is recorded in banyan-node.json.
nlohmann::ordered_json bundle_config(const nlohmann::ordered_json& source, const ModelSpec& spec,
                                     int64_t local_experts, int64_t top_k);

}  // namespace banyan
