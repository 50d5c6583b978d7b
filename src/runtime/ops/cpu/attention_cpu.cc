// Attention over the paged cache. One work unit = (sequence, KV head, block of new tokens): the block's queries of
// all heads sharing that KV head form the rows of two small GEMMs, scores = Q·Kᵀ and out = softmax(scores)·V, so
// each K/V row is loaded once per register tile of query rows instead of once per head and token.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "runtime/ops/attention.h"
#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/cpu/simd.h"

namespace banyan::ops {

namespace {
constexpr int64_t kQueryBlock = 16;

struct Unit {
  int32_t seq;
  int32_t kv_head;
  int64_t t0, t1;  // new-token range
};

// Per-thread buffers, grown to the largest unit seen and then reused (no allocation per decode step).
struct UnitScratch {
  std::vector<float> q;              // [rows, hd]: the block's queries of one KV head, row r = (t - t0)·group + g
  std::vector<float> scores;         // [rows, len]
  std::vector<const float*> k32, v32;     // K and V row of every position (fp32 cache)
  std::vector<const uint16_t*> k16, v16;  // (bf16 cache)
  std::vector<float*> out;           // output row of every query row
  std::vector<float> kwide;          // 4 bf16 K rows widened to fp32 (bf16 cache with many query rows)
};

template <class T>
void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

template <class KvT>
std::vector<const KvT*>& key_rows(UnitScratch& sc) {
  if constexpr (std::is_same_v<KvT, float>) return sc.k32;
  else return sc.k16;
}
template <class KvT>
std::vector<const KvT*>& value_rows(UnitScratch& sc) {
  if constexpr (std::is_same_v<KvT, float>) return sc.v32;
  else return sc.v16;
}

// Scores of all query rows against keys [0, len): S = Q · Kᵀ as a small GEMM, 4 keys at a time.
template <class KvT>
void unit_scores(UnitScratch& sc, int64_t rows, int64_t len, int64_t hd, float* S) {
  const KvT* const* keys = key_rows<KvT>(sc).data();
  for (int64_t j0 = 0; j0 < len; j0 += 4) {
    const int nw = int(std::min<int64_t>(4, len - j0));
    if constexpr (std::is_same_v<KvT, float>) {
      simd::matmul_block4(sc.q.data(), rows, hd, keys + j0, nw, hd, S + j0, len);
    } else if (rows <= 8) {  // few query rows (decode): widen K in registers
      simd::matmul_bf16_rows4(sc.q.data(), rows, hd, keys + j0, nw, hd, S + j0, len);
    } else {  // many query rows (prefill): widen the 4 K rows once, reuse them for every query row
      const float* k[4];
      for (int w = 0; w < nw; ++w) {
        simd::bf16_to_f32(keys[j0 + w], sc.kwide.data() + w * hd, hd);
        k[w] = sc.kwide.data() + w * hd;
      }
      simd::matmul_block4(sc.q.data(), rows, hd, k, nw, hd, S + j0, len);
    }
  }
}

template <class KvT>
void run_unit(const AttentionShape& shape, const KvLayout& layout, int64_t layer, const AttentionSeq& s,
              const Unit& u, UnitScratch& sc) {
  const int64_t group = shape.num_heads / shape.num_kv_heads;
  const int64_t hd = shape.head_dim, pt = layout.page_tokens;
  const int64_t rows = (u.t1 - u.t0) * group;
  const int64_t len = s.start + u.t1;  // keys seen by the block's last query; earlier queries mask the tail
  const size_t k_base = layout.offset(layer, 0, 0) + size_t(u.kv_head * hd) * sizeof(KvT);
  const size_t v_delta = layout.offset(layer, 1, 0) - layout.offset(layer, 0, 0);
  const size_t row_bytes = size_t(layout.kv_dim()) * sizeof(KvT);
  grow(sc.q, size_t(rows * hd));
  grow(sc.scores, size_t(rows * len));
  std::vector<const KvT*>& keys = key_rows<KvT>(sc);
  std::vector<const KvT*>& vals = value_rows<KvT>(sc);
  grow(keys, size_t(len));
  grow(vals, size_t(len));
  grow(sc.out, size_t(rows));
  grow(sc.kwide, size_t(4 * hd));
  for (int64_t t = u.t0; t < u.t1; ++t)
    for (int64_t g = 0; g < group; ++g) {
      const int64_t r = (t - u.t0) * group + g, head = u.kv_head * group + g;
      std::copy_n(s.q + t * s.q_stride + head * hd, hd, sc.q.data() + r * hd);
      sc.out[size_t(r)] = s.out + t * s.out_stride + head * hd;
    }
  for (int64_t j = 0; j < len; ++j) {
    const uint8_t* k = s.pages[j / pt] + k_base + size_t(j % pt) * row_bytes;
    keys[size_t(j)] = reinterpret_cast<const KvT*>(k);
    vals[size_t(j)] = reinterpret_cast<const KvT*>(k + v_delta);
  }
  float* S = sc.scores.data();
  unit_scores<KvT>(sc, rows, len, hd, S);
  // Causal softmax: query t sees keys [0, start + t]; the masked tail gets probability 0.
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t own = s.start + u.t0 + r / group + 1;
    simd::softmax_scaled(S + r * len, own, shape.scale);
    std::fill(S + r * len + own, S + (r + 1) * len, 0.0f);
  }
  if constexpr (std::is_same_v<KvT, float>) simd::attention_pv(S, len, rows, vals.data(), len, hd, sc.out.data());
  else simd::attention_pv_bf16(S, len, rows, vals.data(), len, hd, sc.out.data());
}
}  // namespace

void attention(const OpContext& ctx, const AttentionShape& shape, const KvLayout& layout, int64_t layer,
               std::span<const AttentionSeq> seqs) {
  BANYAN_CHECK(shape.num_kv_heads > 0 && shape.num_heads % shape.num_kv_heads == 0,
               "attention: {} query heads do not group over {} KV heads", shape.num_heads, shape.num_kv_heads);
  BANYAN_CHECK(layout.dtype == DType::F32 || layout.dtype == DType::BF16, "attention: KV dtype {} unsupported",
               dtype_name(layout.dtype));
  thread_local std::vector<Unit> units;  // the scheduler thread's list; workers only read it
  units.clear();
  int64_t work = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto& s = seqs[i];
    for (int64_t h = 0; h < shape.num_kv_heads; ++h)
      for (int64_t t0 = 0; t0 < s.n_new; t0 += kQueryBlock)
        units.push_back({int32_t(i), int32_t(h), t0, std::min(s.n_new, t0 + kQueryBlock)});
    work += s.n_new * (s.start + s.n_new) * shape.num_heads * shape.head_dim * 2;
  }
  // Units are ordered (sequence, KV head, query block): each thread's contiguous chunk mixes early (short) and
  // late (long) query blocks, which keeps the causal work roughly balanced.
  const std::vector<Unit>& list = units;
  parallel_ops(ctx, int64_t(list.size()), work, [&](int64_t b, int64_t e) {
    thread_local UnitScratch scratch;
    for (int64_t i = b; i < e; ++i) {
      const Unit& u = list[size_t(i)];
      if (layout.dtype == DType::F32) run_unit<float>(shape, layout, layer, seqs[size_t(u.seq)], u, scratch);
      else run_unit<uint16_t>(shape, layout, layer, seqs[size_t(u.seq)], u, scratch);
    }
  });
}

}  // namespace banyan::ops
