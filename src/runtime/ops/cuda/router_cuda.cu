// Up to 256 experts: one warp per token, values in registers. More: one block per token, the E probabilities in
// shared memory, top-k as k rounds of a block arg-max.
#include "core/error.h"
#include "runtime/ops/cuda/cuda_check.h"
#include "runtime/ops/cuda/pdl_cuda.cuh"
#include "runtime/ops/cuda/reduce_cuda.cuh"
#include "runtime/ops/cuda/router_cuda.h"

namespace banyan::ops::cuda {

namespace {
constexpr int kThreads = 128;

__global__ void router_topk_kernel(const float* logits, int64_t E, const uint8_t* const* row_mask, int64_t mask_offset,
                                   const int32_t* row_k, int kmax, bool renormalize, float* probs_unmasked,
                                   int32_t* ids, float* weights) {
  pdl_trigger();
  pdl_wait();
  extern __shared__ float probs[];  // [E]
  __shared__ float scratch[32];
  __shared__ float arg_v[kThreads];
  __shared__ int32_t arg_i[kThreads];
  __shared__ int32_t chosen[32];
  const int64_t t = blockIdx.x;
  const float* l = logits + t * E;
  const uint8_t* mask = row_mask && row_mask[t] ? row_mask[t] + mask_offset : nullptr;

  if (probs_unmasked) {
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < E; j += blockDim.x) mx = fmaxf(mx, l[j]);
    mx = block_max(mx, scratch);
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < E; j += blockDim.x) sum += (probs_unmasked[t * E + j] = expf(l[j] - mx));
    sum = block_sum(sum, scratch);
    for (int64_t j = threadIdx.x; j < E; j += blockDim.x) probs_unmasked[t * E + j] /= sum;
  }
  float mx = -INFINITY, allowed = 0.0f;
  for (int64_t j = threadIdx.x; j < E; j += blockDim.x)
    if (!mask || mask[j]) {
      mx = fmaxf(mx, l[j]);
      allowed += 1.0f;
    }
  mx = block_max(mx, scratch);
  allowed = block_sum(allowed, scratch);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < E; j += blockDim.x) {
    const bool ok = !mask || mask[j];
    probs[j] = ok ? expf(l[j] - mx) : -1.0f;  // -1: never chosen
    if (ok) sum += probs[j];
  }
  sum = block_sum(sum, scratch);  // synchronises: probs is complete
  const int k = min(int(row_k[t]), int(allowed));
  for (int r = 0; r < k; ++r) {
    float bv = -1.0f;
    int32_t bi = 0x7fffffff;
    for (int64_t j = threadIdx.x; j < E; j += blockDim.x)
      if (probs[j] > bv) {
        bv = probs[j];
        bi = int32_t(j);
      }
    arg_v[threadIdx.x] = bv;
    arg_i[threadIdx.x] = bi;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < unsigned(s)) {
        const float ov = arg_v[threadIdx.x + s];
        const int32_t oi = arg_i[threadIdx.x + s];
        if (ov > arg_v[threadIdx.x] || (ov == arg_v[threadIdx.x] && oi < arg_i[threadIdx.x])) {
          arg_v[threadIdx.x] = ov;
          arg_i[threadIdx.x] = oi;
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      chosen[r] = arg_i[0];
      ids[t * kmax + r] = arg_i[0];
      weights[t * kmax + r] = arg_v[0];  // unnormalised for now
      probs[arg_i[0]] = -1.0f;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    // Same arithmetic order as the CPU reference: p = e / sum, chosen mass summed in slot order.
    float mass = 0.0f;
    for (int r = 0; r < k; ++r) mass += weights[t * kmax + r] / sum;
    for (int r = 0; r < k; ++r) {
      const float p = weights[t * kmax + r] / sum;
      weights[t * kmax + r] = renormalize ? p / mass : p;
    }
    for (int r = k; r < kmax; ++r) {
      ids[t * kmax + r] = k > 0 ? chosen[0] : 0;
      weights[t * kmax + r] = 0.0f;
    }
  }
}

// One warp per token for E ≤ 32·V experts (V values per lane in registers): k rounds of a shuffle arg-max, no
// shared memory and no block barriers (the block version spent ~8 barriers per chosen expert). Same choices and
// weights as router_topk_kernel: ties → lower id, p = e / Σe over the allowed experts, mass summed in slot order.
constexpr int kWarpRouterWarps = 4;
template <int V>
__global__ void __launch_bounds__(32 * kWarpRouterWarps)
    router_topk_warp_kernel(const float* logits, int64_t n, int E, const uint8_t* const* row_mask,
                            int64_t mask_offset, const int32_t* row_k, int kmax, bool renormalize,
                            float* probs_unmasked, int32_t* ids, float* weights) {
  pdl_trigger();
  pdl_wait();
  const int lane = threadIdx.x & 31;
  const int64_t t = int64_t(blockIdx.x) * kWarpRouterWarps + (threadIdx.x >> 5);
  if (t >= n) return;
  const float* l = logits + t * E;
  const uint8_t* mask = row_mask && row_mask[t] ? row_mask[t] + mask_offset : nullptr;
  float v[V];
  bool ok[V];
#pragma unroll
  for (int i = 0; i < V; ++i) {
    const int j = lane + 32 * i;
    v[i] = j < E ? l[j] : -INFINITY;
    ok[i] = j < E && (!mask || mask[j]);
  }
  if (probs_unmasked) {
    float mx = -INFINITY;
#pragma unroll
    for (int i = 0; i < V; ++i)
      if (lane + 32 * i < E) mx = fmaxf(mx, v[i]);
    mx = warp_max(mx);
    float e[V], sum = 0.0f;
#pragma unroll
    for (int i = 0; i < V; ++i) {
      e[i] = lane + 32 * i < E ? expf(v[i] - mx) : 0.0f;
      sum += e[i];
    }
    sum = warp_sum(sum);
#pragma unroll
    for (int i = 0; i < V; ++i)
      if (lane + 32 * i < E) probs_unmasked[t * E + lane + 32 * i] = e[i] / sum;
  }
  float mx = -INFINITY, allowed = 0.0f;
#pragma unroll
  for (int i = 0; i < V; ++i)
    if (ok[i]) {
      mx = fmaxf(mx, v[i]);
      allowed += 1.0f;
    }
  mx = warp_max(mx);
  allowed = warp_sum(allowed);
  float p[V], sum = 0.0f;
#pragma unroll
  for (int i = 0; i < V; ++i) {
    p[i] = ok[i] ? expf(v[i] - mx) : -1.0f;  // -1: never chosen
    if (ok[i]) sum += p[i];
  }
  sum = warp_sum(sum);
  const int k = min(int(row_k[t]), int(allowed));
  int32_t my_id = 0;  // lane r holds slot r
  float my_e = 0.0f;
  for (int r = 0; r < k; ++r) {
    float bv = -1.0f;
    int32_t bi = 0x7fffffff;
#pragma unroll
    for (int i = 0; i < V; ++i)
      if (p[i] > bv) {  // ascending ids per lane: strict > keeps the lowest on ties
        bv = p[i];
        bi = lane + 32 * i;
      }
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int32_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (ov > bv || (ov == bv && oi < bi)) {
        bv = ov;
        bi = oi;
      }
    }
#pragma unroll
    for (int i = 0; i < V; ++i)
      if (bi == lane + 32 * i) p[i] = -1.0f;
    if (lane == r) {
      my_id = bi;
      my_e = bv;
    }
  }
  float mass = 0.0f;
  for (int r = 0; r < k; ++r) mass += __shfl_sync(0xffffffffu, my_e, r) / sum;
  const int32_t first = __shfl_sync(0xffffffffu, my_id, 0);
  if (lane < kmax) {
    const float pr = my_e / sum;
    ids[t * kmax + lane] = lane < k ? my_id : (k > 0 ? first : 0);
    weights[t * kmax + lane] = lane < k ? (renormalize ? pr / mass : pr) : 0.0f;
  }
}
}  // namespace

void router_topk(const float* logits, int64_t n, int64_t num_experts, const uint8_t* const* row_mask,
                 int64_t mask_offset, const int32_t* row_k, int kmax, bool renormalize, float* probs_unmasked, int32_t* ids, float* weights,
                 cudaStream_t stream) {
  if (n == 0) return;
  BANYAN_CHECK(kmax >= 1 && kmax <= 32, "router_topk: k {} outside [1, 32]", kmax);
  const unsigned warp_blocks = unsigned((n + kWarpRouterWarps - 1) / kWarpRouterWarps);
  if (num_experts <= 128) {
    launch_pdl(router_topk_warp_kernel<4>, dim3(warp_blocks), dim3(32 * kWarpRouterWarps), 0, stream, logits, n, int(num_experts), row_mask, mask_offset, row_k, kmax, renormalize, probs_unmasked, ids, weights);
    BANYAN_CUDA_CHECK_LAUNCH();
    return;
  }
  if (num_experts <= 256) {
    launch_pdl(router_topk_warp_kernel<8>, dim3(warp_blocks), dim3(32 * kWarpRouterWarps), 0, stream, logits, n, int(num_experts), row_mask, mask_offset, row_k, kmax, renormalize, probs_unmasked, ids, weights);
    BANYAN_CUDA_CHECK_LAUNCH();
    return;
  }
  launch_pdl(router_topk_kernel, dim3(unsigned(n)), dim3(kThreads), size_t(num_experts) * sizeof(float), stream,
             logits, num_experts, row_mask, mask_offset, row_k, kmax, renormalize, probs_unmasked, ids, weights);
  BANYAN_CUDA_CHECK_LAUNCH();
}

}  // namespace banyan::ops::cuda
