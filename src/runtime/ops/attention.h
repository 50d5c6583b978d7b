// Causal multi-head attention with grouped KV heads over a paged KV cache; scores and softmax in fp32.
#pragma once
#include <cstdint>
#include <span>

#include "runtime/ops/kv_layout.h"
#include "runtime/ops/op_context.h"

namespace banyan::ops {

struct AttentionShape {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // divides num_heads; query head h reads KV head h / (num_heads / num_kv_heads)
  int64_t head_dim = 0;
  float scale = 1.0f;        // usually 1/sqrt(head_dim)
};

// One sequence's share of a batch: its new tokens sit at positions [start, start + n_new); the cache already
// holds their K/V (written before the call) and the K/V of every earlier position.
struct AttentionSeq {
  const uint8_t* const* pages = nullptr;  // the sequence's page table
  int64_t start = 0;
  int64_t n_new = 0;
  const float* q = nullptr;  // [n_new, q_stride], heads contiguous (head h at h·head_dim)
  int64_t q_stride = 0;
  float* out = nullptr;      // [n_new, out_stride]
  int64_t out_stride = 0;
};

// out = softmax(q·Kᵀ·scale over positions ≤ own position) · V, for every sequence, head and new token.
void attention(const OpContext& ctx, const AttentionShape& shape, const KvLayout& layout, int64_t layer,
               std::span<const AttentionSeq> seqs);

}  // namespace banyan::ops
