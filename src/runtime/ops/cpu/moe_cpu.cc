// Grouped experts: a counting sort puts assignments (token, slot) in expert order; threads take whole experts,
// run gate/up/down as small GEMMs over the expert's gathered tokens, and write each assignment's output to its
// own row; a final pass sums each token's rows in slot order.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "runtime/ops/activation.h"
#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/cpu/simd.h"
#include "runtime/ops/matmul.h"
#include "runtime/ops/moe.h"

namespace banyan::ops {

void moe_experts(const OpContext& ctx, const float* x, int64_t n, int64_t ldx, int64_t hidden, const int32_t* ids,
                 const float* weights, int k, std::span<const ExpertWeights> experts, MoeScratch& s, float* out,
                 int64_t ldo, double* weighted_norm, int64_t* token_count) {
  const int64_t E = int64_t(experts.size());
  const int64_t na = n * k;
  s.counts.assign(size_t(E), 0);
  for (int64_t a = 0; a < na; ++a) {
    BANYAN_CHECK(ids[a] >= 0 && ids[a] < E, "moe: expert id {} outside [0, {})", ids[a], E);
    ++s.counts[size_t(ids[a])];
  }
  s.offsets.resize(size_t(E) + 1);
  s.offsets[0] = 0;
  s.active.clear();
  for (int64_t e = 0; e < E; ++e) {
    s.offsets[size_t(e) + 1] = s.offsets[size_t(e)] + s.counts[size_t(e)];
    if (s.counts[size_t(e)] > 0) s.active.push_back(int32_t(e));
  }
  s.order.resize(size_t(na));
  {
    std::vector<int32_t>& fill = s.counts;  // reuse as running cursor
    for (int64_t e = 0; e < E; ++e) fill[size_t(e)] = s.offsets[size_t(e)];
    for (int64_t a = 0; a < na; ++a) s.order[size_t(fill[size_t(ids[a])]++)] = int32_t(a);
  }
  if (s.expert_out.size() < size_t(na * hidden)) s.expert_out.resize(size_t(na * hidden));

  int64_t inter_max = 0;
  for (int32_t e : s.active) inter_max = std::max(inter_max, experts[size_t(e)].gate.rows);
  const int64_t work = na * inter_max * hidden * 3;
  const int64_t n_active = int64_t(s.active.size());
  auto run_experts = [&](int64_t b, int64_t e_end) {
    thread_local std::vector<float> buf;  // gathered x, gate, up of one expert (grown rarely)
    for (int64_t ai = b; ai < e_end; ++ai) {
      const int32_t e = s.active[size_t(ai)];
      const ExpertWeights& w = experts[size_t(e)];
      const int64_t inter = w.gate.rows;
      const int64_t t = s.offsets[size_t(e) + 1] - s.offsets[size_t(e)];
      const size_t need = size_t(t * (hidden + 2 * inter));
      if (buf.size() < need) buf.resize(need);
      float* xg = buf.data();
      float* g = xg + t * hidden;
      float* u = g + t * inter;
      const int32_t* assign = s.order.data() + s.offsets[size_t(e)];
      for (int64_t r = 0; r < t; ++r) std::copy_n(x + (assign[r] / k) * ldx, hidden, xg + r * hidden);
      matmul_serial(xg, t, hidden, w.gate, g, inter);
      matmul_serial(xg, t, hidden, w.up, u, inter);
      swiglu(g, u, g, t * inter);
      // Down projection straight into the assignments' rows is not contiguous; go through xg (free now).
      matmul_serial(g, t, inter, w.down, xg, hidden);
      for (int64_t r = 0; r < t; ++r) {
        std::copy_n(xg + r * hidden, hidden, s.expert_out.data() + int64_t(assign[r]) * hidden);
        if (weighted_norm) {
          weighted_norm[e] += double(weights[assign[r]]) * std::sqrt(double(simd::sum_squares(xg + r * hidden, hidden)));
        }
      }
      if (token_count) token_count[e] += t;
    }
  };
  parallel_ops(ctx, n_active, work, run_experts);

  parallel_ops(ctx, n, n * k * hidden, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float* o = out + i * ldo;
      std::fill(o, o + hidden, 0.0f);
      for (int j = 0; j < k; ++j)
        simd::axpy(weights[i * k + j], s.expert_out.data() + (i * k + j) * hidden, o, hidden);
    }
  });
}

void dense_swiglu(const OpContext& ctx, const float* x, int64_t n, int64_t ldx, const ExpertWeights& w,
                  std::vector<float>& tmp, float* out, int64_t ldo) {
  const int64_t inter = w.gate.rows;
  if (tmp.size() < size_t(2 * n * inter)) tmp.resize(size_t(2 * n * inter));
  float* g = tmp.data();
  float* u = g + n * inter;
  matmul(ctx, x, n, ldx, w.gate, g, inter);
  matmul(ctx, x, n, ldx, w.up, u, inter);
  swiglu(g, u, g, n * inter);
  matmul(ctx, g, n, inter, w.down, out, ldo);
}

}  // namespace banyan::ops
