// y[n, m] = x[n, k] · Wᵀ for W [m, k] in bf16/f16/f32 (read in place), fp32 accumulation.
#pragma once
#include "runtime/ops/matrix.h"
#include "runtime/ops/op_context.h"

namespace banyan::ops {

// Rows of x are ldx apart, rows of y ldy apart (ldy ≥ m). Parallel over W rows when large.
void matmul(const OpContext& ctx, const float* x, int64_t n, int64_t ldx, const Matrix& w, float* y, int64_t ldy);
// Same on the calling thread only (for use inside an already parallel loop).
void matmul_serial(const float* x, int64_t n, int64_t ldx, const Matrix& w, float* y, int64_t ldy);

// Adds a bias (fp32, length m) to every row of y [n, m].
void add_bias(float* y, int64_t n, int64_t m, int64_t ldy, const float* bias);

}  // namespace banyan::ops
