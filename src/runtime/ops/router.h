// MoE routing from router logits: softmax over experts (fp32), optional restriction to an allowed set, top-k,
// optional renormalisation of the chosen weights.
//
// Restriction semantics (DESIGN.md "Invariant"): routing restricted to an allowed set is exactly routing in a
// bundle that holds only those experts: the softmax runs over the allowed experts only (equivalently, the logits
// of the others are −∞), the family's own top-k and renormalisation follow, and k = min(top_k, allowed count).
// For families that renormalise (Qwen3-MoE, Mixtral) the weights do not depend on the softmax's support; for
// those that do not (Qwen2-MoE, OLMoE with norm_topk_prob=false) the restricted softmax is what makes a sliced
// bundle and a masked full model agree.
#pragma once
#include <cstdint>

#include "runtime/ops/op_context.h"

namespace banyan::ops {

struct RouterConfig {
  int64_t num_experts = 0;
  int top_k = 0;
  bool renormalize = false;  // divide the chosen weights by their sum
};

// For each of n tokens (logits rows `num_experts` apart):
//   probs_unmasked (nullable) [n, E]: softmax over all experts (what router taps report);
//   ids [n, k_out], weights [n, k_out]: chosen experts (descending probability, ties → lower id) and weights,
//   where k_out = min(top_k, allowed count) is returned. `allowed` (nullable): E bytes, nonzero = allowed.
// Errors if `allowed` allows no expert.
int router_topk(const OpContext& ctx, const RouterConfig& cfg, const float* logits, int64_t n, const uint8_t* allowed,
                float* probs_unmasked, int32_t* ids, float* weights);

}  // namespace banyan::ops
