#include "plan/predicted_quality.h"

#include "core/error.h"

namespace banyan {
namespace {

double share(const float* row, int64_t n, const std::vector<char>& in_set) {
  double in = 0, all = 0;
  for (int64_t e = 0; e < n; ++e) {
    all += row[e];
    if (in_set[size_t(e)]) in += row[e];
  }
  return all > 0 ? in / all : 0.0;
}

std::vector<std::vector<char>> masks(const Profiles& p, const std::vector<std::vector<int>>& experts) {
  BANYAN_CHECK(int64_t(experts.size()) == p.layers, "predicted quality: {} expert lists for {} profile layers",
               experts.size(), p.layers);
  std::vector<std::vector<char>> m(experts.size(), std::vector<char>(size_t(p.experts), 0));
  for (size_t l = 0; l < experts.size(); ++l)
    for (int e : experts[l]) {
      BANYAN_CHECK(e >= 0 && e < p.experts, "predicted quality: expert {} out of range [0, {})", e, p.experts);
      m[l][size_t(e)] = 1;
    }
  return m;
}

}  // namespace

std::string quality_metric_name(const Profiles& p) {
  return p.topk_mass.empty() ? "topk_selection_share" : "captured_topk_mass";
}

double captured_share(const Profiles& p, int64_t doc, int64_t layer, const std::vector<char>& in_set) {
  const auto& t = p.topk_mass.empty() ? p.counts : p.topk_mass;
  return share(t.data() + p.offset(doc, layer), p.experts, in_set);
}

double router_mass_share(const Profiles& p, int64_t doc, int64_t layer, const std::vector<char>& in_set) {
  return share(p.probs_at(doc, layer), p.experts, in_set);
}

NodeQuality predict_node_quality(const Profiles& p, const std::vector<std::vector<int>>& experts,
                                 const std::vector<int64_t>& docs) {
  auto m = masks(p, experts);
  NodeQuality q;
  q.metric = quality_metric_name(p);
  q.documents = int64_t(docs.size());
  q.per_layer.assign(size_t(p.layers), 0.0);
  for (int64_t d : docs)
    for (int64_t l = 0; l < p.layers; ++l) {
      double c = captured_share(p, d, l, m[l]);
      q.per_layer[l] += c;
      q.on_cluster += c;
      q.router_mass_cluster += router_mass_share(p, d, l, m[l]);
    }
  if (!docs.empty()) {
    double n = double(docs.size());
    for (auto& v : q.per_layer) v /= n;
    q.on_cluster /= n * double(p.layers);
    q.router_mass_cluster /= n * double(p.layers);
  }
  for (int64_t d = 0; d < p.docs; ++d)
    for (int64_t l = 0; l < p.layers; ++l) {
      q.on_all += captured_share(p, d, l, m[l]);
      q.router_mass_all += router_mass_share(p, d, l, m[l]);
    }
  if (p.docs > 0) {
    q.on_all /= double(p.docs * p.layers);
    q.router_mass_all /= double(p.docs * p.layers);
  }
  return q;
}

}  // namespace banyan
