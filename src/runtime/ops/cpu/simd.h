// SIMD kernels (Highway, dispatched at run time to the best target of the CPU) shared by the CPU ops.
// All arithmetic is fp32; bf16 inputs are widened exactly (bf16 → f32 is a shift).
#pragma once
#include <cstddef>
#include <cstdint>

namespace banyan::simd {

// y[i*ldy + j] = Σ_k x[i*ldx + k] · w[j][k]  for i < n, j < nw (nw in 1..4); w rows are fp32, length k.
void matmul_block4(const float* x, int64_t n, int64_t ldx, const float* const* w, int nw, int64_t k, float* y,
                   int64_t ldy);

// Same with bf16 weight rows read in place (for few x rows, where converting W first would not pay off).
void matmul_bf16_rows4(const float* x, int64_t n, int64_t ldx, const uint16_t* const* w, int nw, int64_t k, float* y,
                       int64_t ldy);

float dot(const float* a, const float* b, int64_t n);
float dot_bf16(const float* a, const uint16_t* b, int64_t n);  // b in bf16
void axpy(float alpha, const float* x, float* y, int64_t n);    // y += alpha·x
void axpy_bf16(float alpha, const uint16_t* x, float* y, int64_t n);
void bf16_to_f32(const uint16_t* src, float* dst, int64_t n);
void f32_to_bf16(const float* src, uint16_t* dst, int64_t n);  // round to nearest even
float sum_squares(const float* x, int64_t n);

// x = softmax(scale · x) over n values, in place.
void softmax_scaled(float* x, int64_t n, float scale);

// Attention's P·V: out[r][c] = Σ_{j<len} p[r·ldp + j] · v[j][c] for r < rows, c < hd (out rows OVERWRITTEN).
// V rows are given by pointer (they live in KV-cache pages); each is loaded once per register tile of output rows.
void attention_pv(const float* p, int64_t ldp, int64_t rows, const float* const* v, int64_t len, int64_t hd,
                  float* const* out);
void attention_pv_bf16(const float* p, int64_t ldp, int64_t rows, const uint16_t* const* v, int64_t len, int64_t hd,
                       float* const* out);

}  // namespace banyan::simd
