// FP8 E4M3 (OCP "E4M3FN": 1 sign, 4 exponent bits of bias 7, 3 mantissa bits, no infinities, only S.1111.111 is
// NaN, largest finite 448) with one fp32 scale per row: the routed-expert weight format of `--expert-dtype fp8`.
// Quantisation happens on the host, once, at load; the CUDA upload and the CPU reference both call
// quantize_rows_e4m3, so both engines see the same bytes and scales.
//
// Row r of a matrix stores q[r][c] = e4m3(w[r][c] / s[r]) with s[r] = max_c |w[r][c]| / 448 (1 for an all-zero
// row), so the largest entry maps to ±448; the value it stands for is e4m3_to_f32(q) · s[r].
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/ops/matrix.h"

namespace banyan::ops {

constexpr float kE4m3Max = 448.0f;

// Round to nearest, ties to even mantissa; |f| ≥ 448 (±inf included) saturates to ±448; NaN gives +0, so a NaN
// code (0x7f / 0xff) is never produced.
uint8_t f32_to_e4m3(float f);
// Exact value of a code (0x7f / 0xff: NaN).
float e4m3_to_f32(uint8_t code);

// Per-row scale of `cols` fp32 values (max |x| / 448; 1 when every value is zero). Fails on a non-finite value.
float e4m3_row_scale(const float* x, int64_t cols);
// Quantises every row of m (bf16 / f16 / f32): q gets m.rows·m.cols codes (row-major), scale m.rows scales.
void quantize_rows_e4m3(const Matrix& m, uint8_t* q, float* scale);
// dst[c] = e4m3_to_f32(q[c]) · scale for c < cols.
void dequantize_row_e4m3(const uint8_t* q, float scale, int64_t cols, float* dst);

// An fp32 matrix holding the values an fp8-quantised `m` stands for (quantize then dequantize, row by row): the
// CPU reference of the fp8 expert kernels. `dst` (m.rows·m.cols floats, the caller's) keeps the data; the returned
// Matrix points into it.
Matrix fp8_round_trip(const Matrix& m, float* dst);

}  // namespace banyan::ops
