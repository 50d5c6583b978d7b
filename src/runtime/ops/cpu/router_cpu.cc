#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/router.h"

namespace banyan::ops {

int router_topk(const OpContext& ctx, const RouterConfig& cfg, const float* logits, int64_t n, const uint8_t* allowed,
                float* probs_unmasked, int32_t* ids, float* weights) {
  const int64_t E = cfg.num_experts;
  int64_t n_allowed = E;
  if (allowed) n_allowed = std::count_if(allowed, allowed + E, [](uint8_t a) { return a != 0; });
  BANYAN_CHECK(n_allowed > 0, "router: the expert restriction allows no expert");
  const int k = int(std::min<int64_t>(cfg.top_k, n_allowed));
  parallel_ops(ctx, n, n * E * 8, [&](int64_t b, int64_t e) {
    thread_local std::vector<float> probs;
    thread_local std::vector<int32_t> order;
    probs.resize(size_t(E));
    order.resize(size_t(E));
    for (int64_t i = b; i < e; ++i) {
      const float* l = logits + i * E;
      if (probs_unmasked) {  // the full softmax, reported whatever the restriction
        const float mx = *std::max_element(l, l + E);
        float sum = 0.0f;
        for (int64_t j = 0; j < E; ++j) sum += (probs_unmasked[i * E + j] = std::exp(l[j] - mx));
        for (int64_t j = 0; j < E; ++j) probs_unmasked[i * E + j] /= sum;
      }
      // Softmax over the allowed experts only (logits of the others are −∞).
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < E; ++j)
        if (!allowed || allowed[j]) mx = std::max(mx, l[j]);
      float sum = 0.0f;
      int64_t m = 0;
      for (int64_t j = 0; j < E; ++j) {
        if (allowed && !allowed[j]) continue;
        probs[size_t(j)] = std::exp(l[j] - mx);
        sum += probs[size_t(j)];
        order[size_t(m++)] = int32_t(j);
      }
      std::partial_sort(order.begin(), order.begin() + k, order.begin() + m, [&](int32_t a, int32_t c) {
        return probs[size_t(a)] != probs[size_t(c)] ? probs[size_t(a)] > probs[size_t(c)] : a < c;
      });
      float chosen = 0.0f;
      for (int j = 0; j < k; ++j) chosen += probs[size_t(order[size_t(j)])] / sum;
      for (int j = 0; j < k; ++j) {
        const float p = probs[size_t(order[size_t(j)])] / sum;
        ids[i * k + j] = order[size_t(j)];
        weights[i * k + j] = cfg.renormalize ? p / chosen : p;
      }
    }
  });
  return k;
}

}  // namespace banyan::ops
