#include "plan/calibrate.h"

#include "core/error.h"

namespace banyan {

void check_calibrate_device(const std::string& device) {
  if (device == "cpu" || device == "cuda") return;
  const bool indexed = device.starts_with("cuda:") && device.size() > 5 && device.size() <= 8 &&
                       device.find_first_not_of("0123456789", 5) == std::string::npos;
  BANYAN_CHECK(indexed, "calibrate: unknown device '{}' (expected cpu, cuda or cuda:<index>)", device);
}

Profiles calibrate_documents(Engine& engine, const std::vector<Document>& docs, const CalibrateOptions& o,
                             const std::function<void(int64_t)>& on_progress) {
  const ModelSpec& spec = engine.spec();
  const std::vector<int> moe = spec.moe_layers();
  const int64_t L = int64_t(moe.size()), E = spec.num_experts;
  BANYAN_CHECK(L > 0 && E > 0, "calibrate: the model has no MoE layers");
  BANYAN_CHECK(o.batch >= 1, "calibrate: batch must be at least 1");
  Profiles p;
  p.resize(int64_t(docs.size()), L, E, /*with_topk_mass=*/true, /*with_out_norm=*/o.output_norms);
  p.moe_layers = moe;
  p.top_k = spec.top_k;

  ForwardOutput out;
  for (size_t first = 0; first < docs.size(); first += size_t(o.batch)) {
    const size_t n = std::min(docs.size() - first, size_t(o.batch));
    std::vector<RouterTapRequest> taps(n);
    std::vector<BatchItem> batch(n);
    for (size_t i = 0; i < n; ++i) {
      const Document& d = docs[first + i];
      BANYAN_CHECK(!d.tokens.empty(), "calibrate: document {} (line {}) has no tokens", first + i, d.line);
      taps[i].layers = moe;
      taps[i].expert_output_norms = o.output_norms;
      batch[i].seq = engine.create_sequence();
      batch[i].tokens.assign(d.tokens.begin(), d.tokens.end());
      batch[i].logits = LogitsRequest::none();
      batch[i].taps = &taps[i];
    }
    try {
      engine.forward(batch, out);
    } catch (...) {
      for (auto& b : batch) engine.free_sequence(b.seq);
      throw;
    }
    for (size_t i = 0; i < n; ++i) {
      const int64_t d = int64_t(first + i);
      const int64_t T = int64_t(docs[first + i].tokens.size());
      p.domains[d] = docs[first + i].domain;
      p.tokens[d] = T;
      BANYAN_CHECK(int64_t(taps[i].taps.size()) == L, "calibrate: engine returned {} router taps, expected {}",
                   taps[i].taps.size(), L);
      for (int64_t l = 0; l < L; ++l) {
        const RouterTap& tap = taps[i].taps[l];
        BANYAN_CHECK(tap.layer == moe[l] && int64_t(tap.probs.size()) == T * E,
                     "calibrate: router tap for layer {} has {} probabilities, expected {}×{}", moe[l],
                     tap.probs.size(), T, E);
        const size_t off = p.offset(d, l);
        std::vector<double> probs(size_t(E), 0.0), mass(size_t(E), 0.0);
        for (int64_t t = 0; t < T; ++t) {
          const float* row = tap.probs.data() + t * E;
          for (int64_t e = 0; e < E; ++e) probs[e] += row[e];
          for (int j = 0; j < tap.k; ++j) {
            int32_t e = tap.ids[size_t(t * tap.k + j)];
            p.counts[off + size_t(e)] += 1.0f;
            mass[e] += row[e];
          }
        }
        for (int64_t e = 0; e < E; ++e) {
          p.probs[off + size_t(e)] = float(probs[e] / double(T));
          p.topk_mass[off + size_t(e)] = float(mass[e] / double(T));
        }
        if (o.output_norms) {
          BANYAN_CHECK(int64_t(tap.weighted_output_norm.size()) == E,
                       "calibrate: engine gave no expert output norms for layer {}", moe[l]);
          for (int64_t e = 0; e < E; ++e) p.out_norm[off + size_t(e)] = float(tap.weighted_output_norm[e]);
        }
      }
      engine.free_sequence(batch[i].seq);
    }
    if (on_progress) on_progress(int64_t(first + n));
  }
  return p;
}

}  // namespace banyan
