// Attention over the paged cache. One work unit = (sequence, KV head, block of new tokens): the query heads that
// share a KV head are processed together so each K/V row is loaded once for the whole group.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "runtime/ops/attention.h"
#include "runtime/ops/cpu/simd.h"

namespace banyan::ops {

namespace {
constexpr int64_t kQueryBlock = 16;

struct Unit {
  int32_t seq;
  int32_t kv_head;
  int64_t t0, t1;  // new-token range
};

template <class KvT>
void run_unit(const AttentionShape& shape, const KvLayout& layout, int64_t layer, const AttentionSeq& s,
              const Unit& u, std::vector<float>& scores) {
  const int64_t group = shape.num_heads / shape.num_kv_heads;
  const int64_t hd = shape.head_dim, pt = layout.page_tokens;
  const int64_t kv_off = u.kv_head * hd;
  const size_t k_base = layout.offset(layer, 0, 0), v_base = layout.offset(layer, 1, 0);
  const size_t row_bytes = size_t(layout.kv_dim()) * sizeof(KvT);
  for (int64_t t = u.t0; t < u.t1; ++t) {
    const int64_t len = s.start + t + 1;  // causal: keys 0..pos
    if (scores.size() < size_t(group * len)) scores.resize(size_t(group * len) * 2);
    for (int64_t j = 0; j < len; ++j) {
      const uint8_t* page = s.pages[j / pt];
      const KvT* krow = reinterpret_cast<const KvT*>(page + k_base + size_t(j % pt) * row_bytes) + kv_off;
      for (int64_t g = 0; g < group; ++g) {
        const float* q = s.q + t * s.q_stride + (u.kv_head * group + g) * hd;
        float dotv;
        if constexpr (std::is_same_v<KvT, float>) dotv = simd::dot(q, krow, hd);
        else dotv = simd::dot_bf16(q, krow, hd);
        scores[size_t(g * len + j)] = dotv * shape.scale;
      }
    }
    for (int64_t g = 0; g < group; ++g) {
      float* sc = scores.data() + g * len;
      const float mx = *std::max_element(sc, sc + len);
      float sum = 0.0f;
      for (int64_t j = 0; j < len; ++j) {
        sc[j] = std::exp(sc[j] - mx);
        sum += sc[j];
      }
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < len; ++j) sc[j] *= inv;
      float* out = s.out + t * s.out_stride + (u.kv_head * group + g) * hd;
      std::fill(out, out + hd, 0.0f);
    }
    for (int64_t j = 0; j < len; ++j) {
      const uint8_t* page = s.pages[j / pt];
      const KvT* vrow = reinterpret_cast<const KvT*>(page + v_base + size_t(j % pt) * row_bytes) + kv_off;
      for (int64_t g = 0; g < group; ++g) {
        float* out = s.out + t * s.out_stride + (u.kv_head * group + g) * hd;
        const float p = scores[size_t(g * len + j)];
        if constexpr (std::is_same_v<KvT, float>) simd::axpy(p, vrow, out, hd);
        else simd::axpy_bf16(p, vrow, out, hd);
      }
    }
  }
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
  ctx.parallel(int64_t(list.size()), work, [&](int64_t b, int64_t e) {
    thread_local std::vector<float> scores;
    for (int64_t i = b; i < e; ++i) {
      const Unit& u = list[size_t(i)];
      if (layout.dtype == DType::F32) run_unit<float>(shape, layout, layer, seqs[size_t(u.seq)], u, scores);
      else run_unit<uint16_t>(shape, layout, layer, seqs[size_t(u.seq)], u, scores);
    }
  });
}

}  // namespace banyan::ops
