#include "pack/bundle_config.h"

#include <algorithm>

#include "core/error.h"

namespace banyan {

std::string expert_count_key(Family family) {
  switch (family) {
    case Family::Qwen3Moe:
    case Family::Qwen2Moe:
    case Family::Olmoe: return "num_experts";
    case Family::Mixtral: return "num_local_experts";
    case Family::DeepseekV2:
    case Family::DeepseekV3:
    case Family::KimiK2: return "n_routed_experts";
  }
  fail("expert_count_key: unknown family");
}

nlohmann::ordered_json bundle_config(const nlohmann::ordered_json& source, const ModelSpec& spec,
                                     int64_t local_experts, int64_t top_k) {
  BANYAN_CHECK(local_experts >= 1 && local_experts <= spec.num_experts,
               "bundle config: {} local experts for a model with {}", local_experts, spec.num_experts);
  BANYAN_CHECK(top_k >= 1 && top_k <= spec.num_experts, "bundle config: top-k {} for a model with {} experts", top_k,
               spec.num_experts);
  nlohmann::ordered_json c = source;
  bool found = false;
  for (const char* key : {"num_experts", "num_local_experts", "n_routed_experts"})
    if (c.contains(key) && c[key].is_number_integer()) c[key] = local_experts, found = true;
  if (!found) c[expert_count_key(spec.family)] = local_experts;
  c["num_experts_per_tok"] = std::min(top_k, local_experts);
  if (c.contains("n_group") && c["n_group"].is_number() && c["n_group"].get<int64_t>() > 1) {
    c["n_group"] = 1;
    c["topk_group"] = 1;
  }
  return c;
}

}  // namespace banyan
