// CUDA causal GQA attention over the paged KV cache: the device twin of ops::attention (runtime/ops/attention.h),
// which is its reference. Pages use exactly ops::KvLayout (runtime/ops/kv_layout.h) but live in device memory.
// Only included from .cu files (the CUDA build).
#pragma once
#include <cstdint>

#include <cuda_runtime.h>

#include "runtime/ops/attention.h"
#include "runtime/ops/kv_layout.h"

namespace banyan::ops::cuda {

// One sequence's share of a flattened batch (a device array of these is passed in).
struct AttentionItem {
  const uint8_t* const* pages = nullptr;  // DEVICE array of DEVICE page pointers (the sequence's page table)
  int32_t start = 0;                      // sequence length before this call
  int32_t n_new = 0;                      // new tokens (their K/V already written to the pages)
  int32_t row_begin = 0;                  // first row of this item in q / out
};

// Device scratch for split-K decoding (flash-decoding: long key ranges split over several CTAs, partial softmax
// results merged in split order, so the result does not depend on scheduling). Owned by the caller; grown with
// reserve() outside graph capture.
struct AttentionWorkspace {
  void* data = nullptr;
  size_t bytes = 0;
  void reserve(size_t need_bytes);  // cudaFree + cudaMalloc when larger (never inside graph capture)
  ~AttentionWorkspace();
};
// Bytes paged_attention may use for split-K at these bounds (0 when it would never split).
size_t attention_workspace_bytes(const AttentionShape& shape, int num_items, int max_new, int max_len);

// For every item i, new token t < n_new (row = row_begin + t, position start + t) and query head h:
//   out[row, h·hd : (h+1)·hd] = softmax_j(q[row, h]·K[j, h/group]·scale, j ≤ start + t) · V[j, h/group]
// q rows are q_stride apart (heads contiguous), out rows out_stride apart; fp32 softmax. `max_len` ≥ every
// item's start + n_new and `max_new` ≥ every n_new (bounds for the launch grid). KV dtype F32 or BF16.
// Device pointers only; enqueued on `stream`; no allocation (graph-capturable). head_dim must be a multiple of 8
// and ≤ 256. `ws` (optional) lets few long items (decode) spread over more CTAs; without it, or when it holds fewer
// than attention_workspace_bytes(...) bytes, each (item, KV head, query block) runs in one CTA — same result.
void paged_attention(const AttentionShape& shape, const KvLayout& layout, int64_t layer, const AttentionItem* items,
                     int num_items, int max_new, int max_len, const float* q, int64_t q_stride, float* out,
                     int64_t out_stride, cudaStream_t stream, AttentionWorkspace* ws = nullptr);

}  // namespace banyan::ops::cuda
