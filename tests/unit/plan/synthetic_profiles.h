// Synthetic router profiles with a known cluster structure, for planner tests.
#pragma once
#include <random>
#include <string>

#include "plan/planner.h"
#include "plan/profiles.h"

namespace banyan::test {

// `groups` document groups; documents of group g put most of their router mass on experts whose id ≡ g mod
// groups in every layer (so the true clustering and each group's preferred experts are known). Expert 0 of every
// layer is "hot" for every document when `hot_expert` is set.
inline Profiles make_grouped_profiles(int groups, int docs_per_group, int layers, int experts, uint64_t seed,
                                      bool hot_expert = false) {
  Profiles p;
  p.resize(groups * docs_per_group, layers, experts, /*with_topk_mass=*/true, /*with_out_norm=*/false);
  p.source_hash = "abc123";
  p.corpus = "synthetic.jsonl";
  p.per_domain = docs_per_group;
  p.seq_tokens = 16;
  p.top_k = 2;
  for (int l = 0; l < layers; ++l) p.moe_layers.push_back(l);
  std::mt19937_64 rng(seed);
  for (int g = 0; g < groups; ++g)
    for (int i = 0; i < docs_per_group; ++i) {
      int64_t d = int64_t(g) * docs_per_group + i;
      p.domains[d] = "group" + std::to_string(g);
      p.tokens[d] = 16;
      for (int l = 0; l < layers; ++l) {
        double sum = 0;
        std::vector<double> w(experts);
        for (int e = 0; e < experts; ++e) {
          double noise = double(rng() % 1000) / 1000.0;
          w[e] = (e % groups == g ? 5.0 : 0.5) * (0.5 + noise);
          if (hot_expert && e == 0) w[e] = 40.0;
          sum += w[e];
        }
        for (int e = 0; e < experts; ++e) {
          size_t off = p.offset(d, l) + e;
          p.probs[off] = float(w[e] / sum);
          p.counts[off] = float(w[e] / sum * 16 * p.top_k);  // proportional stand-in for selection counts
          p.topk_mass[off] = float(w[e] / sum * w[e] / sum);
        }
      }
    }
  return p;
}

// A qwen3_moe PlanModel of `layers` layers, every one MoE, `experts` experts, top-2.
inline PlanModel make_plan_model(int experts, int layers) {
  PlanModel m;
  m.source_path = "/models/x";
  m.source_sha256 = "abc123";
  m.family = "qwen3_moe";
  m.num_layers = layers;
  for (int l = 0; l < layers; ++l) m.moe_layers.push_back(l);
  m.num_experts = experts;
  m.top_k = 2;
  return m;
}

}  // namespace banyan::test
