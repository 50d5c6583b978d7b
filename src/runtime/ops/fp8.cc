// FP8 E4M3 encode / decode and per-row quantisation; see fp8.h.
#include "runtime/ops/fp8.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"

namespace banyan::ops {

namespace {
// The 256 code values, built from the format's definition (sign · 2^(e−7) · (1 + m/8), subnormals m · 2^−9).
std::array<float, 256> make_decode_table() {
  std::array<float, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const float sign = (c & 0x80) ? -1.0f : 1.0f;
    const int e = (c >> 3) & 0xf, m = c & 0x7;
    if (e == 0xf && m == 0x7) t[size_t(c)] = std::nanf("");
    else if (e == 0) t[size_t(c)] = sign * std::ldexp(float(m), -9);
    else t[size_t(c)] = sign * std::ldexp(1.0f + float(m) / 8.0f, e - 7);
  }
  return t;
}
const std::array<float, 256> kDecode = make_decode_table();
}  // namespace

uint8_t f32_to_e4m3(float f) {
  if (std::isnan(f)) return 0;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  const float a = std::fabs(f);
  if (a >= kE4m3Max) return sign | 0x7e;  // 448 = 1.75 · 2^8 (exponent field 15, mantissa 6)
  if (a < 0x1p-6f) {
    // Subnormal range: multiples of 2^-9 (exact scaling); the nearest, ties to even. 8 · 2^-9 is the smallest
    // normal, whose code is 0x08 too.
    return sign | uint8_t(std::nearbyint(a * 0x1p9f));
  }
  int ex = 0;
  const float fr = std::frexp(a, &ex);  // a = fr · 2^ex, fr in [0.5, 1)
  int e = ex - 1;                       // a = (2·fr) · 2^e, 2·fr in [1, 2)
  int m = int(std::nearbyint((2.0f * fr - 1.0f) * 8.0f));  // exact product; rounding to nearest even
  if (m == 8) {
    m = 0;
    ++e;
  }
  // a < 448 keeps e ≤ 8 and (at e = 8) m ≤ 6: no overflow past the largest finite code.
  return sign | uint8_t(((e + 7) << 3) | m);
}

float e4m3_to_f32(uint8_t code) { return kDecode[code]; }

float e4m3_row_scale(const float* x, int64_t cols) {
  float amax = 0.0f;
  for (int64_t c = 0; c < cols; ++c) {
    BANYAN_CHECK(std::isfinite(x[c]), "fp8 quantisation: non-finite weight {} at column {}", x[c], c);
    amax = std::max(amax, std::fabs(x[c]));
  }
  const float s = amax / kE4m3Max;
  return s > 0.0f ? s : 1.0f;  // all zero (or so tiny that the scale underflows): 1
}

void quantize_rows_e4m3(const Matrix& m, uint8_t* q, float* scale) {
  std::vector<float> row(size_t(m.cols));
  for (int64_t r = 0; r < m.rows; ++r) {
    matrix_row_to_f32(m, r, row.data());
    const float s = e4m3_row_scale(row.data(), m.cols);
    scale[r] = s;
    uint8_t* qr = q + r * m.cols;
    for (int64_t c = 0; c < m.cols; ++c) qr[c] = f32_to_e4m3(row[size_t(c)] / s);
  }
}

void dequantize_row_e4m3(const uint8_t* q, float scale, int64_t cols, float* dst) {
  for (int64_t c = 0; c < cols; ++c) dst[c] = kDecode[q[c]] * scale;
}

Matrix fp8_round_trip(const Matrix& m, float* dst) {
  std::vector<uint8_t> q(size_t(m.rows * m.cols));
  std::vector<float> scale(size_t(m.rows));
  quantize_rows_e4m3(m, q.data(), scale.data());
  for (int64_t r = 0; r < m.rows; ++r)
    dequantize_row_e4m3(q.data() + r * m.cols, scale[size_t(r)], m.cols, dst + r * m.cols);
  return Matrix{DType::F32, dst, m.rows, m.cols};
}

}  // namespace banyan::ops
