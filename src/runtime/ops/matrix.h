// A weight matrix as stored in the checkpoint: row-major [rows, cols], bf16/f16/f32, usually inside the mmap.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace banyan::ops {

struct Matrix {
  DType dtype = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;

  bool empty() const { return data == nullptr; }
  size_t row_bytes() const { return size_t(cols) * dtype_size(dtype); }
  const void* row(int64_t r) const { return static_cast<const uint8_t*>(data) + size_t(r) * row_bytes(); }
};

// Copies row `r` of `m` to fp32 `dst` (cols values).
void matrix_row_to_f32(const Matrix& m, int64_t r, float* dst);
// Every row of `m` as bf16 (rounded to nearest even) into `dst` (rows·cols values, row-major).
void matrix_to_bf16(const Matrix& m, uint16_t* dst);

}  // namespace banyan::ops
