// Highway implementations of simd.h; compiled once per SIMD target by foreach_target.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/ops/cpu/simd.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <algorithm>
#include <limits>

#include "core/dtype.h"
#include "runtime/ops/cpu/simd.h"

HWY_BEFORE_NAMESPACE();
namespace banyan::simd::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DU32 = hn::RebindToUnsigned<DF>;
using DU16 = hn::Rebind<uint16_t, DF>;  // half-width u16 vector with as many lanes as DF

template <class D>
HWY_INLINE hn::Vec<D> LoadBf16(D df, const uint16_t* p) {
  const DU32 du;
  const DU16 d16;
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, p))));
}
template <class D>
HWY_INLINE hn::Vec<D> LoadBf16Tail(D df, const uint16_t* p, size_t count) {
  alignas(64) uint16_t tmp[64] = {};
  for (size_t i = 0; i < count; ++i) tmp[i] = p[i];
  return LoadBf16(df, tmp);
}

HWY_INLINE float Sum(DF d, hn::Vec<DF> v) { return hn::GetLane(hn::SumOfLanes(d, v)); }

// 4 x-rows × 4 w-rows register tile; tails via masked loads (zeros beyond k).
void MatmulBlock4(const float* x, int64_t n, int64_t ldx, const float* const* w_in, int nw, int64_t k, float* y,
                  int64_t ldy) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  const float* w[4];
  for (int j = 0; j < 4; ++j) w[j] = w_in[j < nw ? j : 0];
  const int64_t k_main = k - k % N;
  const auto tail = hn::FirstN(d, size_t(k - k_main));
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float* x0 = x + i * ldx;
    const float* x1 = x0 + ldx;
    const float* x2 = x1 + ldx;
    const float* x3 = x2 + ldx;
    auto a00 = hn::Zero(d), a01 = hn::Zero(d), a02 = hn::Zero(d), a03 = hn::Zero(d);
    auto a10 = hn::Zero(d), a11 = hn::Zero(d), a12 = hn::Zero(d), a13 = hn::Zero(d);
    auto a20 = hn::Zero(d), a21 = hn::Zero(d), a22 = hn::Zero(d), a23 = hn::Zero(d);
    auto a30 = hn::Zero(d), a31 = hn::Zero(d), a32 = hn::Zero(d), a33 = hn::Zero(d);
    auto step = [&](auto v0, auto v1, auto v2, auto v3, auto w0, auto w1, auto w2, auto w3) {
      a00 = hn::MulAdd(v0, w0, a00); a01 = hn::MulAdd(v0, w1, a01);
      a02 = hn::MulAdd(v0, w2, a02); a03 = hn::MulAdd(v0, w3, a03);
      a10 = hn::MulAdd(v1, w0, a10); a11 = hn::MulAdd(v1, w1, a11);
      a12 = hn::MulAdd(v1, w2, a12); a13 = hn::MulAdd(v1, w3, a13);
      a20 = hn::MulAdd(v2, w0, a20); a21 = hn::MulAdd(v2, w1, a21);
      a22 = hn::MulAdd(v2, w2, a22); a23 = hn::MulAdd(v2, w3, a23);
      a30 = hn::MulAdd(v3, w0, a30); a31 = hn::MulAdd(v3, w1, a31);
      a32 = hn::MulAdd(v3, w2, a32); a33 = hn::MulAdd(v3, w3, a33);
    };
    for (int64_t kk = 0; kk < k_main; kk += N)
      step(hn::LoadU(d, x0 + kk), hn::LoadU(d, x1 + kk), hn::LoadU(d, x2 + kk), hn::LoadU(d, x3 + kk),
           hn::LoadU(d, w[0] + kk), hn::LoadU(d, w[1] + kk), hn::LoadU(d, w[2] + kk), hn::LoadU(d, w[3] + kk));
    if (k_main < k) {
      const int64_t kk = k_main;
      step(hn::MaskedLoad(tail, d, x0 + kk), hn::MaskedLoad(tail, d, x1 + kk), hn::MaskedLoad(tail, d, x2 + kk),
           hn::MaskedLoad(tail, d, x3 + kk), hn::MaskedLoad(tail, d, w[0] + kk), hn::MaskedLoad(tail, d, w[1] + kk),
           hn::MaskedLoad(tail, d, w[2] + kk), hn::MaskedLoad(tail, d, w[3] + kk));
    }
    float r[4][4] = {{Sum(d, a00), Sum(d, a01), Sum(d, a02), Sum(d, a03)},
                     {Sum(d, a10), Sum(d, a11), Sum(d, a12), Sum(d, a13)},
                     {Sum(d, a20), Sum(d, a21), Sum(d, a22), Sum(d, a23)},
                     {Sum(d, a30), Sum(d, a31), Sum(d, a32), Sum(d, a33)}};
    for (int ii = 0; ii < 4; ++ii)
      for (int j = 0; j < nw; ++j) y[(i + ii) * ldy + j] = r[ii][j];
  }
  for (; i < n; ++i) {
    const float* x0 = x + i * ldx;
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    for (int64_t kk = 0; kk < k_main; kk += N) {
      const auto v = hn::LoadU(d, x0 + kk);
      a0 = hn::MulAdd(v, hn::LoadU(d, w[0] + kk), a0);
      a1 = hn::MulAdd(v, hn::LoadU(d, w[1] + kk), a1);
      a2 = hn::MulAdd(v, hn::LoadU(d, w[2] + kk), a2);
      a3 = hn::MulAdd(v, hn::LoadU(d, w[3] + kk), a3);
    }
    if (k_main < k) {
      const auto v = hn::MaskedLoad(tail, d, x0 + k_main);
      a0 = hn::MulAdd(v, hn::MaskedLoad(tail, d, w[0] + k_main), a0);
      a1 = hn::MulAdd(v, hn::MaskedLoad(tail, d, w[1] + k_main), a1);
      a2 = hn::MulAdd(v, hn::MaskedLoad(tail, d, w[2] + k_main), a2);
      a3 = hn::MulAdd(v, hn::MaskedLoad(tail, d, w[3] + k_main), a3);
    }
    const float r[4] = {Sum(d, a0), Sum(d, a1), Sum(d, a2), Sum(d, a3)};
    for (int j = 0; j < nw; ++j) y[i * ldy + j] = r[j];
  }
}

// GEMV-shaped products (few x rows) straight from bf16 weights: each W element is widened in registers and used
// for every x row, so small batches pay no conversion pass through memory.
void MatmulBf16Rows4(const float* x, int64_t n, int64_t ldx, const uint16_t* const* w_in, int nw, int64_t k, float* y,
                     int64_t ldy) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  const uint16_t* w[4];
  for (int j = 0; j < 4; ++j) w[j] = w_in[j < nw ? j : 0];
  const int64_t k_main = k - k % N;
  const size_t rem = size_t(k - k_main);
  const auto tail = hn::FirstN(d, rem);
  int64_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const float* x0 = x + i * ldx;
    const float* x1 = x0 + ldx;
    auto a00 = hn::Zero(d), a01 = hn::Zero(d), a02 = hn::Zero(d), a03 = hn::Zero(d);
    auto a10 = hn::Zero(d), a11 = hn::Zero(d), a12 = hn::Zero(d), a13 = hn::Zero(d);
    auto step = [&](auto v0, auto v1, auto w0, auto w1, auto w2, auto w3) {
      a00 = hn::MulAdd(v0, w0, a00); a01 = hn::MulAdd(v0, w1, a01);
      a02 = hn::MulAdd(v0, w2, a02); a03 = hn::MulAdd(v0, w3, a03);
      a10 = hn::MulAdd(v1, w0, a10); a11 = hn::MulAdd(v1, w1, a11);
      a12 = hn::MulAdd(v1, w2, a12); a13 = hn::MulAdd(v1, w3, a13);
    };
    for (int64_t kk = 0; kk < k_main; kk += N)
      step(hn::LoadU(d, x0 + kk), hn::LoadU(d, x1 + kk), LoadBf16(d, w[0] + kk), LoadBf16(d, w[1] + kk),
           LoadBf16(d, w[2] + kk), LoadBf16(d, w[3] + kk));
    if (rem) {
      step(hn::MaskedLoad(tail, d, x0 + k_main), hn::MaskedLoad(tail, d, x1 + k_main),
           LoadBf16Tail(d, w[0] + k_main, rem), LoadBf16Tail(d, w[1] + k_main, rem),
           LoadBf16Tail(d, w[2] + k_main, rem), LoadBf16Tail(d, w[3] + k_main, rem));
    }
    const float r[2][4] = {{Sum(d, a00), Sum(d, a01), Sum(d, a02), Sum(d, a03)},
                           {Sum(d, a10), Sum(d, a11), Sum(d, a12), Sum(d, a13)}};
    for (int ii = 0; ii < 2; ++ii)
      for (int j = 0; j < nw; ++j) y[(i + ii) * ldy + j] = r[ii][j];
  }
  for (; i < n; ++i) {
    const float* x0 = x + i * ldx;
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    for (int64_t kk = 0; kk < k_main; kk += N) {
      const auto v = hn::LoadU(d, x0 + kk);
      a0 = hn::MulAdd(v, LoadBf16(d, w[0] + kk), a0);
      a1 = hn::MulAdd(v, LoadBf16(d, w[1] + kk), a1);
      a2 = hn::MulAdd(v, LoadBf16(d, w[2] + kk), a2);
      a3 = hn::MulAdd(v, LoadBf16(d, w[3] + kk), a3);
    }
    if (rem) {
      const auto v = hn::MaskedLoad(tail, d, x0 + k_main);
      a0 = hn::MulAdd(v, LoadBf16Tail(d, w[0] + k_main, rem), a0);
      a1 = hn::MulAdd(v, LoadBf16Tail(d, w[1] + k_main, rem), a1);
      a2 = hn::MulAdd(v, LoadBf16Tail(d, w[2] + k_main, rem), a2);
      a3 = hn::MulAdd(v, LoadBf16Tail(d, w[3] + k_main, rem), a3);
    }
    const float r[4] = {Sum(d, a0), Sum(d, a1), Sum(d, a2), Sum(d, a3)};
    for (int j = 0; j < nw; ++j) y[i * ldy + j] = r[j];
  }
}

float Dot(const float* a, const float* b, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), s1);
  }
  for (; i < n; i += N) {
    const auto m = hn::FirstN(d, size_t(n - i));
    s0 = hn::MulAdd(hn::MaskedLoad(m, d, a + i), hn::MaskedLoad(m, d, b + i), s0);
  }
  return Sum(d, hn::Add(s0, s1));
}

float DotBf16(const float* a, const uint16_t* b, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  auto s0 = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(d, a + i), LoadBf16(d, b + i), s0);
  if (i < n) {
    const auto m = hn::FirstN(d, size_t(n - i));
    s0 = hn::MulAdd(hn::MaskedLoad(m, d, a + i), LoadBf16Tail(d, b + i, size_t(n - i)), s0);
  }
  return Sum(d, s0);
}

void Axpy(float alpha, const float* x, float* y, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto va = hn::Set(d, alpha);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += alpha * x[i];
}

void AxpyBf16(float alpha, const uint16_t* x, float* y, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto va = hn::Set(d, alpha);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, LoadBf16(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += alpha * ::banyan::bf16_to_f32(x[i]);
}

void Bf16ToF32(const uint16_t* src, float* dst, int64_t n) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(LoadBf16(d, src + i), d, dst + i);
  for (; i < n; ++i) dst[i] = ::banyan::bf16_to_f32(src[i]);
}

// x = softmax(scale · x) in place (max-subtracted; exp to 1 ULP).
void SoftmaxScaled(float* x, int64_t n, float scale) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  const auto vs = hn::Set(d, scale);
  auto vmax = hn::Set(d, -std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto v = hn::Mul(hn::LoadU(d, x + i), vs);
    hn::StoreU(v, d, x + i);
    vmax = hn::Max(vmax, v);
  }
  float mx = hn::GetLane(hn::MaxOfLanes(d, vmax));
  for (; i < n; ++i) mx = std::max(mx, x[i] *= scale);
  const auto vm = hn::Set(d, mx);
  auto vsum = hn::Zero(d);
  for (i = 0; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vm));
    hn::StoreU(e, d, x + i);
    vsum = hn::Add(vsum, e);
  }
  if (i < n) {
    const auto m = hn::FirstN(d, size_t(n - i));
    const auto e = hn::IfThenElseZero(m, hn::Exp(d, hn::Sub(hn::MaskedLoad(m, d, x + i), vm)));
    hn::BlendedStore(e, m, d, x + i);
    vsum = hn::Add(vsum, e);
  }
  const auto inv = hn::Set(d, 1.0f / Sum(d, vsum));
  for (i = 0; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), inv), d, x + i);
  if (i < n) {
    const auto m = hn::FirstN(d, size_t(n - i));
    hn::BlendedStore(hn::Mul(hn::MaskedLoad(m, d, x + i), inv), m, d, x + i);
  }
}

// Full and partial (first `rem` lanes, rest zero) loads of fp32 or bf16 rows, widened to fp32.
HWY_INLINE hn::Vec<DF> LoadRow(DF d, const float* p) { return hn::LoadU(d, p); }
HWY_INLINE hn::Vec<DF> LoadRow(DF d, const uint16_t* p) { return LoadBf16(d, p); }
HWY_INLINE hn::Vec<DF> LoadRowTail(DF d, const float* p, int64_t, hn::Mask<DF> m) { return hn::MaskedLoad(m, d, p); }
HWY_INLINE hn::Vec<DF> LoadRowTail(DF d, const uint16_t* p, int64_t rem, hn::Mask<DF>) {
  return LoadBf16Tail(d, p, size_t(rem));
}

// One register tile of out = P · V: NR output rows × NV vectors of head dims starting at column c0, accumulated
// over all `len` V rows (each V row is loaded once per tile and used for every output row).
template <int NR, int NV, class T>
HWY_INLINE void PvTile(const float* p, int64_t ldp, const T* const* v, int64_t len, int64_t c0, int64_t hd,
                       float* const* out) {
  const DF d;
  const int64_t N = int64_t(hn::Lanes(d));
  const int64_t rem = hd - (c0 + (NV - 1) * N);  // lanes of the last vector (1..N)
  const bool partial = rem < N;
  const auto tail = hn::FirstN(d, size_t(rem));
  hn::Vec<DF> acc[NR][NV];
  for (int r = 0; r < NR; ++r)
    for (int c = 0; c < NV; ++c) acc[r][c] = hn::Zero(d);
  for (int64_t j = 0; j < len; ++j) {
    const T* row = v[j] + c0;
    hn::Vec<DF> vv[NV];
    for (int c = 0; c < NV; ++c)
      vv[c] = (c == NV - 1 && partial) ? LoadRowTail(d, row + c * N, rem, tail) : LoadRow(d, row + c * N);
    for (int r = 0; r < NR; ++r) {
      const auto pr = hn::Set(d, p[r * ldp + j]);
      for (int c = 0; c < NV; ++c) acc[r][c] = hn::MulAdd(pr, vv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int c = 0; c < NV; ++c) {
      float* o = out[r] + c0 + c * N;
      if (c == NV - 1 && partial) hn::BlendedStore(acc[r][c], tail, d, o);
      else hn::StoreU(acc[r][c], d, o);
    }
}

template <int NR, class T>
HWY_INLINE void PvRows(const float* p, int64_t ldp, const T* const* v, int64_t len, int64_t hd, float* const* out) {
  const int64_t N = int64_t(hn::Lanes(DF()));
  for (int64_t c0 = 0; c0 < hd; c0 += 4 * N) {
    switch (std::min<int64_t>(4, (hd - c0 + N - 1) / N)) {
      case 1: PvTile<NR, 1>(p, ldp, v, len, c0, hd, out); break;
      case 2: PvTile<NR, 2>(p, ldp, v, len, c0, hd, out); break;
      case 3: PvTile<NR, 3>(p, ldp, v, len, c0, hd, out); break;
      default: PvTile<NR, 4>(p, ldp, v, len, c0, hd, out); break;
    }
  }
}

template <class T>
HWY_INLINE void AttentionPvT(const float* p, int64_t ldp, int64_t rows, const T* const* v, int64_t len, int64_t hd,
                             float* const* out) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) PvRows<4>(p + r * ldp, ldp, v, len, hd, out + r);
  for (; r + 2 <= rows; r += 2) PvRows<2>(p + r * ldp, ldp, v, len, hd, out + r);
  for (; r < rows; ++r) PvRows<1>(p + r * ldp, ldp, v, len, hd, out + r);
}

void AttentionPv(const float* p, int64_t ldp, int64_t rows, const float* const* v, int64_t len, int64_t hd,
                 float* const* out) {
  AttentionPvT(p, ldp, rows, v, len, hd, out);
}
void AttentionPvBf16(const float* p, int64_t ldp, int64_t rows, const uint16_t* const* v, int64_t len, int64_t hd,
                     float* const* out) {
  AttentionPvT(p, ldp, rows, v, len, hd, out);
}

float SumSquares(const float* x, int64_t n) { return Dot(x, x, n); }

}  // namespace banyan::simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace banyan::simd {
HWY_EXPORT(MatmulBlock4);
HWY_EXPORT(MatmulBf16Rows4);
HWY_EXPORT(Dot);
HWY_EXPORT(DotBf16);
HWY_EXPORT(Axpy);
HWY_EXPORT(AxpyBf16);
HWY_EXPORT(Bf16ToF32);
HWY_EXPORT(SumSquares);
HWY_EXPORT(SoftmaxScaled);
HWY_EXPORT(AttentionPv);
HWY_EXPORT(AttentionPvBf16);

void matmul_block4(const float* x, int64_t n, int64_t ldx, const float* const* w, int nw, int64_t k, float* y,
                   int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(MatmulBlock4)(x, n, ldx, w, nw, k, y, ldy);
}
void matmul_bf16_rows4(const float* x, int64_t n, int64_t ldx, const uint16_t* const* w, int nw, int64_t k, float* y,
                       int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(MatmulBf16Rows4)(x, n, ldx, w, nw, k, y, ldy);
}
float dot(const float* a, const float* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(Dot)(a, b, n); }
float dot_bf16(const float* a, const uint16_t* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(DotBf16)(a, b, n); }
void axpy(float alpha, const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(Axpy)(alpha, x, y, n); }
void axpy_bf16(float alpha, const uint16_t* x, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyBf16)(alpha, x, y, n);
}
void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) { HWY_DYNAMIC_DISPATCH(Bf16ToF32)(src, dst, n); }
void f32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = banyan::f32_to_bf16(src[i]);
}
float sum_squares(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(SumSquares)(x, n); }
void softmax_scaled(float* x, int64_t n, float scale) { HWY_DYNAMIC_DISPATCH(SoftmaxScaled)(x, n, scale); }
void attention_pv(const float* p, int64_t ldp, int64_t rows, const float* const* v, int64_t len, int64_t hd,
                  float* const* out) {
  HWY_DYNAMIC_DISPATCH(AttentionPv)(p, ldp, rows, v, len, hd, out);
}
void attention_pv_bf16(const float* p, int64_t ldp, int64_t rows, const uint16_t* const* v, int64_t len, int64_t hd,
                       float* const* out) {
  HWY_DYNAMIC_DISPATCH(AttentionPvBf16)(p, ldp, rows, v, len, hd, out);
}
}  // namespace banyan::simd
#endif
