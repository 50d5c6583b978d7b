#include "core/error.h"
#include "runtime/engine.h"

namespace banyan {

ExpertRestriction::ExpertRestriction(const ModelSpec& spec, const std::vector<std::vector<int32_t>>& allowed,
                                     std::optional<int> top_k_override)
    : num_experts_(spec.num_experts), top_k_(top_k_override) {
  const int64_t n_moe = spec.num_moe_layers();
  BANYAN_CHECK(allowed.size() == 1 || int64_t(allowed.size()) == n_moe,
               "expert restriction: {} lists given; expected 1 (all MoE layers) or {} (one per MoE layer)",
               allowed.size(), n_moe);
  BANYAN_CHECK(!top_k_override || *top_k_override >= 1, "expert restriction: top-k override must be ≥ 1, not {}",
               top_k_override.value_or(0));
  masks_.assign(size_t(n_moe * num_experts_), 0);
  for (int64_t m = 0; m < n_moe; ++m) {
    const auto& list = allowed.size() == 1 ? allowed[0] : allowed[size_t(m)];
    BANYAN_CHECK(!list.empty(), "expert restriction: MoE layer {} allows no expert", m);
    for (int32_t e : list) {
      BANYAN_CHECK(e >= 0 && e < num_experts_, "expert restriction: MoE layer {}: expert {} outside [0, {})", m, e,
                   num_experts_);
      masks_[size_t(m * num_experts_ + e)] = 1;
    }
  }
}

ExpertRestriction ExpertRestriction::all(const ModelSpec& spec, std::optional<int> top_k_override) {
  std::vector<int32_t> every(size_t(spec.num_experts));
  for (int32_t e = 0; e < int32_t(spec.num_experts); ++e) every[size_t(e)] = e;
  return ExpertRestriction(spec, {every}, top_k_override);
}

int ExpertRestriction::allowed_count(int moe_ordinal) const {
  int n = 0;
  const uint8_t* m = mask(moe_ordinal);
  for (int64_t e = 0; e < num_experts_; ++e) n += m[e] != 0;
  return n;
}

}  // namespace banyan
