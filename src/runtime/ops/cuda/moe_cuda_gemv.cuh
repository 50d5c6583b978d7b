// Device helpers of the MoE kernels: streaming 16-byte weight loads and a warp's multi-row, multi-token dot
// product. Weights are read once (bandwidth-bound), so their loads skip L1 and are all issued before use.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

namespace banyan::ops::cuda::moe_detail {

constexpr int kWarps = 8;  // warps per CTA
constexpr int kThreads = 32 * kWarps;

__device__ __forceinline__ uint4 load_stream(const void* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));
  return r;
}

// Elements per 16-byte chunk and their widening to fp32.
template <class W>
struct Chunk;
template <>
struct Chunk<__nv_bfloat16> {
  static constexpr int N = 8;
  __device__ __forceinline__ static void widen(const uint4& r, float (&f)[8]) {
    const uint32_t w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      f[2 * i] = __uint_as_float(w[i] << 16);  // little endian: the low half is the earlier element
      f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
  }
  __device__ __forceinline__ static float scalar(const __nv_bfloat16* p) { return __bfloat162float(*p); }
};
template <>
struct Chunk<float> {
  static constexpr int N = 4;
  __device__ __forceinline__ static void widen(const uint4& r, float (&f)[4]) {
    f[0] = __uint_as_float(r.x);
    f[1] = __uint_as_float(r.y);
    f[2] = __uint_as_float(r.z);
    f[3] = __uint_as_float(r.w);
  }
  __device__ __forceinline__ static float scalar(const float* p) { return __ldg(p); }
};

// FP8 e4m3 (expert weights of --expert-dtype fp8): 16 per load, widened exactly (e4m3 ⊂ fp16 ⊂ fp32) by the
// hardware's fp8x2 → half2 conversion. The per-row scale is applied by the kernels to each row's summed dot
// product (ExpertStack::gate_up_scale / down_scale), not here.
template <>
struct Chunk<__nv_fp8_e4m3> {
  static constexpr int N = 16;
  __device__ __forceinline__ static float2 pair(uint32_t two) {  // the low byte is the earlier element (.x)
    const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(two), __NV_E4M3);
    return __half22float2(__half2(h));
  }
  __device__ __forceinline__ static void widen(const uint4& r, float (&f)[16]) {
    const uint32_t w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 a = pair(w[i] & 0xffffu), b = pair(w[i] >> 16);
      f[4 * i] = a.x;
      f[4 * i + 1] = a.y;
      f[4 * i + 2] = b.x;
      f[4 * i + 3] = b.y;
    }
  }
  // Elements [8·half, 8·half + 8) of the chunk (half = 0 or 1): widening half a chunk at a time keeps a
  // multi-row, multi-token tile's registers near the bf16 kernel's (8 values per row live, not 16).
  __device__ __forceinline__ static void widen_half(const uint4& r, int half, float (&f)[8]) {
    const uint32_t w0 = half ? r.z : r.x, w1 = half ? r.w : r.y;
    const float2 a = pair(w0 & 0xffffu), b = pair(w0 >> 16), c = pair(w1 & 0xffffu), d = pair(w1 >> 16);
    f[0] = a.x;
    f[1] = a.y;
    f[2] = b.x;
    f[3] = b.y;
    f[4] = c.x;
    f[5] = c.y;
    f[6] = d.x;
    f[7] = d.y;
  }
  __device__ __forceinline__ static float scalar(const __nv_fp8_e4m3* p) {
    const __half_raw h = __nv_cvt_fp8_to_halfraw(p->__x, __NV_E4M3);
    return __half2float(__half(h));
  }
};

// Element types whose rows carry an fp32 scale (the kernels multiply each row's dot product by it).
template <class W>
inline constexpr bool kRowScaled = false;
template <>
inline constexpr bool kRowScaled<__nv_fp8_e4m3> = true;

// acc[r][t] += this lane's share of rows[r] · xs[t] (t < m; xs rows ldxs floats apart in shared memory).
// VEC: cols is a multiple of the chunk and rows are 16-byte aligned; lanes take consecutive 16-byte chunks.
// U: chunks per lane and row loaded before any is used (loads in flight).
template <class W, int NR, int TM, bool VEC, int U = (NR >= 4 ? 2 : 4)>
__device__ __forceinline__ void warp_rows_dot(const W* const (&rows)[NR], const float* xs, int ldxs, int cols, int m,
                                              float (&acc)[NR][TM]) {
  const int lane = threadIdx.x & 31;
  if constexpr (VEC) {
    constexpr int N = Chunk<W>::N;
    const int nchunks = cols / N;
    for (int c0 = lane; c0 < nchunks; c0 += 32 * U) {
      uint4 raw[U][NR];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int c = c0 + u * 32;
        if (c < nchunks) {
#pragma unroll
          for (int r = 0; r < NR; ++r) raw[u][r] = load_stream(rows[r] + int64_t(c) * N);
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int c = c0 + u * 32;
        if constexpr (kRowScaled<W>) {
          // fp8: the chunk's two halves one after the other (the same FMA order per accumulator as one pass).
          if (c < nchunks) {
#pragma unroll
            for (int half = 0; half < 2; ++half) {
              float wv[NR][8];
#pragma unroll
              for (int r = 0; r < NR; ++r) Chunk<W>::widen_half(raw[u][r], half, wv[r]);
#pragma unroll
              for (int t = 0; t < TM; ++t) {
                if (t < m) {
                  const float4* xp = reinterpret_cast<const float4*>(xs + t * ldxs + c * N + half * 8);
                  const float4 v0 = xp[0], v1 = xp[1];
                  const float xv[8] = {v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w};
#pragma unroll
                  for (int r = 0; r < NR; ++r)
#pragma unroll
                    for (int e = 0; e < 8; ++e) acc[r][t] = fmaf(wv[r][e], xv[e], acc[r][t]);
                }
              }
            }
          }
          continue;
        }
        if (c < nchunks) {
          float wv[NR][N];
#pragma unroll
          for (int r = 0; r < NR; ++r) Chunk<W>::widen(raw[u][r], wv[r]);
#pragma unroll
          for (int t = 0; t < TM; ++t) {
            if (t < m) {
              const float4* xp = reinterpret_cast<const float4*>(xs + t * ldxs + c * N);
              float xv[N];
#pragma unroll
              for (int q = 0; q < N / 4; ++q) {
                const float4 v = xp[q];
                xv[4 * q] = v.x;
                xv[4 * q + 1] = v.y;
                xv[4 * q + 2] = v.z;
                xv[4 * q + 3] = v.w;
              }
#pragma unroll
              for (int r = 0; r < NR; ++r)
#pragma unroll
                for (int e = 0; e < N; ++e) acc[r][t] = fmaf(wv[r][e], xv[e], acc[r][t]);
            }
          }
        }
      }
    }
  } else {
    for (int c = lane; c < cols; c += 32) {
      float wv[NR];
#pragma unroll
      for (int r = 0; r < NR; ++r) wv[r] = Chunk<W>::scalar(rows[r] + c);
#pragma unroll
      for (int t = 0; t < TM; ++t) {
        if (t < m) {
          const float xv = xs[t * ldxs + c];
#pragma unroll
          for (int r = 0; r < NR; ++r) acc[r][t] = fmaf(wv[r], xv, acc[r][t]);
        }
      }
    }
  }
}

// acc[r] += this lane's share of rows[r] · xs[r·ldxs ...] for r < nr: every row has its own vector (the k slots
// of one token: different experts' rows, each with its own hidden state).
template <class W, int NR, bool VEC>
__device__ __forceinline__ void warp_slots_dot(const W* const (&rows)[NR], const float* xs, int ldxs, int cols,
                                               int nr, float (&acc)[NR]) {
  const int lane = threadIdx.x & 31;
  if constexpr (VEC) {
    constexpr int N = Chunk<W>::N;
    constexpr int U = 2;
    const int nchunks = cols / N;
    for (int c0 = lane; c0 < nchunks; c0 += 32 * U) {
      uint4 raw[U][NR];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int c = c0 + u * 32;
#pragma unroll
        for (int r = 0; r < NR; ++r)
          if (c < nchunks && r < nr) raw[u][r] = load_stream(rows[r] + int64_t(c) * N);
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int c = c0 + u * 32;
        if (c < nchunks) {
#pragma unroll
          for (int r = 0; r < NR; ++r) {
            if (r < nr) {
              float wv[N];
              Chunk<W>::widen(raw[u][r], wv);
              const float4* xp = reinterpret_cast<const float4*>(xs + r * ldxs + c * N);
#pragma unroll
              for (int q = 0; q < N / 4; ++q) {
                const float4 v = xp[q];
                acc[r] = fmaf(wv[4 * q], v.x, acc[r]);
                acc[r] = fmaf(wv[4 * q + 1], v.y, acc[r]);
                acc[r] = fmaf(wv[4 * q + 2], v.z, acc[r]);
                acc[r] = fmaf(wv[4 * q + 3], v.w, acc[r]);
              }
            }
          }
        }
      }
    }
  } else {
    for (int c = lane; c < cols; c += 32) {
#pragma unroll
      for (int r = 0; r < NR; ++r)
        if (r < nr) acc[r] = fmaf(Chunk<W>::scalar(rows[r] + c), xs[r * ldxs + c], acc[r]);
    }
  }
}

// Butterfly sum over the warp: every lane ends with the same total (a fixed order, so deterministic).
template <int NR, int TM>
__device__ __forceinline__ void warp_sum(float (&acc)[NR][TM], int m) {
#pragma unroll
  for (int t = 0; t < TM; ++t) {
    if (t < m) {
#pragma unroll
      for (int r = 0; r < NR; ++r)
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) acc[r][t] += __shfl_xor_sync(0xffffffffu, acc[r][t], off);
    }
  }
}

}  // namespace banyan::ops::cuda::moe_detail
