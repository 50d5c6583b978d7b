// RMSNorm: out = x / sqrt(mean(x²) + eps) · weight, in fp32 (Llama/Qwen/Mixtral/OLMoE convention).
#pragma once
#include <cstdint>

#include "runtime/ops/op_context.h"

namespace banyan::ops {

// n rows of `dim` values, rows `stride` apart in both x and out (out may alias x).
void rmsnorm(const OpContext& ctx, const float* x, int64_t n, int64_t dim, int64_t stride, const float* weight,
             float eps, float* out);

}  // namespace banyan::ops
