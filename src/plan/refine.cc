#include "plan/refine.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace banyan {
namespace {

using Mass = std::vector<std::vector<std::vector<double>>>;  // [cluster][layer][expert]

// Re-splits the union of two nodes' experts exactly (each keeps its count): the experts with the largest
// mass_a - mass_b go to a. Returns whether the split changed.
bool resplit_pair(std::vector<int>& a, std::vector<int>& b, const std::vector<double>& ma,
                  const std::vector<double>& mb) {
  std::vector<int> u = a;
  u.insert(u.end(), b.begin(), b.end());
  std::sort(u.begin(), u.end());
  std::stable_sort(u.begin(), u.end(), [&](int x, int y) { return ma[x] - mb[x] > ma[y] - mb[y]; });
  std::vector<int> na(u.begin(), u.begin() + ptrdiff_t(a.size())), nb(u.begin() + ptrdiff_t(a.size()), u.end());
  std::sort(na.begin(), na.end());
  std::sort(nb.begin(), nb.end());
  // Keep the old split on equal mass, so the loop below terminates.
  double old_gain = 0, new_gain = 0;
  for (int e : a) old_gain += ma[e] - mb[e];
  for (int e : na) new_gain += ma[e] - mb[e];
  if (new_gain <= old_gain + 1e-12) return false;
  a = std::move(na);
  b = std::move(nb);
  return true;
}

std::vector<std::vector<int>> disjoint_layer(const std::vector<const std::vector<double>*>& m, int64_t per_node) {
  const size_t k = m.size(), E = m[0]->size();
  BANYAN_CHECK(int64_t(k) * per_node == int64_t(E), "refine: {} nodes x {} experts do not cover {} experts", k,
               per_node, E);
  struct Pair {
    double mass;
    int cluster, expert;
  };
  std::vector<Pair> pairs;
  for (size_t c = 0; c < k; ++c)
    for (size_t e = 0; e < E; ++e) pairs.push_back({(*m[c])[e], int(c), int(e)});
  std::stable_sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.mass > b.mass; });
  std::vector<std::vector<int>> sets(k);
  std::vector<char> taken(E, 0);
  for (const Pair& p : pairs) {
    if (taken[p.expert] || int64_t(sets[p.cluster].size()) >= per_node) continue;
    taken[p.expert] = 1;
    sets[p.cluster].push_back(p.expert);
  }
  // Pairwise exact re-splits until none gains (each strictly raises the total, so this ends).
  for (int pass = 0; pass < 100; ++pass) {
    bool changed = false;
    for (size_t a = 0; a < k; ++a)
      for (size_t b = a + 1; b < k; ++b) changed |= resplit_pair(sets[a], sets[b], *m[a], *m[b]);
    if (!changed) break;
  }
  for (auto& s : sets) std::sort(s.begin(), s.end());
  return sets;
}

double captured(const std::vector<double>& w, const Profiles& p, int64_t d,
                const std::vector<std::vector<char>>& in_set) {
  double s = 0;
  for (int64_t l = 0; l < p.layers; ++l) {
    const size_t off = p.offset(d, l);
    for (int64_t e = 0; e < p.experts; ++e)
      if (in_set[size_t(l)][size_t(e)]) s += w[off + size_t(e)];
  }
  return s / double(p.layers);
}

}  // namespace

std::vector<double> normalised_rows(const Profiles& p, const std::vector<float>& t) {
  std::vector<double> w(t.size(), 0.0);
  for (int64_t d = 0; d < p.docs; ++d)
    for (int64_t l = 0; l < p.layers; ++l) {
      const size_t off = p.offset(d, l);
      double sum = 0;
      for (int64_t e = 0; e < p.experts; ++e) sum += t[off + size_t(e)];
      if (sum <= 0) continue;
      for (int64_t e = 0; e < p.experts; ++e) w[off + size_t(e)] = t[off + size_t(e)] / sum;
    }
  return w;
}

Mass cluster_mass(const Profiles& p, const std::vector<float>& criterion, const std::vector<int>& doc_cluster,
                  int clusters) {
  BANYAN_CHECK(int64_t(doc_cluster.size()) == p.docs, "refine: {} cluster ids for {} documents", doc_cluster.size(),
               p.docs);
  const std::vector<double> w = normalised_rows(p, criterion);
  Mass m(size_t(clusters), std::vector<std::vector<double>>(size_t(p.layers), std::vector<double>(size_t(p.experts))));
  for (int64_t d = 0; d < p.docs; ++d) {
    const int c = doc_cluster[size_t(d)];
    BANYAN_CHECK(c >= 0 && c < clusters, "refine: document {} in cluster {} of {}", d, c, clusters);
    for (int64_t l = 0; l < p.layers; ++l)
      for (int64_t e = 0; e < p.experts; ++e) m[size_t(c)][size_t(l)][size_t(e)] += w[p.offset(d, l) + size_t(e)];
  }
  return m;
}

std::vector<std::vector<std::vector<int>>> best_sets(const Mass& mass, const RefineOptions& o) {
  const size_t k = mass.size();
  BANYAN_CHECK(k >= 1 && !mass[0].empty(), "refine: no clusters or layers");
  const size_t L = mass[0].size(), E = mass[0][0].size();
  BANYAN_CHECK(o.per_node >= 1 && o.per_node <= int64_t(E), "refine: {} experts per node of {}", o.per_node, E);
  std::vector<std::vector<std::vector<int>>> sets(k, std::vector<std::vector<int>>(L));
  for (size_t l = 0; l < L; ++l) {
    if (o.disjoint) {
      std::vector<const std::vector<double>*> m;
      for (size_t c = 0; c < k; ++c) m.push_back(&mass[c][l]);
      auto layer = disjoint_layer(m, o.per_node);
      for (size_t c = 0; c < k; ++c) sets[c][l] = std::move(layer[c]);
    } else {
      for (size_t c = 0; c < k; ++c) {
        std::vector<int> order(E);
        std::iota(order.begin(), order.end(), 0);
        const auto& v = mass[c][l];
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return v[a] > v[b]; });
        sets[c][l].assign(order.begin(), order.begin() + o.per_node);
        std::sort(sets[c][l].begin(), sets[c][l].end());
      }
    }
  }
  return sets;
}

double refine_clusters(const Profiles& p, const std::vector<float>& criterion, int clusters,
                       std::vector<int>& doc_cluster, const RefineOptions& o) {
  BANYAN_CHECK(clusters >= 1 && p.docs >= clusters, "refine: {} documents for {} clusters", p.docs, clusters);
  const std::vector<double> w = normalised_rows(p, criterion);
  const int64_t D = p.docs, capacity = o.balanced ? (D + clusters - 1) / clusters : D;
  double objective = 0;
  for (int round = 0;; ++round) {
    auto sets = best_sets(cluster_mass(p, criterion, doc_cluster, clusters), o);
    std::vector<std::vector<std::vector<char>>> in_set(static_cast<size_t>(clusters));
    for (int c = 0; c < clusters; ++c) {
      in_set[size_t(c)].assign(size_t(p.layers), std::vector<char>(size_t(p.experts), 0));
      for (int64_t l = 0; l < p.layers; ++l)
        for (int e : sets[size_t(c)][size_t(l)]) in_set[size_t(c)][size_t(l)][size_t(e)] = 1;
    }
    struct Pair {
      double share;
      int64_t doc;
      int cluster;
    };
    std::vector<Pair> pairs;
    objective = 0;
    for (int64_t d = 0; d < D; ++d)
      for (int c = 0; c < clusters; ++c) {
        const double s = captured(w, p, d, in_set[size_t(c)]);
        pairs.push_back({s, d, c});
        if (c == doc_cluster[size_t(d)]) objective += s;
      }
    objective /= double(D);
    if (round >= o.rounds) break;
    std::stable_sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.share > b.share; });
    std::vector<int> next(size_t(D), -1);
    std::vector<int64_t> size(size_t(clusters), 0);
    for (const Pair& q : pairs) {
      if (next[size_t(q.doc)] >= 0 || size[size_t(q.cluster)] >= capacity) continue;
      next[size_t(q.doc)] = q.cluster;
      ++size[size_t(q.cluster)];
    }
    // An emptied cluster would leave its node without documents to plan for: keep the last clustering.
    if (std::count(size.begin(), size.end(), int64_t(0)) > 0 || next == doc_cluster) break;
    doc_cluster = std::move(next);
  }
  return objective;
}

}  // namespace banyan
