// Small per-row ops: embedding lookup, RMSNorm, SwiGLU gating, residual add.
#include <cmath>

#include "core/error.h"
#include "runtime/ops/activation.h"
#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/cpu/simd.h"
#include "runtime/ops/embedding.h"
#include "runtime/ops/rmsnorm.h"

namespace banyan::ops {

void embedding(const OpContext& ctx, const Matrix& table, const int32_t* ids, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i)
    BANYAN_CHECK(ids[i] >= 0 && ids[i] < table.rows, "token id {} outside the vocabulary [0, {})", ids[i],
                 table.rows);
  parallel_ops(ctx, n, n * table.cols, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) matrix_row_to_f32(table, ids[i], out + i * table.cols);
  });
}

void rmsnorm(const OpContext& ctx, const float* x, int64_t n, int64_t dim, int64_t stride, const float* weight,
             float eps, float* out) {
  parallel_ops(ctx, n, n * dim * 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* xi = x + i * stride;
      float* oi = out + i * stride;
      const float inv = 1.0f / std::sqrt(simd::sum_squares(xi, dim) / float(dim) + eps);
      for (int64_t j = 0; j < dim; ++j) oi[j] = weight[j] * (xi[j] * inv);
    }
  });
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void residual_add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace banyan::ops
