// CPU matmul: W rows are widened to fp32 four at a time into a small per-thread buffer (no whole-model copy),
// then multiplied against blocks of x rows with a 4×4 register tile.
#include <algorithm>
#include <vector>

#include "core/error.h"
#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/cpu/simd.h"
#include "runtime/ops/matmul.h"

namespace banyan::ops {

void matrix_row_to_f32(const Matrix& m, int64_t r, float* dst) {
  switch (m.dtype) {
    case DType::F32: std::copy_n(static_cast<const float*>(m.row(r)), m.cols, dst); break;
    case DType::BF16: simd::bf16_to_f32(static_cast<const uint16_t*>(m.row(r)), dst, m.cols); break;
    default: convert_to_f32(m.dtype, m.row(r), dst, size_t(m.cols)); break;
  }
}

void matrix_to_bf16(const Matrix& m, uint16_t* dst) {
  std::vector<float> row(size_t(m.cols));
  for (int64_t r = 0; r < m.rows; ++r) {
    matrix_row_to_f32(m, r, row.data());
    for (int64_t c = 0; c < m.cols; ++c) dst[r * m.cols + c] = f32_to_bf16(row[size_t(c)]);
  }
}

namespace {
constexpr int64_t kRowBlock = 4;   // W rows per register tile
constexpr int64_t kXBlock = 64;    // x rows kept hot in cache while a thread walks its W rows

constexpr int64_t kDirectMaxRows = 2;  // up to this many x rows, bf16 weights are widened in registers

void matmul_rows(const float* x, int64_t n, int64_t ldx, const Matrix& w, int64_t r0, int64_t r1, float* y,
                 int64_t ldy) {
  if (w.dtype == DType::BF16 && n <= kDirectMaxRows) {
    for (int64_t r = r0; r < r1; r += kRowBlock) {
      const int nw = int(std::min(kRowBlock, r1 - r));
      const uint16_t* rows[kRowBlock];
      for (int j = 0; j < nw; ++j) rows[j] = static_cast<const uint16_t*>(w.row(r + j));
      simd::matmul_bf16_rows4(x, n, ldx, rows, nw, w.cols, y + r, ldy);
    }
    return;
  }
  thread_local std::vector<float> wbuf;
  const int64_t k = w.cols;
  if (w.dtype != DType::F32 && wbuf.size() < size_t(kRowBlock * k)) wbuf.resize(size_t(kRowBlock * k));
  for (int64_t i0 = 0; i0 < n; i0 += kXBlock) {
    const int64_t ni = std::min(kXBlock, n - i0);
    for (int64_t r = r0; r < r1; r += kRowBlock) {
      const int nw = int(std::min(kRowBlock, r1 - r));
      const float* rows[kRowBlock];
      for (int j = 0; j < nw; ++j) {
        if (w.dtype == DType::F32) {
          rows[j] = static_cast<const float*>(w.row(r + j));
        } else {
          matrix_row_to_f32(w, r + j, wbuf.data() + j * k);
          rows[j] = wbuf.data() + j * k;
        }
      }
      simd::matmul_block4(x + i0 * ldx, ni, ldx, rows, nw, k, y + i0 * ldy + r, ldy);
    }
  }
}
}  // namespace

void matmul_serial(const float* x, int64_t n, int64_t ldx, const Matrix& w, float* y, int64_t ldy) {
  if (n <= 0 || w.rows == 0) return;
  matmul_rows(x, n, ldx, w, 0, w.rows, y, ldy);
}

void matmul(const OpContext& ctx, const float* x, int64_t n, int64_t ldx, const Matrix& w, float* y, int64_t ldy) {
  if (n <= 0 || w.rows == 0) return;
  const int64_t blocks = (w.rows + kRowBlock - 1) / kRowBlock;
  parallel_ops(ctx, blocks, n * w.rows * w.cols, [&](int64_t b0, int64_t b1) {
    matmul_rows(x, n, ldx, w, b0 * kRowBlock, std::min(w.rows, b1 * kRowBlock), y, ldy);
  });
}

void add_bias(float* y, int64_t n, int64_t m, int64_t ldy, const float* bias) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) y[i * ldy + j] += bias[j];
}

}  // namespace banyan::ops
