// CUDA MoE routing: the device twin of ops::router_topk (runtime/ops/router.h), with per-row restriction masks and
// k, so one launch routes a whole batch of items. Only included from .cu files (the CUDA build).
#pragma once
#include <cstdint>

#include <cuda_runtime.h>

namespace banyan::ops::cuda {

// For each row t < n of logits [n, E]:
//   - probs_unmasked (nullable) [n, E]: softmax over all experts (router taps);
//   - softmax over the allowed experts (row_mask[t] + mask_offset: E bytes, nonzero = allowed; a null row_mask or
//     null entry allows all), the top k_t = min(row_k[t], allowed count) by probability (ties → lower id), weights p / Σ (or
//     renormalised over the chosen ones), written to ids/weights [n, kmax] at columns [0, k_t); columns
//     [k_t, kmax) get weight 0 and the first chosen id, so a fixed-k expert kernel adds exact zeros.
// row_k values must be ≤ kmax ≤ 32; a row whose mask allows nothing gets id 0 and weights 0 (the engine rejects
// such restrictions before the call).
void router_topk(const float* logits, int64_t n, int64_t num_experts, const uint8_t* const* row_mask,
                 int64_t mask_offset, const int32_t* row_k, int kmax, bool renormalize, float* probs_unmasked, int32_t* ids, float* weights,
                 cudaStream_t stream);

}  // namespace banyan::ops::cuda
