// GEMV for decode (one warp per weight row, its loads all in flight, all x rows at once so each weight byte is read once) and cuBLAS GEMMs
// for prefill; see matmul_cuda.h.
#include <cuda_bf16.h>

#include <cstdlib>
#include <string>

#include "runtime/ops/cuda/cuda_check.h"
#include "runtime/ops/cuda/elementwise_cuda.h"
#include "runtime/ops/cuda/matmul_cuda.h"
#include "runtime/ops/cuda/moe_cuda_gemv.cuh"
#include "runtime/ops/cuda/pdl_cuda.cuh"
#include "runtime/ops/cuda/reduce_cuda.cuh"

namespace banyan::ops::cuda {

namespace {
constexpr int kWarps = 8;          // the scalar fallback's warps per CTA

// Vectorised: bf16 W rows as 8-element (16-byte) chunks, fp32 W as 4-element chunks; requires k % chunk == 0 and
// 16-byte aligned rows of W and x (checked by the caller). One warp per W row; each lane issues its U streaming
// 16-byte weight loads (skipping L1, so x stays there) before using any: a 2048-wide bf16 row is one round of 8
// loads in flight per lane, which is what keeps HBM busy with only ~16-40 warps per SM (Little's law: ~30 KB in
// flight per SM at 4.5 TB/s). Small CTAs (4 warps) spread the rows evenly over the 132 SMs.
template <class W, int NR, int U, int WARPS>
__global__ void __launch_bounds__(WARPS * 32) gemv_kernel(const float* __restrict__ x, int64_t ldx,
                                                            const W* __restrict__ w, int64_t m, int64_t k,
                                                            float* __restrict__ y, int64_t ldy, bool accumulate) {
  constexpr int C = moe_detail::Chunk<W>::N;
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * WARPS + (threadIdx.x >> 5);
  if (row >= m) return;
  const W* wr = w + row * k;
  const int nch = int(k / C);
  float acc[NR];
#pragma unroll
  for (int r = 0; r < NR; ++r) acc[r] = 0.0f;
  uint4 raw[U];
  auto load_round = [&](int c0) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = c0 + 32 * u;
      raw[u] = c < nch ? moe_detail::load_stream(wr + int64_t(c) * C) : make_uint4(0, 0, 0, 0);
    }
  };
  pdl_trigger();
  load_round(lane);  // the weights depend on no earlier kernel: in flight while the predecessor drains
  pdl_wait();
  for (int c0 = lane; c0 < nch;) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = c0 + 32 * u;
      if (c < nch) {
        float wf[C];
        moe_detail::Chunk<W>::widen(raw[u], wf);
#pragma unroll
        for (int r = 0; r < NR; ++r) {
          const float4* xp = reinterpret_cast<const float4*>(x + r * ldx + int64_t(c) * C);
#pragma unroll
          for (int i = 0; i < C / 4; ++i) {
            const float4 xv = __ldg(xp + i);
            acc[r] += wf[4 * i] * xv.x + wf[4 * i + 1] * xv.y + wf[4 * i + 2] * xv.z + wf[4 * i + 3] * xv.w;
          }
        }
      }
    }
    c0 += 32 * U;
    if (c0 < nch) load_round(c0);
  }
#pragma unroll
  for (int r = 0; r < NR; ++r) {
    const float s = warp_sum(acc[r]);
    if (lane == 0) y[r * ldy + row] = accumulate ? y[r * ldy + row] + s : s;
  }
}

// Any shape or alignment (tiny fixtures): one warp per (x row, W row), scalar loads.
template <class W>
__global__ void gemv_scalar_kernel(const float* x, int64_t n, int64_t ldx, const W* w, int64_t m, int64_t k, float* y,
                                   int64_t ldy, bool accumulate) {
  pdl_trigger();
  pdl_wait();
  const int lane = threadIdx.x & 31;
  const int64_t idx = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (idx >= n * m) return;
  const int64_t r = idx / m, row = idx % m;
  float acc = 0.0f;
  for (int64_t c = lane; c < k; c += 32) {
    float wv;
    if constexpr (std::is_same_v<W, float>) wv = w[row * k + c];
    else wv = __bfloat162float(w[row * k + c]);
    acc += wv * x[r * ldx + c];
  }
  acc = warp_sum(acc);
  if (lane == 0) y[r * ldy + row] = accumulate ? y[r * ldy + row] + acc : acc;
}

__global__ void to_bf16_split_kernel(const float* src, int64_t n, int64_t cols, int64_t ld, __nv_bfloat16* hi,
                                     __nv_bfloat16* lo) {
  pdl_trigger();
  pdl_wait();
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n * cols) return;
  const float v = src[(i / cols) * ld + i % cols];
  const __nv_bfloat16 h = __float2bfloat16_rn(v);
  hi[i] = h;
  lo[i] = __float2bfloat16_rn(v - __bfloat162float(h));
}

void to_bf16_split(const float* x, int64_t n, int64_t k, int64_t ldx, __nv_bfloat16* hi, __nv_bfloat16* lo,
                   cudaStream_t stream) {
  launch_pdl(to_bf16_split_kernel, dim3(unsigned((n * k + 255) / 256)), dim3(256), 0, stream, x, n, k, ldx, hi, lo);
  BANYAN_CUDA_CHECK_LAUNCH();
}

// Warps per CTA: 4 by default; BANYAN_CUDA_GEMV_WARPS=8 for A/B timing.
int gemv_warps() {
  static const int w = [] {
    const char* e = std::getenv("BANYAN_CUDA_GEMV_WARPS");
    return e && std::string(e) == "8" ? 8 : 4;
  }();
  return w;
}

template <class W, int NR>
void launch_gemv(const float* x, int64_t ldx, const W* w, int64_t m, int64_t k, float* y, int64_t ldy, bool acc,
                 cudaStream_t stream) {
  constexpr int U = std::is_same_v<W, float> ? 4 : 8;  // 64 or 128 bytes in flight per lane
  if (gemv_warps() == 8)
    launch_pdl(gemv_kernel<W, NR, U, 8>, dim3(unsigned((m + 7) / 8)), dim3(256), 0, stream, x, ldx, w, m, k, y, ldy,
               acc);
  else
    launch_pdl(gemv_kernel<W, NR, U, 4>, dim3(unsigned((m + 3) / 4)), dim3(128), 0, stream, x, ldx, w, m, k, y, ldy,
               acc);
}

// y[r, c] = (accumulate ? y[r, c] : 0) + (y2[r, c] + y2[n + r, c]): the hi and lo halves of a stacked GEMM.
__global__ void add_halves_kernel(const float* y2, int64_t n, int64_t m, float* y, int64_t ldy, bool accumulate) {
  pdl_trigger();
  pdl_wait();
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n * m) return;
  const int64_t r = i / m, c = i % m;
  const float v = y2[i] + y2[n * m + i];
  y[r * ldy + c] = accumulate ? y[r * ldy + c] + v : v;
}

template <class W>
void gemv(const float* x, int64_t n, int64_t ldx, const W* w, int64_t m, int64_t k, float* y, int64_t ldy, bool acc,
          cudaStream_t stream) {
  constexpr int C = std::is_same_v<W, float> ? 4 : 8;
  const bool vector_ok = k % C == 0 && ldx % 4 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0 &&
                         reinterpret_cast<uintptr_t>(x) % 16 == 0;
  if (!vector_ok) {
    launch_pdl(gemv_scalar_kernel<W>, dim3(unsigned((n * m + kWarps - 1) / kWarps)), dim3(kWarps * 32), 0, stream, x,
               n, ldx, w, m, k, y, ldy, acc);
    return;
  }
  for (int64_t r0 = 0; r0 < n; r0 += kGemvMaxRows) {
    const int64_t nr = std::min<int64_t>(kGemvMaxRows, n - r0);
    const float* xr = x + r0 * ldx;
    float* yr = y + r0 * ldy;
    switch (nr) {
      case 1: launch_gemv<W, 1>(xr, ldx, w, m, k, yr, ldy, acc, stream); break;
      case 2: launch_gemv<W, 2>(xr, ldx, w, m, k, yr, ldy, acc, stream); break;
      case 3: launch_gemv<W, 3>(xr, ldx, w, m, k, yr, ldy, acc, stream); break;
      case 4: launch_gemv<W, 4>(xr, ldx, w, m, k, yr, ldy, acc, stream); break;
      case 5: launch_gemv<W, 5>(xr, ldx, w, m, k, yr, ldy, acc, stream); break;
      case 6: launch_gemv<W, 6>(xr, ldx, w, m, k, yr, ldy, acc, stream); break;
      case 7: launch_gemv<W, 7>(xr, ldx, w, m, k, yr, ldy, acc, stream); break;
      default: launch_gemv<W, 8>(xr, ldx, w, m, k, yr, ldy, acc, stream); break;
    }
  }
}
}  // namespace

Matmul::Matmul(cudaStream_t stream) : stream_(stream) {
  BANYAN_CUBLAS_CHECK(cublasCreate(&handle_));
  BANYAN_CUBLAS_CHECK(cublasSetStream(handle_, stream_));
  BANYAN_CUBLAS_CHECK(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH));  // fp32 GEMMs stay fp32 (no TF32)
  // A fixed workspace keeps cuBLAS from allocating during graph capture.
  constexpr size_t kWs = size_t(32) << 20;
  BANYAN_CUDA_CHECK(cudaMalloc(&cublas_ws_, kWs));
  BANYAN_CUBLAS_CHECK(cublasSetWorkspace(handle_, cublas_ws_, kWs));
}

Matmul::~Matmul() {
  if (handle_) cublasDestroy(handle_);
  cudaFree(staging_);
  cudaFree(cublas_ws_);
}

void Matmul::reserve(int64_t n, int64_t k, int64_t m) {
  const size_t act = (size_t(n) * size_t(k) * 2 + 255) / 256 * 256;
  const size_t need = act + size_t(n) * size_t(m) * sizeof(float);
  if (need <= staging_bytes_) return;
  BANYAN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  BANYAN_CUDA_CHECK(cudaFree(staging_));
  staging_ = nullptr;
  BANYAN_CUDA_CHECK(cudaMalloc(&staging_, need));
  staging_bytes_ = need;
}

void Matmul::run(const float* x, int64_t n, int64_t ldx, const DeviceMatrix& w, float* y, int64_t ldy,
                 bool accumulate) {
  if (n <= 0 || w.rows == 0) return;
  BANYAN_CHECK(w.dtype == DType::F32 || w.dtype == DType::BF16, "cuda matmul: weight dtype {} unsupported",
               dtype_name(w.dtype));
  const int64_t m = w.rows, k = w.cols;
  if (n <= kGemvMaxRows) {
    if (w.dtype == DType::BF16)
      gemv(x, n, ldx, static_cast<const __nv_bfloat16*>(w.data), m, k, y, ldy, accumulate, stream_);
    else
      gemv(x, n, ldx, static_cast<const float*>(w.data), m, k, y, ldy, accumulate, stream_);
    BANYAN_CUDA_CHECK_LAUNCH();
    return;
  }
  // Column-major view: yᵀ [m, n] = W [k, m]ᵀ · xᵀ [k, n].
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  if (w.dtype == DType::F32) {
    BANYAN_CUBLAS_CHECK(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(n), int(k), &alpha, w.data,
                                     CUDA_R_32F, int(k), x, CUDA_R_32F, int(ldx), &beta, y, CUDA_R_32F, int(ldy),
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return;
  }
  // x = hi + lo with hi = bf16(x), lo = bf16(x - hi): two tensor-core GEMMs keep ~16 mantissa bits of the
  // activations (one bf16 rounding alone moved the demo model's prefill logits by 5 % of their range).
  const float one = 1.0f;
  if (n <= kStackedMaxRows) {
    // Decode batches (memory-bound): one GEMM over the stacked [hi; lo] rows reads W once instead of twice; its
    // [2n, m] result lands after the activations in the staging buffer and a small kernel adds the halves into y.
    reserve(2 * n, k, m);
    __nv_bfloat16* hi = static_cast<__nv_bfloat16*>(staging_);
    __nv_bfloat16* lo = hi + n * k;
    to_bf16_split(x, n, k, ldx, hi, lo, stream_);
    float* y2 = reinterpret_cast<float*>(static_cast<uint8_t*>(staging_) + (size_t(2 * n * k) * 2 + 255) / 256 * 256);
    const float zero = 0.0f;
    BANYAN_CUBLAS_CHECK(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(2 * n), int(k), &one, w.data,
                                     CUDA_R_16BF, int(k), hi, CUDA_R_16BF, int(k), &zero, y2, CUDA_R_32F, int(m),
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    launch_pdl(add_halves_kernel, dim3(unsigned((n * m + 255) / 256)), dim3(256), 0, stream_, y2, n, m, y, ldy,
               accumulate);
    return;
  }
  reserve(2 * n, k, 0);
  __nv_bfloat16* hi = static_cast<__nv_bfloat16*>(staging_);
  __nv_bfloat16* lo = hi + n * k;
  to_bf16_split(x, n, k, ldx, hi, lo, stream_);
  BANYAN_CUBLAS_CHECK(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(n), int(k), &alpha, w.data,
                                   CUDA_R_16BF, int(k), lo, CUDA_R_16BF, int(k), &beta, y, CUDA_R_32F, int(ldy),
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  BANYAN_CUBLAS_CHECK(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(n), int(k), &alpha, w.data,
                                   CUDA_R_16BF, int(k), hi, CUDA_R_16BF, int(k), &one, y, CUDA_R_32F, int(ldy),
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace banyan::ops::cuda
