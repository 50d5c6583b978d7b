// CUDA paged attention. One CTA = (item, KV head, block of new tokens[, key split]): the query heads that share a
// KV head and the block's tokens are the CTA's rows, so each K/V tile is read from the pages once for all of them.
// K/V tiles of 32 keys go through shared memory (as fp32), the next tile's loads are in flight while the current
// one is used. Each warp owns rows: lane j scores key j, an online softmax (base 2, scale folded into q) keeps the
// running max/sum, and lanes own output dimensions for P·V. With a workspace, few long items (decode) are split
// over key ranges (flash-decoding); a second kernel merges the splits in split order (deterministic).
#include "runtime/ops/cuda/attention_cuda.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/error.h"
#include "runtime/ops/cuda/pdl_cuda.cuh"

namespace banyan::ops::cuda {

namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("cuda attention: {}: {}", what, cudaGetErrorString(e));
}

constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;
constexpr int kKeyTile = 32;  // keys per shared-memory tile (one per lane when scoring)
constexpr int kMaxSplits = 64;
constexpr float kLog2e = 1.4426950408889634f;

struct Params {
  const AttentionItem* items;
  const float* q;
  int64_t q_stride;
  float* out;
  int64_t out_stride;
  float* partial;  // split mode: [item][max_new][head][split][2 + hd] = (max, sum, unnormalised acc)
  int heads, group, hd, max_new;
  int qb_tokens;   // new tokens per CTA
  int splits, split_len;
  float scale_log2;
  int64_t k_base, v_base;  // byte offsets of the layer's K and V rows in a page
  int64_t row_bytes;       // bytes of one slot's row (all KV heads)
  int page_tokens;
};

// 8 consecutive KV elements as raw words: one 16-byte load for bf16, two for fp32.
template <class KvT>
struct KvChunk {
  static constexpr int kWords = sizeof(KvT) == 2 ? 1 : 2;
  uint4 w[kWords];
  __device__ __forceinline__ void load(const KvT* p) {
    const uint4* s = reinterpret_cast<const uint4*>(p);
#pragma unroll
    for (int i = 0; i < kWords; ++i) w[i] = __ldg(s + i);
  }
  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < kWords; ++i) w[i] = make_uint4(0, 0, 0, 0);
  }
  __device__ __forceinline__ void to_f32(float (&f)[8]) const {
    if constexpr (sizeof(KvT) == 2) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t v = i == 0 ? w[0].x : i == 1 ? w[0].y : i == 2 ? w[0].z : w[0].w;
        f[2 * i] = __uint_as_float(v << 16);
        f[2 * i + 1] = __uint_as_float(v & 0xffff0000u);
      }
    } else {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        f[4 * i] = __uint_as_float(w[i].x);
        f[4 * i + 1] = __uint_as_float(w[i].y);
        f[4 * i + 2] = __uint_as_float(w[i].z);
        f[4 * i + 3] = __uint_as_float(w[i].w);
      }
    }
  }
  __device__ __forceinline__ void store_f32(float* dst) const {  // dst 16-byte aligned
    float4* d = reinterpret_cast<float4*>(dst);
    if constexpr (sizeof(KvT) == 2) {
      const uint32_t v[4] = {w[0].x, w[0].y, w[0].z, w[0].w};
      d[0] = make_float4(__uint_as_float(v[0] << 16), __uint_as_float(v[0] & 0xffff0000u),
                         __uint_as_float(v[1] << 16), __uint_as_float(v[1] & 0xffff0000u));
      d[1] = make_float4(__uint_as_float(v[2] << 16), __uint_as_float(v[2] & 0xffff0000u),
                         __uint_as_float(v[3] << 16), __uint_as_float(v[3] & 0xffff0000u));
    } else {
      d[0] = make_float4(__uint_as_float(w[0].x), __uint_as_float(w[0].y), __uint_as_float(w[0].z),
                         __uint_as_float(w[0].w));
      d[1] = make_float4(__uint_as_float(w[1].x), __uint_as_float(w[1].y), __uint_as_float(w[1].z),
                         __uint_as_float(w[1].w));
    }
  }
};

// DPL: output dims per lane (hd ≤ 32·DPL); RPW: rows per warp (rows per CTA ≤ 8·RPW).
template <class KvT, int DPL, int RPW>
__global__ void __launch_bounds__(kThreads) attention_kernel(Params p) {
  pdl_trigger();
  pdl_wait();
  constexpr int kChunksPerThread = (kKeyTile * 32 * DPL / 8 + kThreads - 1) / kThreads;
  extern __shared__ float4 smem_attn[];
  const int hd = p.hd, kstride = hd + 4;  // K rows padded: lanes reading different keys hit different banks
  float* qs = reinterpret_cast<float*>(smem_attn);
  float* ks = qs + kWarps * RPW * hd;
  float* vs = ks + kKeyTile * kstride;

  const int item_idx = blockIdx.z, kvh = blockIdx.y;
  const int qb = blockIdx.x / p.splits, split = blockIdx.x % p.splits;
  const AttentionItem item = p.items[item_idx];
  const int t0 = qb * p.qb_tokens;
  if (t0 >= item.n_new) return;
  const int t_end = min(t0 + p.qb_tokens, item.n_new);
  const int G = p.group;
  const int rows = (t_end - t0) * G;
  const int key_end = item.start + t_end;  // keys [0, key_end) are visible to some row
  int k_lo = 0, k_hi = key_end;
  if (p.partial) {
    k_lo = split * p.split_len;
    k_hi = min(k_lo + p.split_len, key_end);
  }

  for (int i = threadIdx.x; i < rows * hd; i += kThreads) {
    const int r = i / hd, d = i % hd;
    const int t = t0 + r / G, h = kvh * G + r % G;
    qs[i] = p.q[int64_t(item.row_begin + t) * p.q_stride + int64_t(h) * hd + d] * p.scale_log2;
  }

  const int chunks_per_key = hd / 8;
  const int tile_chunks = kKeyTile * chunks_per_key;
  const int64_t head_bytes = int64_t(kvh) * hd * int64_t(sizeof(KvT));
  KvChunk<KvT> kreg[kChunksPerThread], vreg[kChunksPerThread];
  auto load_tile = [&](int kt) {
#pragma unroll
    for (int c = 0; c < kChunksPerThread; ++c) {
      const int ci = threadIdx.x + c * kThreads;
      const int j = kt + ci / chunks_per_key;
      if (ci < tile_chunks && j < k_hi) {
        const uint8_t* page = item.pages[j / p.page_tokens];
        const int64_t off = int64_t(j % p.page_tokens) * p.row_bytes + head_bytes + (ci % chunks_per_key) * 8 *
                                                                                        int64_t(sizeof(KvT));
        kreg[c].load(reinterpret_cast<const KvT*>(page + p.k_base + off));
        vreg[c].load(reinterpret_cast<const KvT*>(page + p.v_base + off));
      } else {
        kreg[c].zero();
        vreg[c].zero();
      }
    }
  };

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float m[RPW], l[RPW], acc[RPW][DPL];
#pragma unroll
  for (int i = 0; i < RPW; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int d = 0; d < DPL; ++d) acc[i][d] = 0.0f;
  }

  if (k_lo < k_hi) load_tile(k_lo);
  for (int kt = k_lo; kt < k_hi; kt += kKeyTile) {
    __syncthreads();  // the previous tile is no longer read (and, first time, q is staged)
#pragma unroll
    for (int c = 0; c < kChunksPerThread; ++c) {
      const int ci = threadIdx.x + c * kThreads;
      if (ci < tile_chunks) {
        const int jj = ci / chunks_per_key, col = (ci % chunks_per_key) * 8;
        kreg[c].store_f32(ks + jj * kstride + col);
        vreg[c].store_f32(vs + jj * hd + col);
      }
    }
    __syncthreads();
    if (kt + kKeyTile < k_hi) load_tile(kt + kKeyTile);
    const int tile_keys = min(kKeyTile, k_hi - kt);
#pragma unroll
    for (int i = 0; i < RPW; ++i) {
      const int r = warp + i * kWarps;
      if (r >= rows) continue;  // uniform across the warp
      const int pos = item.start + t0 + r / G;
      const int j = kt + lane;
      float s = -INFINITY;
      if (lane < tile_keys && j <= pos) {
        const float4* qv = reinterpret_cast<const float4*>(qs + r * hd);
        const float4* kv = reinterpret_cast<const float4*>(ks + lane * kstride);
        float a = 0.0f;
        for (int d4 = 0; d4 < hd / 4; ++d4) {
          const float4 x = qv[d4], y = kv[d4];
          a = fmaf(x.x, y.x, a);
          a = fmaf(x.y, y.y, a);
          a = fmaf(x.z, y.z, a);
          a = fmaf(x.w, y.w, a);
        }
        s = a;
      }
      float tmax = s;
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, off));
      if (tmax == -INFINITY) continue;  // every key of this tile is after the row's position
      const float m_new = fmaxf(m[i], tmax);
      const float corr = exp2f(m[i] - m_new);
      const float pj = exp2f(s - m_new);
      float psum = pj;
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, off);
      l[i] = l[i] * corr + psum;
      m[i] = m_new;
#pragma unroll
      for (int d = 0; d < DPL; ++d) acc[i][d] *= corr;
      const int last = min(tile_keys, pos - kt + 1);  // keys past the row's position have weight 0
      for (int jj = 0; jj < last; ++jj) {
        const float w = __shfl_sync(0xffffffffu, pj, jj);
        const float* vrow = vs + jj * hd;
#pragma unroll
        for (int d = 0; d < DPL; ++d) {
          const int dim = lane + 32 * d;
          if (dim < hd) acc[i][d] = fmaf(w, vrow[dim], acc[i][d]);
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < RPW; ++i) {
    const int r = warp + i * kWarps;
    if (r >= rows) continue;
    const int t = t0 + r / G, h = kvh * G + r % G;
    if (p.partial) {
      float* dst = p.partial +
                   ((((int64_t(item_idx) * p.max_new + t) * p.heads + h) * p.splits + split) * (2 + int64_t(hd)));
      if (lane == 0) {
        dst[0] = m[i];
        dst[1] = l[i];
      }
#pragma unroll
      for (int d = 0; d < DPL; ++d)
        if (lane + 32 * d < hd) dst[2 + lane + 32 * d] = acc[i][d];
    } else {
      float* dst = p.out + int64_t(item.row_begin + t) * p.out_stride + int64_t(h) * hd;
      const float inv = 1.0f / l[i];
#pragma unroll
      for (int d = 0; d < DPL; ++d)
        if (lane + 32 * d < hd) dst[lane + 32 * d] = acc[i][d] * inv;
    }
  }
}

// Merges the splits of (item, token, head) in split order. The split maxima and sums are staged in shared
// memory once, so each thread's loop over splits issues independent loads.
__global__ void __launch_bounds__(128) merge_splits_kernel(Params p) {
  pdl_trigger();
  pdl_wait();
  __shared__ float weight[kMaxSplits];
  __shared__ float total;
  const int item_idx = blockIdx.z, h = blockIdx.y, t = blockIdx.x;
  const AttentionItem item = p.items[item_idx];
  if (t >= item.n_new) return;
  const int hd = p.hd, S = p.splits;
  const int64_t stride = 2 + int64_t(hd);
  const float* src = p.partial + ((int64_t(item_idx) * p.max_new + t) * p.heads + h) * S * stride;
  if (threadIdx.x < 32) {
    const int lane = threadIdx.x;
    float M = -INFINITY;
    for (int s = lane; s < S; s += 32) M = fmaxf(M, src[s * stride]);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, off));
    for (int s = lane; s < S; s += 32) {
      const float ms = src[s * stride];
      weight[s] = ms == -INFINITY ? 0.0f : exp2f(ms - M);
    }
    __syncwarp();
    float L = 0.0f;  // lane sums of a fixed assignment, then a fixed butterfly: deterministic
    for (int s = lane; s < S; s += 32) L = fmaf(src[s * stride + 1], weight[s], L);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) L += __shfl_xor_sync(0xffffffffu, L, off);
    if (lane == 0) total = L;
  }
  __syncthreads();
  const float inv = 1.0f / total;
  float* dst = p.out + int64_t(item.row_begin + t) * p.out_stride + int64_t(h) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.0f;
#pragma unroll 8
    for (int s = 0; s < S; ++s) o = fmaf(src[s * stride + 2 + d], weight[s], o);
    dst[d] = o * inv;
  }
}

// DPL consecutive KV elements of one row (a lane's share of a V row in the decode kernel), widened to fp32.
template <class KvT, int DPL>
struct KvSlice {
  static constexpr int kBytes = DPL * int(sizeof(KvT));
  uint32_t w[kBytes / 4];
  __device__ __forceinline__ void load(const KvT* p) {
    if constexpr (kBytes == 4) {
      w[0] = __ldg(reinterpret_cast<const unsigned int*>(p));
    } else if constexpr (kBytes == 8) {
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
      w[0] = v.x;
      w[1] = v.y;
    } else {
#pragma unroll
      for (int i = 0; i < kBytes / 16; ++i) {
        const uint4 v = __ldg(reinterpret_cast<const uint4*>(p) + i);
        w[4 * i] = v.x;
        w[4 * i + 1] = v.y;
        w[4 * i + 2] = v.z;
        w[4 * i + 3] = v.w;
      }
    }
  }
  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < kBytes / 4; ++i) w[i] = 0;
  }
  __device__ __forceinline__ float at(int i) const {  // i compile-time after unrolling
    if constexpr (sizeof(KvT) == 2) return __uint_as_float(i % 2 == 0 ? w[i / 2] << 16 : w[i / 2] & 0xffff0000u);
    else return __uint_as_float(w[i]);
  }
};

// Decode (one new token per item): CTA = (item, KV head, split). Each warp takes 32-key blocks in turn and keeps
// its own online softmax for all G query heads of the KV head: lane j scores key j against every head (K read
// once, straight into registers; q broadcast from shared memory), then lanes own DPL output dims and sweep the
// block's V rows. The 8 warps' states merge in warp order at the end (deterministic).
template <class KvT, int G, int DPL>
__global__ void __launch_bounds__(kThreads, 2) decode_kernel(Params p) {
  pdl_trigger();
  pdl_wait();
  extern __shared__ float4 smem_dec[];
  const int hd = p.hd;
  float* qs = reinterpret_cast<float*>(smem_dec);  // [G][hd]
  float* ps = qs + G * hd;                         // [warp][G][32] probabilities of the warp's block
  float* red = ps + kWarps * G * 32;               // [warp][G][2 + hd] per-warp (max, sum, acc)
  const int item_idx = blockIdx.z, kvh = blockIdx.y, split = blockIdx.x;
  const AttentionItem item = p.items[item_idx];
  if (item.n_new <= 0) return;
  const int Gr = p.group;
  const int key_end = item.start + 1;
  int k_lo = 0, k_hi = key_end;
  if (p.partial) {
    k_lo = split * p.split_len;
    k_hi = min(k_lo + p.split_len, key_end);
  }
  for (int i = threadIdx.x; i < G * hd; i += kThreads) {
    const int g = i / hd, d = i % hd;
    qs[i] = g < Gr ? p.q[int64_t(item.row_begin) * p.q_stride + int64_t(kvh * Gr + g) * hd + d] * p.scale_log2
                   : 0.0f;
  }
  __syncthreads();

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t head_bytes = int64_t(kvh) * hd * int64_t(sizeof(KvT));
  const int chunks = hd / 8;
  float m[G], l[G], acc[G][DPL];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int d = 0; d < DPL; ++d) acc[g][d] = 0.0f;
  }
  float* my_ps = ps + warp * G * 32;
  const bool lane_has_dims = lane * DPL < hd;

  for (int kb = k_lo + warp * 32; kb < k_hi; kb += kWarps * 32) {
    const int j = kb + lane;
    const bool valid = j < k_hi;
    const KvT* krow = nullptr;
    const KvT* vrow = nullptr;
    if (valid) {
      const uint8_t* page = item.pages[j / p.page_tokens];
      const int64_t off = int64_t(j % p.page_tokens) * p.row_bytes + head_bytes;
      krow = reinterpret_cast<const KvT*>(page + p.k_base + off);
      vrow = reinterpret_cast<const KvT*>(page + p.v_base + off);
    }
    float s[G];
#pragma unroll
    for (int g = 0; g < G; ++g) s[g] = 0.0f;
    for (int c0 = 0; c0 < chunks; c0 += 4) {
      KvChunk<KvT> kc[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        if (valid && c0 + u < chunks) kc[u].load(krow + (c0 + u) * 8);
        else kc[u].zero();
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        if (c0 + u < chunks) {
          float kf[8];
          kc[u].to_f32(kf);
#pragma unroll
          for (int g = 0; g < G; ++g) {
            const float4* qv = reinterpret_cast<const float4*>(qs + g * hd + (c0 + u) * 8);
            const float4 a = qv[0], b = qv[1];
            s[g] = fmaf(a.x, kf[0], s[g]);
            s[g] = fmaf(a.y, kf[1], s[g]);
            s[g] = fmaf(a.z, kf[2], s[g]);
            s[g] = fmaf(a.w, kf[3], s[g]);
            s[g] = fmaf(b.x, kf[4], s[g]);
            s[g] = fmaf(b.y, kf[5], s[g]);
            s[g] = fmaf(b.z, kf[6], s[g]);
            s[g] = fmaf(b.w, kf[7], s[g]);
          }
        }
      }
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
      const float sg = valid ? s[g] : -INFINITY;
      float bmax = sg;
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) bmax = fmaxf(bmax, __shfl_xor_sync(0xffffffffu, bmax, off));
      const float m_new = fmaxf(m[g], bmax);  // finite: key kb is valid
      const float corr = exp2f(m[g] - m_new);
      const float pg = exp2f(sg - m_new);
      float psum = pg;
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, off);
      l[g] = l[g] * corr + psum;
      m[g] = m_new;
#pragma unroll
      for (int d = 0; d < DPL; ++d) acc[g][d] *= corr;
      my_ps[g * 32 + lane] = pg;
    }
    __syncwarp();
    const int nk = min(32, k_hi - kb);
    // 8 V rows in flight per round (4 rounds for a full 32-key block): at short contexts this loop is the
    // latency chain of the kernel.
    for (int jj0 = 0; jj0 < nk; jj0 += 8) {
      KvSlice<KvT, DPL> v[8];
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        const KvT* vr = reinterpret_cast<const KvT*>(
            __shfl_sync(0xffffffffu, reinterpret_cast<unsigned long long>(vrow), (jj0 + u) & 31));
        if (jj0 + u < nk && lane_has_dims) v[u].load(vr + lane * DPL);
        else v[u].zero();
      }
#pragma unroll
      for (int g = 0; g < G; ++g) {
        const float4 p4a = *reinterpret_cast<const float4*>(my_ps + g * 32 + jj0);
        const float4 p4b = *reinterpret_cast<const float4*>(my_ps + g * 32 + jj0 + 4);
        const float pw[8] = {p4a.x, p4a.y, p4a.z, p4a.w, p4b.x, p4b.y, p4b.z, p4b.w};
#pragma unroll
        for (int u = 0; u < 8; ++u)
#pragma unroll
          for (int d = 0; d < DPL; ++d) acc[g][d] = fmaf(pw[u], v[u].at(d), acc[g][d]);
      }
    }
    __syncwarp();  // my_ps is rewritten by the next block
  }

  float* my_red = red + warp * G * (2 + hd);
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (lane == 0) {
      my_red[g * (2 + hd)] = m[g];
      my_red[g * (2 + hd) + 1] = l[g];
    }
    if (lane_has_dims) {
#pragma unroll
      for (int d = 0; d < DPL; ++d) my_red[g * (2 + hd) + 2 + lane * DPL + d] = acc[g][d];
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < Gr * hd; i += kThreads) {
    const int g = i / hd, d = i % hd;
    float M = -INFINITY;
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, red[(w * G + g) * (2 + hd)]);
    float L = 0.0f, O = 0.0f;
    if (M != -INFINITY) {
      for (int w = 0; w < kWarps; ++w) {
        const float* r = red + (w * G + g) * (2 + hd);
        if (r[0] == -INFINITY) continue;
        const float f = exp2f(r[0] - M);
        L = fmaf(r[1], f, L);
        O = fmaf(r[2 + d], f, O);
      }
    }
    const int h = kvh * Gr + g;
    if (p.partial) {
      float* dst = p.partial + ((int64_t(item_idx) * p.max_new * p.heads + h) * p.splits + split) * (2 + int64_t(hd));
      if (d == 0) {
        dst[0] = M;
        dst[1] = L;
      }
      dst[2 + d] = O;
    } else {
      p.out[int64_t(item.row_begin) * p.out_stride + int64_t(h) * hd + d] = O / L;
    }
  }
}

template <auto Kernel>
void allow_smem(size_t bytes) {
  static std::atomic<size_t> granted{48 * 1024};
  if (bytes <= granted.load()) return;
  check_cuda(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
             "cudaFuncSetAttribute");
  granted.store(bytes);
}

// Cached per device: the call must stay cheap and capture-safe on the decode path.
int sm_count() {
  static std::atomic<int> cache[64] = {};
  int dev = 0;
  check_cuda(cudaGetDevice(&dev), "cudaGetDevice");
  if (dev < 64 && cache[dev].load() > 0) return cache[dev].load();
  int sms = 0;
  check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "SM count");
  if (dev < 64) cache[dev].store(sms);
  return sms;
}

struct Plan {
  int group, dpl, rpw, qb_tokens, qblocks, splits, split_len;
  bool decode;  // one new token per item: decode_kernel with `heads` (G rounded up to a power of two) rows
  int heads;
  size_t smem;
};

constexpr int kDecodeMaxGroup = 16;
constexpr int kDecodeMinSplit = kWarps * 32;  // a split gives each warp at least one 32-key block

Plan make_plan(const AttentionShape& shape, int num_items, int max_new, int max_len, bool may_split) {
  Plan pl{};
  pl.group = int(shape.num_heads / shape.num_kv_heads);
  const int hd = int(shape.head_dim);
  pl.dpl = hd <= 64 ? 2 : hd <= 128 ? 4 : 8;
  if (max_new <= 1) {
    pl.rpw = pl.group <= kWarps ? 1 : pl.group <= 2 * kWarps ? 2 : 4;
    pl.qb_tokens = 1;
  } else {
    pl.rpw = 4;
    pl.qb_tokens = std::max(1, 4 * kWarps / pl.group);
  }
  pl.qblocks = (max_new + pl.qb_tokens - 1) / pl.qb_tokens;
  pl.splits = 1;
  pl.split_len = max_len;
  pl.decode = max_new == 1 && pl.group <= kDecodeMaxGroup;
  if (pl.decode) {
    pl.heads = 1;
    while (pl.heads < pl.group) pl.heads *= 2;
    pl.smem = size_t(pl.heads * hd + kWarps * pl.heads * 32 + kWarps * pl.heads * (2 + hd)) * sizeof(float);
    if (may_split && max_len > kDecodeMinSplit) {
      const int64_t base = shape.num_kv_heads * int64_t(num_items);
      const int64_t target = 3 * int64_t(sm_count());
      if (base < target) {
        const int64_t s = std::min<int64_t>(
            {(target + base - 1) / base, kMaxSplits, (max_len + kDecodeMinSplit - 1) / kDecodeMinSplit});
        const int64_t blocks = (max_len + 31) / 32;
        pl.split_len = int((blocks + s - 1) / s * 32);
        pl.splits = int((max_len + pl.split_len - 1) / pl.split_len);
      }
    }
    return pl;
  }
  if (may_split && max_len > 2 * kKeyTile) {
    const int sms = sm_count();
    const int64_t base = int64_t(pl.qblocks) * shape.num_kv_heads * num_items;
    const int64_t target = 2 * int64_t(sms);
    if (base < target) {
      int64_t s = std::min<int64_t>({(target + base - 1) / base, kMaxSplits, (max_len + kKeyTile - 1) / kKeyTile});
      const int64_t tiles = (max_len + kKeyTile - 1) / kKeyTile;
      const int64_t tiles_per_split = (tiles + s - 1) / s;
      pl.split_len = int(tiles_per_split * kKeyTile);
      pl.splits = int((max_len + pl.split_len - 1) / pl.split_len);
    }
  }
  pl.smem = size_t(kWarps * pl.rpw * hd + kKeyTile * (hd + 4) + kKeyTile * hd) * sizeof(float);
  return pl;
}

size_t partial_bytes(const AttentionShape& shape, int num_items, int max_new, const Plan& pl) {
  if (pl.splits <= 1) return 0;
  return size_t(num_items) * size_t(max_new) * size_t(shape.num_heads) * size_t(pl.splits) *
         size_t(2 + shape.head_dim) * sizeof(float);
}

template <class KvT, int DPL, int RPW>
void launch(const Params& p, const Plan& pl, int num_kv_heads, int num_items, cudaStream_t stream) {
  allow_smem<attention_kernel<KvT, DPL, RPW>>(pl.smem);
  launch_pdl(attention_kernel<KvT, DPL, RPW>,
             dim3(unsigned(pl.qblocks * pl.splits), unsigned(num_kv_heads), unsigned(num_items)), dim3(kThreads),
             pl.smem, stream, p);
  check_cuda(cudaGetLastError(), "attention launch");
}

template <class KvT, int DPL>
void launch_rpw(const Params& p, const Plan& pl, int kvh, int items, cudaStream_t stream) {
  switch (pl.rpw) {
    case 1: launch<KvT, DPL, 1>(p, pl, kvh, items, stream); break;
    case 2: launch<KvT, DPL, 2>(p, pl, kvh, items, stream); break;
    default: launch<KvT, DPL, 4>(p, pl, kvh, items, stream); break;
  }
}

template <class KvT, int G, int DPL>
void launch_decode(const Params& p, const Plan& pl, int num_kv_heads, int num_items, cudaStream_t stream) {
  allow_smem<decode_kernel<KvT, G, DPL>>(pl.smem);
  launch_pdl(decode_kernel<KvT, G, DPL>, dim3(unsigned(pl.splits), unsigned(num_kv_heads), unsigned(num_items)),
             dim3(kThreads), pl.smem, stream, p);
  check_cuda(cudaGetLastError(), "attention decode launch");
}

template <class KvT, int DPL>
void launch_decode_heads(const Params& p, const Plan& pl, int kvh, int items, cudaStream_t stream) {
  switch (pl.heads) {
    case 1: launch_decode<KvT, 1, DPL>(p, pl, kvh, items, stream); break;
    case 2: launch_decode<KvT, 2, DPL>(p, pl, kvh, items, stream); break;
    case 4: launch_decode<KvT, 4, DPL>(p, pl, kvh, items, stream); break;
    case 8: launch_decode<KvT, 8, DPL>(p, pl, kvh, items, stream); break;
    default: launch_decode<KvT, 16, DPL>(p, pl, kvh, items, stream); break;
  }
}

template <class KvT>
void launch_dpl(const Params& p, const Plan& pl, int kvh, int items, cudaStream_t stream) {
  if (pl.decode) {
    switch (pl.dpl) {
      case 2: launch_decode_heads<KvT, 2>(p, pl, kvh, items, stream); break;
      case 4: launch_decode_heads<KvT, 4>(p, pl, kvh, items, stream); break;
      default: launch_decode_heads<KvT, 8>(p, pl, kvh, items, stream); break;
    }
    return;
  }
  switch (pl.dpl) {
    case 2: launch_rpw<KvT, 2>(p, pl, kvh, items, stream); break;
    case 4: launch_rpw<KvT, 4>(p, pl, kvh, items, stream); break;
    default: launch_rpw<KvT, 8>(p, pl, kvh, items, stream); break;
  }
}

}  // namespace

void AttentionWorkspace::reserve(size_t need_bytes) {
  if (need_bytes <= bytes) return;
  if (data) check_cuda(cudaFree(data), "cudaFree");
  data = nullptr;
  bytes = 0;
  check_cuda(cudaMalloc(&data, need_bytes), "cudaMalloc (attention workspace)");
  bytes = need_bytes;
}

AttentionWorkspace::~AttentionWorkspace() {
  if (data) cudaFree(data);  // no throwing from a destructor
}

size_t attention_workspace_bytes(const AttentionShape& shape, int num_items, int max_new, int max_len) {
  if (num_items <= 0 || max_new <= 0 || shape.num_kv_heads <= 0) return 0;
  return partial_bytes(shape, num_items, max_new, make_plan(shape, num_items, max_new, max_len, true));
}

void paged_attention(const AttentionShape& shape, const KvLayout& layout, int64_t layer, const AttentionItem* items,
                     int num_items, int max_new, int max_len, const float* q, int64_t q_stride, float* out,
                     int64_t out_stride, cudaStream_t stream, AttentionWorkspace* ws) {
  BANYAN_CHECK(shape.num_kv_heads > 0 && shape.num_heads % shape.num_kv_heads == 0,
               "cuda attention: {} query heads do not group over {} KV heads", shape.num_heads, shape.num_kv_heads);
  BANYAN_CHECK(layout.kv_heads == shape.num_kv_heads && layout.head_dim == shape.head_dim,
               "cuda attention: KV layout ({} heads of {}) does not match the shape ({} heads of {})",
               layout.kv_heads, layout.head_dim, shape.num_kv_heads, shape.head_dim);
  BANYAN_CHECK(shape.head_dim % 8 == 0 && shape.head_dim <= 256 && shape.head_dim > 0,
               "cuda attention: head_dim {} unsupported (a multiple of 8, at most 256)", shape.head_dim);
  BANYAN_CHECK(shape.num_heads / shape.num_kv_heads <= 4 * kWarps,
               "cuda attention: {} query heads per KV head unsupported (at most {})",
               shape.num_heads / shape.num_kv_heads, 4 * kWarps);
  BANYAN_CHECK(layout.dtype == DType::F32 || layout.dtype == DType::BF16, "cuda attention: KV dtype {} unsupported",
               dtype_name(layout.dtype));
  BANYAN_CHECK(layer >= 0 && layer < layout.num_layers, "cuda attention: layer {} outside [0, {})", layer,
               layout.num_layers);
  BANYAN_CHECK(num_items <= 65535 && shape.num_kv_heads <= 65535, "cuda attention: {} items in one call",
               num_items);
  if (num_items <= 0 || max_new <= 0) return;
  BANYAN_CHECK(max_len >= max_new, "cuda attention: max_len {} below max_new {}", max_len, max_new);
  BANYAN_CHECK(q && out && items, "cuda attention: null pointer");

  Plan pl = make_plan(shape, num_items, max_new, max_len, ws != nullptr);
  const size_t need = partial_bytes(shape, num_items, max_new, pl);
  if (pl.splits > 1 && (ws == nullptr || ws->data == nullptr || ws->bytes < need)) {
    pl = make_plan(shape, num_items, max_new, max_len, false);
  }

  Params p{};
  p.items = items;
  p.q = q;
  p.q_stride = q_stride;
  p.out = out;
  p.out_stride = out_stride;
  p.partial = pl.splits > 1 ? static_cast<float*>(ws->data) : nullptr;
  p.heads = int(shape.num_heads);
  p.group = pl.group;
  p.hd = int(shape.head_dim);
  p.max_new = max_new;
  p.qb_tokens = pl.qb_tokens;
  p.splits = pl.splits;
  p.split_len = pl.split_len;
  p.scale_log2 = shape.scale * kLog2e;
  p.k_base = int64_t(layout.offset(layer, 0, 0));
  p.v_base = int64_t(layout.offset(layer, 1, 0));
  p.row_bytes = int64_t(layout.kv_dim()) * int64_t(layout.elem_size());
  p.page_tokens = int(layout.page_tokens);

  const int kvh = int(shape.num_kv_heads);
  if (layout.dtype == DType::F32) launch_dpl<float>(p, pl, kvh, num_items, stream);
  else launch_dpl<uint16_t>(p, pl, kvh, num_items, stream);
  if (pl.splits > 1) {
    launch_pdl(merge_splits_kernel, dim3(unsigned(max_new), unsigned(shape.num_heads), unsigned(num_items)), dim3(128),
               0, stream, p);
    check_cuda(cudaGetLastError(), "merge launch");
  }
}

}  // namespace banyan::ops::cuda
