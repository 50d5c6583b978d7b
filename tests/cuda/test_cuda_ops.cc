// The decode-path CUDA ops the engine test covers only through whole models, against their CPU twins on fresh
// random data and at the Qwen3-30B-A3B widths: the GEMV (ops::matmul_serial), the LM-head argmax (a plain scan:
// lowest index on ties, NaN never chosen), the warp router top-k (ops::router_topk) and the per-head attention
// input chain (a CPU loop). Outputs are poisoned before each call so an unwritten element fails. Needs a CUDA device: skips without one.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "cuda_test_util.h"
#include "runtime/ops/cuda/elementwise_cuda.h"
#include "runtime/ops/cuda/matmul_cuda.h"
#include "runtime/ops/cuda/router_cuda.h"
#include "runtime/ops/kv_layout.h"
#include "runtime/ops/matmul.h"
#include "runtime/ops/router.h"

namespace banyan::ops {
namespace {

using cuda_test::Dev;

std::vector<float> uniform(size_t n, float a, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-a, a);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Skips without a device; owns stream_.
class CudaOps : public cuda_test::StreamTest {};

// y = x·Wᵀ (and y += x·Wᵀ) for n ≤ kGemvMaxRows through the GEMV kernels: bf16 and fp32 weights, the model's
// widths (k 2048 and 4096: whole rounds of loads; 768 and 1000: partial rounds; 36: the scalar fallback), row
// counts that leave the last CTA partly empty, and x rows with padding (ldx > k).
// A projection's result against the CPU matmul of the same x and (rounded) weights: the largest |got − want| and
// |want| over the n×m block of y (rows ldy apart; want = x·Wᵀ, + y0 when accumulating), and the first element left
// unwritten (non-finite; outputs are poisoned), -1 if none.
struct ProjectionError {
  double worst = 0, scale = 0;
  int64_t first_unwritten = -1;
};

ProjectionError projection_error(const std::vector<float>& got, const std::vector<float>& x, int64_t ldx,
                                 const Matrix& w, const std::vector<float>& y0, int64_t n, int64_t ldy, bool acc) {
  std::vector<float> ref(size_t(n * ldy), 0.0f);
  matmul_serial(x.data(), n, ldx, w, ref.data(), ldy);
  ProjectionError e;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < w.rows; ++c) {
      const size_t i = size_t(r * ldy + c);
      const double want = ref[i] + (acc ? y0[i] : 0.0f);
      if (!std::isfinite(got[i])) {
        if (e.first_unwritten < 0) e.first_unwritten = int64_t(i);
        continue;
      }
      e.worst = std::max(e.worst, std::fabs(double(got[i]) - want));
      e.scale = std::max(e.scale, std::fabs(want));
    }
  return e;
}

TEST_F(CudaOps, GemvMatchesCpuMatmul) {
  cuda::Matmul mm(stream_);
  uint32_t seed = 1;
  for (DType dt : {DType::BF16, DType::F32})
    for (int64_t k : {2048, 4096, 768, 1000, 36})
      for (int64_t m : {int64_t(130), int64_t(2051)})
        for (int64_t n : {1, 3, 8})
          for (bool acc : {false, true}) {
            const int64_t ldx = k + 4, ldy = m + 3;
            std::vector<float> wf = uniform(size_t(m * k), 0.05f, seed++);
            std::vector<uint16_t> wb(wf.size());
            for (size_t i = 0; i < wf.size(); ++i) {
              wb[i] = f32_to_bf16(wf[i]);
              wf[i] = bf16_to_f32(wb[i]);  // the reference reads the same rounded weights
            }
            const std::vector<float> x = uniform(size_t(n * ldx), 1.0f, seed++);
            const std::vector<float> y0 = uniform(size_t(n * ldy), 1.0f, seed++);
            Dev<float> dx(x), dy(y0), dwf(wf);
            Dev<uint16_t> dwb(wb);
            if (!acc) dy.poison();
            cuda::DeviceMatrix w{dt, dt == DType::BF16 ? static_cast<const void*>(dwb.p) : dwf.p, m, k};
            mm.run(dx.p, n, ldx, w, dy.p, ldy, acc);
            ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
            const std::vector<float> got = dy.get();
            const ProjectionError e = projection_error(got, x, ldx, Matrix{DType::F32, wf.data(), m, k}, y0, n, ldy, acc);
            ASSERT_EQ(e.first_unwritten, -1) << "element " << e.first_unwritten << " not written";
            EXPECT_LE(e.worst, 1e-5 * e.scale) << dtype_name(dt) << " n " << n << " m " << m << " k " << k << " acc "
                                               << acc;
            // Padding columns of y stay as they were.
            if (acc) {
              for (int64_t r = 0; r < n; ++r)
                for (int64_t c = m; c < ldy; ++c) ASSERT_EQ(got[size_t(r * ldy + c)], y0[size_t(r * ldy + c)]);
            }
          }
}

// n > kGemvMaxRows, bf16 weights: the stacked [hi; lo] GEMM (n ≤ kStackedMaxRows) and the two-GEMM path above it,
// y = and y +=, against the CPU matmul on the same rounded weights. The hi + lo split keeps ~16 mantissa bits of x.
TEST_F(CudaOps, SplitBf16GemmMatchesCpuMatmul) {
  cuda::Matmul mm(stream_);
  uint32_t seed = 101;
  for (int64_t n : {int64_t(9), int64_t(32), cuda::kStackedMaxRows, cuda::kStackedMaxRows + 1})
    for (int64_t m : {int64_t(130), int64_t(2051)})
      for (bool acc : {false, true}) {
        const int64_t k = 2048, ldx = k + 4, ldy = m + 3;
        std::vector<float> wf = uniform(size_t(m * k), 0.05f, seed++);
        std::vector<uint16_t> wb(wf.size());
        for (size_t i = 0; i < wf.size(); ++i) {
          wb[i] = f32_to_bf16(wf[i]);
          wf[i] = bf16_to_f32(wb[i]);
        }
        const std::vector<float> x = uniform(size_t(n * ldx), 1.0f, seed++);
        const std::vector<float> y0 = uniform(size_t(n * ldy), 1.0f, seed++);
        Dev<float> dx(x), dy(y0);
        Dev<uint16_t> dwb(wb);
        if (!acc) dy.poison();
        mm.run(dx.p, n, ldx, cuda::DeviceMatrix{DType::BF16, dwb.p, m, k}, dy.p, ldy, acc);
        ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
        const std::vector<float> got = dy.get();
        const ProjectionError e = projection_error(got, x, ldx, Matrix{DType::F32, wf.data(), m, k}, y0, n, ldy, acc);
        ASSERT_EQ(e.first_unwritten, -1) << "element " << e.first_unwritten << " not written";
        EXPECT_LE(e.worst, 1e-4 * e.scale) << "n " << n << " m " << m << " acc " << acc;
      }
}

int32_t cpu_argmax(const float* r, int64_t w) {
  float bv = -std::numeric_limits<float>::infinity();
  int32_t bi = 0;
  for (int64_t j = 0; j < w; ++j)
    if (r[j] > bv) {
      bv = r[j];
      bi = int32_t(j);
    }
  return bi;
}

// Vocabulary-wide rows (151936: the float4 path) and an odd width (the scalar path); the maximum planted several
// times (lowest index wins), NaNs beside it (never chosen), an all -inf row (index 0).
TEST_F(CudaOps, ArgmaxRowsMatchesScan) {
  for (int64_t w : {int64_t(151936), int64_t(1001)}) {
    const int64_t n = 6;
    std::vector<float> x = uniform(size_t(n * w), 10.0f, uint32_t(w));
    std::mt19937 rng(7);
    std::uniform_int_distribution<int64_t> col(0, w - 1);
    for (int64_t r = 0; r < 4; ++r) {
      const float top = 20.0f + float(r);
      for (int t = 0; t < 1 + int(r); ++t) x[size_t(r * w + col(rng))] = top;  // r + 1 tied maxima
      x[size_t(r * w + col(rng))] = std::nanf("");
    }
    x[size_t(4 * w + w - 1)] = 50.0f;  // the maximum at the very end
    for (int64_t j = 0; j < w; ++j) x[size_t(5 * w + j)] = -std::numeric_limits<float>::infinity();
    Dev<float> dx(x);
    Dev<int32_t> ids{static_cast<size_t>(n)};
    ids.poison();
    cuda::argmax_rows(dx.p, n, w, ids.p, stream_);
    ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
    const std::vector<int32_t> got = ids.get();
    for (int64_t r = 0; r < n; ++r) EXPECT_EQ(got[size_t(r)], cpu_argmax(x.data() + r * w, w)) << "w " << w << " row " << r;
  }
}

// The warp kernel (E ≤ 256) and the block kernel (E > 256) against the CPU router: with and without a restriction
// mask, per-row k below kmax, renormalised or not, with the unmasked probabilities (router taps).
TEST_F(CudaOps, RouterTopkMatchesCpu) {
  uint32_t seed = 11;
  for (int64_t E : {int64_t(128), int64_t(60), int64_t(256), int64_t(300)})
    for (bool masked : {false, true})
      for (bool renorm : {true, false}) {
        const int64_t n = 37;
        const int kmax = 8, k = masked ? 6 : 8;
        std::vector<float> logits = uniform(size_t(n * E), 4.0f, seed++);
        logits[5] = logits[9];  // a tie in row 0
        std::vector<uint8_t> mask(size_t(E), 1);
        if (masked)
          for (int64_t e = 0; e < E; e += 3) mask[size_t(e)] = 0;
        Dev<float> dl(logits), dprobs(size_t(n * E)), dw(size_t(n * kmax));
        Dev<int32_t> dids(size_t(n * kmax)), drow_k(std::vector<int32_t>(size_t(n), k));
        Dev<uint8_t> dmask(mask);
        std::vector<const uint8_t*> rows(size_t(n), masked ? dmask.p : nullptr);
        Dev<const uint8_t*> drows(rows);
        dprobs.poison();
        dw.poison();
        dids.poison();
        cuda::router_topk(dl.p, n, E, drows.p, 0, drow_k.p, kmax, renorm, dprobs.p, dids.p, dw.p, stream_);
        ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
        const std::vector<float> probs = dprobs.get(), wts = dw.get();
        const std::vector<int32_t> ids = dids.get();
        for (int64_t t = 0; t < n; ++t) {
          RouterConfig cfg{E, k, renorm};
          std::vector<float> p(static_cast<size_t>(E)), rw(static_cast<size_t>(k));
          std::vector<int32_t> ri(static_cast<size_t>(k));
          const int kout = router_topk(OpContext{}, cfg, logits.data() + t * E, 1, masked ? mask.data() : nullptr,
                                       p.data(), ri.data(), rw.data());
          ASSERT_EQ(kout, k);
          for (int64_t e = 0; e < E; ++e)
            ASSERT_NEAR(probs[size_t(t * E + e)], p[size_t(e)], 1e-6f) << "E " << E << " row " << t;
          for (int j = 0; j < kmax; ++j) {
            const size_t i = size_t(t * kmax + j);
            if (j < k) {
              EXPECT_EQ(ids[i], ri[size_t(j)]) << "E " << E << " row " << t << " slot " << j;
              EXPECT_NEAR(wts[i], rw[size_t(j)], 1e-6f) << "E " << E << " row " << t << " slot " << j;
            } else {
              EXPECT_EQ(ids[i], ri[0]) << "padding slot repeats the first expert";
              EXPECT_EQ(wts[i], 0.0f) << "padding slot weighs nothing";
            }
          }
        }
      }
}

// The attention input chain (bias, per-head q/k RMSNorm, clip, RoPE, K/V store) at head sizes 128 (Qwen3-30B)
// and 32 (the RoPE pair split over lanes) against a plain CPU loop: q/k/v written back to the qkv buffer, K and V
// at their page slots (fp32 exactly as computed; bf16 as the rounded value).
TEST_F(CudaOps, QkvChainMatchesCpu) {
  uint32_t seed = 21;
  for (int64_t hd : {int64_t(128), int64_t(32)})
    for (DType kv_dtype : {DType::F32, DType::BF16})
      for (float clip : {0.0f, 0.7f}) {
        const int64_t Hq = 4, Hkv = 2, n = 3, half = hd / 2;
        const int64_t q_dim = Hq * hd, kv_dim = Hkv * hd, qs = q_dim + 2 * kv_dim, stride = qs + 8;
        const std::vector<int32_t> pos = {5, 17, 40};
        KvLayout layout{2, Hkv, hd, 16, kv_dtype};
        const int64_t layer = 1;
        std::vector<float> x = uniform(size_t(n * stride), 2.0f, seed++);
        const std::vector<float> bias = uniform(size_t(qs), 0.5f, seed++);
        std::vector<float> qn = uniform(size_t(hd), 1.0f, seed++), kn = uniform(size_t(hd), 1.0f, seed++);
        std::vector<float> cs(size_t(n * half)), sn(size_t(n * half));
        for (int64_t r = 0; r < n; ++r)
          for (int64_t j = 0; j < half; ++j) {
            const double a = double(pos[size_t(r)]) * std::pow(10000.0, -2.0 * double(j) / double(hd));
            cs[size_t(r * half + j)] = float(std::cos(a));
            sn[size_t(r * half + j)] = float(std::sin(a));
          }
        // CPU reference, in the engine's order.
        std::vector<float> ref = x;
        for (int64_t r = 0; r < n; ++r) {
          float* q = ref.data() + r * stride;
          for (int64_t j = 0; j < qs; ++j) q[j] += bias[size_t(j)];
          for (int64_t h = 0; h < Hq + Hkv; ++h) {
            float* v = q + h * hd;
            const float* w = h < Hq ? qn.data() : kn.data();
            float ss = 0.0f;
            for (int64_t j = 0; j < hd; ++j) ss += v[j] * v[j];
            const float inv = 1.0f / std::sqrt(ss / float(hd) + 1e-6f);
            for (int64_t j = 0; j < hd; ++j) v[j] = w[j] * (v[j] * inv);
          }
          if (clip > 0)
            for (int64_t j = 0; j < qs; ++j) q[j] = std::min(std::max(q[j], -clip), clip);
          for (int64_t h = 0; h < Hq + Hkv; ++h) {
            float* v = q + h * hd;
            for (int64_t j = 0; j < half; ++j) {
              const float a = v[j], b = v[j + half], c = cs[size_t(r * half + j)], s = sn[size_t(r * half + j)];
              v[j] = a * c - b * s;
              v[j + half] = b * c + a * s;
            }
          }
        }
        Dev<float> dx(x), dbias(bias), dqn(qn), dkn(kn), dcos(cs), dsin(sn);
        Dev<int32_t> dpos(pos);
        Dev<uint8_t> pages(size_t(n) * layout.page_bytes());
        std::vector<uint8_t*> row_page(static_cast<size_t>(n));
        for (int64_t r = 0; r < n; ++r) row_page[size_t(r)] = pages.p + size_t(r) * layout.page_bytes();
        Dev<uint8_t*> drow_page(row_page);
        pages.poison();
        cuda::QkvChain c;
        c.num_heads = Hq;
        c.num_kv_heads = Hkv;
        c.head_dim = hd;
        c.rotary_dim = hd;
        c.bias = dbias.p;
        c.qk_norm = QkNorm::PerHead;
        c.q_norm = dqn.p;
        c.k_norm = dkn.p;
        c.eps = 1e-6f;
        c.clip = clip;
        cuda::qkv_chain(c, dx.p, n, stride, dcos.p, dsin.p, layout, layer, drow_page.p, dpos.p, stream_);
        ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
        const std::vector<float> got = dx.get();
        const std::vector<uint8_t> pg = pages.get();
        const std::string what = "hd " + std::to_string(hd) + " kv " + std::string(dtype_name(kv_dtype)) + " clip " +
                                 std::to_string(clip);
        for (int64_t r = 0; r < n; ++r) {
          for (int64_t j = 0; j < qs; ++j)
            ASSERT_NEAR(got[size_t(r * stride + j)], ref[size_t(r * stride + j)], 2e-5f) << what << " row " << r
                                                                                         << " col " << j;
          const int64_t slot = pos[size_t(r)] % layout.page_tokens;
          for (int v = 0; v < 2; ++v)
            for (int64_t j = 0; j < kv_dim; ++j) {
              const uint8_t* at = pg.data() + size_t(r) * layout.page_bytes() + layout.offset(layer, v, slot) +
                                  size_t(j) * layout.elem_size();
              float stored;
              if (kv_dtype == DType::F32) std::memcpy(&stored, at, 4);
              else {
                uint16_t b;
                std::memcpy(&b, at, 2);
                stored = bf16_to_f32(b);
              }
              const float want = ref[size_t(r * stride + q_dim + v * kv_dim + j)];
              const float tol = kv_dtype == DType::F32 ? 2e-5f : 1e-2f * std::max(1.0f, std::fabs(want));
              ASSERT_NEAR(stored, want, tol) << what << " row " << r << (v ? " V " : " K ") << j;
            }
        }
      }
}

}  // namespace
}  // namespace banyan::ops
