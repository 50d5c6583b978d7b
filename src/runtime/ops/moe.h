// Grouped routed-expert SwiGLU: tokens are grouped by expert, each expert runs one small GEMM over its tokens,
// and each token's output is the routing-weighted sum of its experts' outputs (summed in slot order, so results
// do not depend on threads).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/ops/matrix.h"
#include "runtime/ops/op_context.h"

namespace banyan::ops {

struct ExpertWeights {
  Matrix gate;  // [inter, hidden]
  Matrix up;    // [inter, hidden]
  Matrix down;  // [hidden, inter]
};

// Reusable buffers (grown, never shrunk) so the decode path does not allocate.
struct MoeScratch {
  std::vector<int32_t> counts, offsets, order;  // assignments grouped by expert
  std::vector<int32_t> active;                  // experts with ≥1 token
  std::vector<float> expert_out;                // [n·k, hidden]: each assignment's unweighted output
};

// x [n, hidden] (rows ldx apart); ids/weights [n, k]; out [n, hidden] (rows ldo apart) is OVERWRITTEN with
// Σ_slot weight · expert(x). weighted_norm (nullable, [num_experts]) accumulates Σ weight · ‖expert(x)‖₂ and
// token_count (nullable) the number of tokens routed to each expert.
void moe_experts(const OpContext& ctx, const float* x, int64_t n, int64_t ldx, int64_t hidden, const int32_t* ids,
                 const float* weights, int k, std::span<const ExpertWeights> experts, MoeScratch& scratch, float* out,
                 int64_t ldo, double* weighted_norm = nullptr, int64_t* token_count = nullptr);

// Dense SwiGLU MLP (dense layers, shared experts): out = down(silu(gate x) · up x), OVERWRITTEN.
// `tmp` is grown to hold [n, 2·inter].
void dense_swiglu(const OpContext& ctx, const float* x, int64_t n, int64_t ldx, const ExpertWeights& w,
                  std::vector<float>& tmp, float* out, int64_t ldo);

}  // namespace banyan::ops
