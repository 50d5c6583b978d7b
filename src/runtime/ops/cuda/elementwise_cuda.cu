// Small per-row CUDA ops; see elementwise_cuda.h. One block per row where a row needs a reduction.
#include <cuda_bf16.h>

#include "runtime/ops/cuda/cuda_check.h"
#include "runtime/ops/cuda/elementwise_cuda.h"
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
  const int64_t row = blockIdx.x;
  const T* src = table + int64_t(ids[row]) * cols;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) out[row * cols + j] = load_f32(src, j);
}

__global__ void add_rmsnorm_kernel(float* x, const float* y, int64_t dim, int64_t stride, const float* weight,
                                   float eps, float* out, int64_t out_stride) {
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

__global__ void swiglu_kernel(const float* gu, int64_t n, int64_t inter, float* out) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n * inter) return;
  const int64_t r = i / inter, j = i % inter;
  const float g = gu[r * 2 * inter + j];
  out[i] = g / (1.0f + expf(-g)) * gu[r * 2 * inter + inter + j];
}

__global__ void add_gated_kernel(float* x, const float* y, const float* gate, int64_t n, int64_t dim) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n * dim) return;
  const float g = gate ? 1.0f / (1.0f + expf(-gate[i / dim])) : 1.0f;
  x[i] += g * y[i];
}

__global__ void gather_rows_kernel(const float* x, const int32_t* rows, int64_t dim, float* out) {
  const float* src = x + int64_t(rows[blockIdx.x]) * dim;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) out[blockIdx.x * dim + j] = src[j];
}

__global__ void softmax_rows_kernel(float* x, int64_t w) {
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

__global__ void argmax_rows_kernel(const float* x, int64_t w, int32_t* ids) {
  __shared__ float best_v[kThreads];
  __shared__ int32_t best_i[kThreads];
  const float* r = x + blockIdx.x * w;
  float bv = -INFINITY;
  int32_t bi = 0x7fffffff;
  for (int64_t j = threadIdx.x; j < w; j += blockDim.x)
    if (r[j] > bv) {  // strictly greater: each thread keeps its lowest index among equals
      bv = r[j];
      bi = int32_t(j);
    }
  best_v[threadIdx.x] = bv;
  best_i[threadIdx.x] = bi;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < unsigned(s)) {
      const float ov = best_v[threadIdx.x + s];
      const int32_t oi = best_i[threadIdx.x + s];
      if (ov > best_v[threadIdx.x] || (ov == best_v[threadIdx.x] && oi < best_i[threadIdx.x])) {
        best_v[threadIdx.x] = ov;
        best_i[threadIdx.x] = oi;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) ids[blockIdx.x] = best_i[0] == 0x7fffffff ? 0 : best_i[0];
}

__global__ void to_bf16_kernel(const float* src, int64_t n, int64_t cols, int64_t ld, __nv_bfloat16* dst) {
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
  add_rmsnorm_kernel<<<unsigned(n), 512, 0, stream>>>(x, y, dim, stride, weight, eps, out, out_stride);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void rope_cos_sin(const float* inv_freq, int64_t half, float attention_scaling, const int32_t* positions, int64_t n,
                  float* cos_out, float* sin_out, cudaStream_t stream) {
  if (n == 0) return;
  rope_cos_sin_kernel<<<blocks_for(n * half), kThreads, 0, stream>>>(inv_freq, half, attention_scaling, positions, n,
                                                                     cos_out, sin_out);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void qkv_chain(const QkvChain& c, float* qkv, int64_t n, int64_t qkv_stride, const float* cos, const float* sin,
               const KvLayout& layout, int64_t layer, uint8_t* const* row_page, const int32_t* positions,
               cudaStream_t stream) {
  if (n == 0) return;
  BANYAN_CHECK(layout.dtype == DType::F32 || layout.dtype == DType::BF16, "qkv_chain: KV dtype {} unsupported",
               dtype_name(layout.dtype));
  if (layout.dtype == DType::F32)
    qkv_chain_kernel<float><<<unsigned(n), kThreads, 0, stream>>>(c, qkv, qkv_stride, cos, sin, layout, layer,
                                                                  row_page, positions);
  else
    qkv_chain_kernel<__nv_bfloat16><<<unsigned(n), kThreads, 0, stream>>>(c, qkv, qkv_stride, cos, sin, layout, layer,
                                                                          row_page, positions);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void swiglu(const float* gu, int64_t n, int64_t inter, float* out, cudaStream_t stream) {
  if (n == 0) return;
  swiglu_kernel<<<blocks_for(n * inter), kThreads, 0, stream>>>(gu, n, inter, out);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void add_gated(float* x, const float* y, const float* gate, int64_t n, int64_t dim, cudaStream_t stream) {
  if (n == 0) return;
  add_gated_kernel<<<blocks_for(n * dim), kThreads, 0, stream>>>(x, y, gate, n, dim);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void gather_rows(const float* x, const int32_t* rows, int64_t n, int64_t dim, float* out, cudaStream_t stream) {
  if (n == 0) return;
  gather_rows_kernel<<<unsigned(n), kThreads, 0, stream>>>(x, rows, dim, out);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void softmax_rows(float* x, int64_t n, int64_t w, cudaStream_t stream) {
  if (n == 0) return;
  softmax_rows_kernel<<<unsigned(n), kThreads, 0, stream>>>(x, w);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void argmax_rows(const float* x, int64_t n, int64_t w, int32_t* ids, cudaStream_t stream) {
  if (n == 0) return;
  argmax_rows_kernel<<<unsigned(n), kThreads, 0, stream>>>(x, w, ids);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void to_bf16(const float* src, int64_t n, int64_t cols, int64_t ld_src, void* dst, cudaStream_t stream) {
  if (n == 0) return;
  to_bf16_kernel<<<blocks_for(n * cols), kThreads, 0, stream>>>(src, n, cols, ld_src,
                                                                static_cast<__nv_bfloat16*>(dst));
  BANYAN_CUDA_CHECK_LAUNCH();
}

}  // namespace banyan::ops::cuda
