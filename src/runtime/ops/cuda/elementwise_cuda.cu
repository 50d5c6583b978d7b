// Small per-row CUDA ops; see elementwise_cuda.h. One block per row where a row needs a reduction.
#include <cuda_bf16.h>

#include "runtime/ops/cuda/cuda_check.h"
#include "runtime/ops/cuda/elementwise_cuda.h"
#include "runtime/ops/cuda/pdl_cuda.cuh"
#include "runtime/ops/cuda/reduce_cuda.cuh"

namespace banyan::ops::cuda {

namespace {
constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n, int threads = kThreads) { return unsigned((n + threads - 1) / threads); }

template <class T>
__device__ __forceinline__ float load_f32(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, float>) return p[i];
  else return __bfloat162float(p[i]);
}

template <class T>
__global__ void embedding_kernel(const T* table, int64_t cols, const int32_t* ids, float* out) {
  pdl_trigger();
  pdl_wait();
  const int64_t row = blockIdx.x;
  const T* src = table + int64_t(ids[row]) * cols;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) out[row * cols + j] = load_f32(src, j);
}

__global__ void add_rmsnorm_kernel(float* x, const float* y, int64_t dim, int64_t stride, const float* weight,
                                   float eps, float* out, int64_t out_stride) {
  pdl_trigger();
  pdl_wait();
  __shared__ float scratch[32];
  float* xr = x + blockIdx.x * stride;
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    float v = xr[j];
    if (y) {
      v += y[blockIdx.x * stride + j];
      xr[j] = v;
    }
    ss += v * v;
  }
  ss = block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(ss / float(dim) + eps);
  float* o = out + blockIdx.x * out_stride;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) o[j] = weight[j] * (xr[j] * inv);
}

__global__ void rope_cos_sin_kernel(const float* inv_freq, int64_t half, float scaling, const int32_t* positions,
                                    int64_t n, float* c, float* s) {
  pdl_trigger();
  pdl_wait();
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n * half) return;
  const int64_t row = i / half, j = i % half;
  const float angle = inv_freq[j] * float(positions[row]);
  c[i] = float(cos(double(angle))) * scaling;
  s[i] = float(sin(double(angle))) * scaling;
}

// RMSNorm of `count` consecutive segments of `len` values in place, one warp per segment.
__device__ void segment_rmsnorm(float* x, int64_t count, int64_t len, const float* w, float eps) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int64_t h = warp; h < count; h += warps) {
    float* v = x + h * len;
    float ss = 0.0f;
    for (int64_t j = lane; j < len; j += 32) ss += v[j] * v[j];
    ss = warp_sum(ss);
    const float inv = 1.0f / sqrtf(ss / float(len) + eps);
    for (int64_t j = lane; j < len; j += 32) v[j] = w[j] * (v[j] * inv);
  }
}

__device__ void block_rmsnorm(float* v, int64_t len, const float* w, float eps, float* scratch) {
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) ss += v[j] * v[j];
  ss = block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(ss / float(len) + eps);
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) v[j] = w[j] * (v[j] * inv);
}

template <class KvT>
__global__ void qkv_chain_kernel(QkvChain c, float* qkv, int64_t stride, const float* cos_t, const float* sin_t,
                                 KvLayout layout, int64_t layer, uint8_t* const* row_page, const int32_t* positions) {
  pdl_trigger();
  pdl_wait();
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x, hd = c.head_dim;
  const int64_t q_dim = c.num_heads * hd, kv_dim = c.num_kv_heads * hd, qs = q_dim + 2 * kv_dim;
  float* q = qkv + row * stride;
  float* k = q + q_dim;
  float* v = k + kv_dim;
  if (c.bias)
    for (int64_t j = threadIdx.x; j < qs; j += blockDim.x) q[j] += c.bias[j];
  __syncthreads();
  if (c.qk_norm == QkNorm::PerHead) {
    segment_rmsnorm(q, c.num_heads, hd, c.q_norm, c.eps);
    segment_rmsnorm(k, c.num_kv_heads, hd, c.k_norm, c.eps);
  } else if (c.qk_norm == QkNorm::Full) {
    block_rmsnorm(q, q_dim, c.q_norm, c.eps, scratch);
    block_rmsnorm(k, kv_dim, c.k_norm, c.eps, scratch);
  }
  __syncthreads();
  if (c.clip > 0.0f)
    for (int64_t j = threadIdx.x; j < qs; j += blockDim.x) q[j] = fminf(fmaxf(q[j], -c.clip), c.clip);
  __syncthreads();
  const int64_t half = c.rotary_dim / 2, heads = c.num_heads + c.num_kv_heads;
  const float* cr = cos_t + row * half;
  const float* sr = sin_t + row * half;
  for (int64_t i = threadIdx.x; i < heads * half; i += blockDim.x) {
    const int64_t h = i / half, j = i % half;
    float* x = q + h * hd;  // k heads follow the q heads contiguously
    const float a = x[j], b = x[j + half];
    x[j] = a * cr[j] - b * sr[j];
    x[j + half] = b * cr[j] + a * sr[j];
  }
  __syncthreads();
  const int64_t slot = positions[row] % layout.page_tokens;
  uint8_t* page = row_page[row];
  // ops::KvLayout::offset, spelled out (host-only there): [layer][K then V][slot][kv_dim].
  KvT* kd = reinterpret_cast<KvT*>(page) + ((layer * 2 + 0) * layout.page_tokens + slot) * kv_dim;
  KvT* vd = reinterpret_cast<KvT*>(page) + ((layer * 2 + 1) * layout.page_tokens + slot) * kv_dim;
  for (int64_t j = threadIdx.x; j < kv_dim; j += blockDim.x) {
    if constexpr (std::is_same_v<KvT, float>) {
      kd[j] = k[j];
      vd[j] = v[j];
    } else {
      kd[j] = __float2bfloat16_rn(k[j]);
      vd[j] = __float2bfloat16_rn(v[j]);
    }
  }
}

// The same chain for head_dim = 32·E (E = 1, 2, 4, 8), per-head or no q/k norm and full-width RoPE (Qwen3): one
// warp per (row, head) over the q, k and v heads, the head's values in registers (lane holds dims lane + 32·i), so
// the chain needs no shared memory and no block barrier (the block version: ~11 µs per decode step and layer, one
// CTA doing 40 heads in serial phases). RoPE pairs (j, j + hd/2) sit in one lane for even E, in lanes l and l ^ 16
// for E = 1. Same arithmetic as qkv_chain_kernel, in the same order.
template <class KvT, int E>
__global__ void qkv_chain_heads_kernel(QkvChain c, float* qkv, int64_t stride, const float* cos_t, const float* sin_t,
                                       KvLayout layout, int64_t layer, uint8_t* const* row_page,
                                       const int32_t* positions, int64_t n) {
  pdl_trigger();
  pdl_wait();
  constexpr int hd = 32 * E;
  const int lane = threadIdx.x & 31;
  const int64_t heads = c.num_heads + 2 * c.num_kv_heads;
  const int64_t gw = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (gw >= n * heads) return;
  const int64_t row = gw / heads, h = gw % heads;
  const int64_t kv_dim = c.num_kv_heads * hd;
  float* x = qkv + row * stride + h * hd;
  const bool is_q = h < c.num_heads, is_v = h >= c.num_heads + c.num_kv_heads;
  float v[E];
#pragma unroll
  for (int i = 0; i < E; ++i) v[i] = x[lane + 32 * i];
  if (c.bias)
#pragma unroll
    for (int i = 0; i < E; ++i) v[i] += c.bias[h * hd + lane + 32 * i];
  if (!is_v && c.qk_norm == QkNorm::PerHead) {
    const float* w = is_q ? c.q_norm : c.k_norm;
    float ss = 0.0f;
#pragma unroll
    for (int i = 0; i < E; ++i) ss += v[i] * v[i];
    ss = warp_sum(ss);
    const float inv = 1.0f / sqrtf(ss / float(hd) + c.eps);
#pragma unroll
    for (int i = 0; i < E; ++i) v[i] = w[lane + 32 * i] * (v[i] * inv);
  }
  if (c.clip > 0.0f)
#pragma unroll
    for (int i = 0; i < E; ++i) v[i] = fminf(fmaxf(v[i], -c.clip), c.clip);
  if (!is_v) {
    constexpr int half = hd / 2;
    const float* cr = cos_t + row * half;
    const float* sr = sin_t + row * half;
    if constexpr (E == 1) {
      const float o = __shfl_xor_sync(0xffffffffu, v[0], 16);
      const int j = lane & 15;
      v[0] = lane < 16 ? v[0] * cr[j] - o * sr[j] : v[0] * cr[j] + o * sr[j];
    } else {
#pragma unroll
      for (int i = 0; i < E / 2; ++i) {
        const int j = lane + 32 * i;
        const float a = v[i], b = v[i + E / 2];
        v[i] = a * cr[j] - b * sr[j];
        v[i + E / 2] = b * cr[j] + a * sr[j];
      }
    }
  }
  if (!is_v || c.clip > 0.0f || c.bias)
#pragma unroll
    for (int i = 0; i < E; ++i) x[lane + 32 * i] = v[i];
  if (is_q) return;
  const int64_t slot = positions[row] % layout.page_tokens;
  const int64_t kvh = is_v ? h - c.num_heads - c.num_kv_heads : h - c.num_heads;
  // ops::KvLayout::offset, spelled out (host-only there): [layer][K then V][slot][kv_dim].
  KvT* dst = reinterpret_cast<KvT*>(row_page[row]) +
             ((layer * 2 + (is_v ? 1 : 0)) * layout.page_tokens + slot) * kv_dim + kvh * hd;
#pragma unroll
  for (int i = 0; i < E; ++i) {
    if constexpr (std::is_same_v<KvT, float>) dst[lane + 32 * i] = v[i];
    else dst[lane + 32 * i] = __float2bfloat16_rn(v[i]);
  }
}

__global__ void swiglu_kernel(const float* gu, int64_t n, int64_t inter, float* out) {
  pdl_trigger();
  pdl_wait();
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n * inter) return;
  const int64_t r = i / inter, j = i % inter;
  const float g = gu[r * 2 * inter + j];
  out[i] = g / (1.0f + expf(-g)) * gu[r * 2 * inter + inter + j];
}

__global__ void add_gated_kernel(float* x, const float* y, const float* gate, int64_t n, int64_t dim) {
  pdl_trigger();
  pdl_wait();
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n * dim) return;
  const float g = gate ? 1.0f / (1.0f + expf(-gate[i / dim])) : 1.0f;
  x[i] += g * y[i];
}

__global__ void gather_rows_kernel(const float* x, const int32_t* rows, int64_t dim, float* out) {
  pdl_trigger();
  pdl_wait();
  const float* src = x + int64_t(rows[blockIdx.x]) * dim;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) out[blockIdx.x * dim + j] = src[j];
}

__global__ void softmax_rows_kernel(float* x, int64_t w) {
  pdl_trigger();
  pdl_wait();
  __shared__ float scratch[32];
  float* r = x + blockIdx.x * w;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < w; j += blockDim.x) mx = fmaxf(mx, r[j]);
  mx = block_max(mx, scratch);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < w; j += blockDim.x) sum += (r[j] = expf(r[j] - mx));
  sum = block_sum(sum, scratch);
  const float inv = 1.0f / sum;
  for (int64_t j = threadIdx.x; j < w; j += blockDim.x) r[j] *= inv;
}

// One CTA of 1024 threads per row (a 151936-wide vocabulary row is 600 KB: one 256-thread CTA with scalar loads
// spent ~600 dependent load rounds on it). Each thread scans float4 chunks with four independent running maxima,
// so loads stay in flight; ties go to the lowest index everywhere, NaN is never chosen (as the CPU argmax).
constexpr int kArgmaxThreads = 1024;
struct ArgBest {
  float v;
  int32_t i;
};
__device__ __forceinline__ void arg_take(ArgBest& b, float v, int32_t i) {
  if (v > b.v || (v == b.v && i < b.i)) b = {v, i};
}
__global__ void __launch_bounds__(kArgmaxThreads) argmax_rows_kernel(const float* x, int64_t w, int32_t* ids) {
  pdl_trigger();
  pdl_wait();
  __shared__ ArgBest warp_best[kArgmaxThreads / 32];
  const float* r = x + blockIdx.x * w;
  ArgBest b[4];
#pragma unroll
  for (int u = 0; u < 4; ++u) b[u] = {-INFINITY, 0x7fffffff};
  const bool vec = w % 4 == 0 && reinterpret_cast<uintptr_t>(r) % 16 == 0;
  if (vec) {
    const float4* r4 = reinterpret_cast<const float4*>(r);
    const int64_t n4 = w / 4;
    for (int64_t c0 = threadIdx.x; c0 < n4; c0 += 4 * kArgmaxThreads) {
      float4 v[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int64_t c = c0 + int64_t(u) * kArgmaxThreads;
        v[u] = c < n4 ? r4[c] : make_float4(-INFINITY, -INFINITY, -INFINITY, -INFINITY);
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int32_t j = int32_t(4 * (c0 + int64_t(u) * kArgmaxThreads));
        arg_take(b[u], v[u].x, j);
        arg_take(b[u], v[u].y, j + 1);
        arg_take(b[u], v[u].z, j + 2);
        arg_take(b[u], v[u].w, j + 3);
      }
    }
  } else {
    for (int64_t j = threadIdx.x; j < w; j += kArgmaxThreads) arg_take(b[0], r[j], int32_t(j));
  }
#pragma unroll
  for (int u = 1; u < 4; ++u) arg_take(b[0], b[u].v, b[u].i);
  ArgBest best = b[0];
  for (int o = 16; o > 0; o >>= 1)
    arg_take(best, __shfl_xor_sync(0xffffffffu, best.v, o), __shfl_xor_sync(0xffffffffu, best.i, o));
  if ((threadIdx.x & 31) == 0) warp_best[threadIdx.x >> 5] = best;
  __syncthreads();
  if (threadIdx.x < 32) {
    best = warp_best[threadIdx.x];
    for (int o = 16; o > 0; o >>= 1)
      arg_take(best, __shfl_xor_sync(0xffffffffu, best.v, o), __shfl_xor_sync(0xffffffffu, best.i, o));
    if (threadIdx.x == 0) ids[blockIdx.x] = best.i == 0x7fffffff ? 0 : best.i;
  }
}

__global__ void to_bf16_kernel(const float* src, int64_t n, int64_t cols, int64_t ld, __nv_bfloat16* dst) {
  pdl_trigger();
  pdl_wait();
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n * cols) return;
  dst[i] = __float2bfloat16_rn(src[(i / cols) * ld + i % cols]);
}
}  // namespace

void embedding(DType dtype, const void* table, int64_t cols, const int32_t* ids, int64_t n, float* out,
               cudaStream_t stream) {
  if (n == 0) return;
  if (dtype == DType::BF16)
    embedding_kernel<<<unsigned(n), kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(table), cols, ids, out);
  else
    embedding_kernel<<<unsigned(n), kThreads, 0, stream>>>(static_cast<const float*>(table), cols, ids, out);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void add_rmsnorm(float* x, const float* y, int64_t n, int64_t dim, int64_t stride, const float* weight, float eps,
                 float* out, int64_t out_stride, cudaStream_t stream) {
  if (n == 0) return;
  launch_pdl(add_rmsnorm_kernel, dim3(unsigned(n)), dim3(512), 0, stream, x, y, dim, stride, weight, eps, out,
             out_stride);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void rope_cos_sin(const float* inv_freq, int64_t half, float attention_scaling, const int32_t* positions, int64_t n,
                  float* cos_out, float* sin_out, cudaStream_t stream) {
  if (n == 0) return;
  launch_pdl(rope_cos_sin_kernel, dim3(blocks_for(n * half)), dim3(kThreads), 0, stream, inv_freq, half,
             attention_scaling, positions, n,
                                                                     cos_out, sin_out);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void qkv_chain(const QkvChain& c, float* qkv, int64_t n, int64_t qkv_stride, const float* cos, const float* sin,
               const KvLayout& layout, int64_t layer, uint8_t* const* row_page, const int32_t* positions,
               cudaStream_t stream) {
  if (n == 0) return;
  BANYAN_CHECK(layout.dtype == DType::F32 || layout.dtype == DType::BF16, "qkv_chain: KV dtype {} unsupported",
               dtype_name(layout.dtype));
  const int64_t hd = c.head_dim, heads = c.num_heads + 2 * c.num_kv_heads;
  const bool heads_path =
      c.qk_norm != QkNorm::Full && c.rotary_dim == hd && (hd == 32 || hd == 64 || hd == 128 || hd == 256);
  if (heads_path) {
    const dim3 grid(unsigned((n * heads + 7) / 8)), block(256);
    const bool f32 = layout.dtype == DType::F32;
    auto go = [&](auto kernel) {
      launch_pdl(kernel, grid, block, 0, stream, c, qkv, qkv_stride, cos, sin, layout, layer, row_page, positions, n);
    };
    switch (hd) {
      case 32: f32 ? go(qkv_chain_heads_kernel<float, 1>) : go(qkv_chain_heads_kernel<__nv_bfloat16, 1>); break;
      case 64: f32 ? go(qkv_chain_heads_kernel<float, 2>) : go(qkv_chain_heads_kernel<__nv_bfloat16, 2>); break;
      case 128: f32 ? go(qkv_chain_heads_kernel<float, 4>) : go(qkv_chain_heads_kernel<__nv_bfloat16, 4>); break;
      default: f32 ? go(qkv_chain_heads_kernel<float, 8>) : go(qkv_chain_heads_kernel<__nv_bfloat16, 8>); break;
    }
    BANYAN_CUDA_CHECK_LAUNCH();
    return;
  }
  if (layout.dtype == DType::F32)
    launch_pdl(qkv_chain_kernel<float>, dim3(unsigned(n)), dim3(kThreads), 0, stream, c, qkv, qkv_stride, cos, sin,
               layout, layer, row_page, positions);
  else
    launch_pdl(qkv_chain_kernel<__nv_bfloat16>, dim3(unsigned(n)), dim3(kThreads), 0, stream, c, qkv, qkv_stride, cos,
               sin, layout, layer, row_page, positions);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void swiglu(const float* gu, int64_t n, int64_t inter, float* out, cudaStream_t stream) {
  if (n == 0) return;
  launch_pdl(swiglu_kernel, dim3(blocks_for(n * inter)), dim3(kThreads), 0, stream, gu, n, inter, out);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void add_gated(float* x, const float* y, const float* gate, int64_t n, int64_t dim, cudaStream_t stream) {
  if (n == 0) return;
  launch_pdl(add_gated_kernel, dim3(blocks_for(n * dim)), dim3(kThreads), 0, stream, x, y, gate, n, dim);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void gather_rows(const float* x, const int32_t* rows, int64_t n, int64_t dim, float* out, cudaStream_t stream) {
  if (n == 0) return;
  // Ordinary launch: it follows a graph replay, not a kernel of this stream.
  gather_rows_kernel<<<unsigned(n), kThreads, 0, stream>>>(x, rows, dim, out);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void softmax_rows(float* x, int64_t n, int64_t w, cudaStream_t stream) {
  if (n == 0) return;
  launch_pdl(softmax_rows_kernel, dim3(unsigned(n)), dim3(kThreads), 0, stream, x, w);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void argmax_rows(const float* x, int64_t n, int64_t w, int32_t* ids, cudaStream_t stream) {
  if (n == 0) return;
  launch_pdl(argmax_rows_kernel, dim3(unsigned(n)), dim3(kArgmaxThreads), 0, stream, x, w, ids);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void to_bf16(const float* src, int64_t n, int64_t cols, int64_t ld_src, void* dst, cudaStream_t stream) {
  if (n == 0) return;
  launch_pdl(to_bf16_kernel, dim3(blocks_for(n * cols)), dim3(kThreads), 0, stream, src, n, cols, ld_src,
                                                                static_cast<__nv_bfloat16*>(dst));
  BANYAN_CUDA_CHECK_LAUNCH();
}

}  // namespace banyan::ops::cuda
