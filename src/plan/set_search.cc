#include "plan/set_search.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "plan/refine.h"

namespace banyan {
namespace {

constexpr double kMinGain = 1e-9;

// One cluster's documents in one layer: their criterion rows [doc][expert] and current coverage.
struct ClusterLayer {
  int64_t experts = 0;
  std::vector<double> w;    // docs x experts
  std::vector<double> cov;  // per doc: Σ_{e ∈ S} w
  std::vector<double> base; // per doc: log(eps + cov)
  std::vector<char> in_set; // per expert

  size_t docs() const { return cov.size(); }
  // Change of Σ_d log(eps + cov_d) when expert `out` leaves and `in` joins the set.
  double gain(int out, int in, double eps) const {
    double g = 0;
    for (size_t d = 0; d < docs(); ++d) {
      const double* row = w.data() + d * size_t(experts);
      g += std::log(std::max(0.0, cov[d] - row[out] + row[in]) + eps) - base[d];
    }
    return g;
  }
  void apply(int out, int in, double eps) {
    for (size_t d = 0; d < docs(); ++d) {
      const double* row = w.data() + d * size_t(experts);
      cov[d] = std::max(0.0, cov[d] - row[out] + row[in]);
      base[d] = std::log(cov[d] + eps);
    }
    in_set[size_t(out)] = 0;
    in_set[size_t(in)] = 1;
  }
};

ClusterLayer make_cluster_layer(const Profiles& p, const std::vector<double>& w, const std::vector<int64_t>& docs,
                                int64_t layer, const std::vector<int>& set, double eps) {
  ClusterLayer c;
  c.experts = p.experts;
  c.in_set.assign(size_t(p.experts), 0);
  for (int e : set) c.in_set[size_t(e)] = 1;
  c.w.reserve(docs.size() * size_t(p.experts));
  for (int64_t d : docs) {
    const double* row = w.data() + p.offset(d, layer);
    c.w.insert(c.w.end(), row, row + p.experts);
    double s = 0;
    for (int e : set) s += row[e];
    c.cov.push_back(s);
    c.base.push_back(std::log(s + eps));
  }
  return c;
}

std::vector<int> members(const ClusterLayer& c) {
  std::vector<int> s;
  for (int64_t e = 0; e < c.experts; ++e)
    if (c.in_set[size_t(e)]) s.push_back(int(e));
  return s;
}

// Budget: swaps inside one (cluster, layer). Returns swaps made.
int64_t search_budget(ClusterLayer& c, const SetSearchOptions& o) {
  int64_t swaps = 0;
  for (int pass = 0; pass < o.max_passes; ++pass) {
    bool changed = false;
    for (int x : members(c)) {
      int best = -1;
      double best_gain = kMinGain;
      for (int64_t y = 0; y < c.experts; ++y) {
        if (c.in_set[size_t(y)]) continue;
        const double g = c.gain(x, int(y), o.eps);
        if (g > best_gain) best_gain = g, best = int(y);
      }
      if (best >= 0) {
        c.apply(x, best, o.eps);
        ++swaps;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return swaps;
}

// Disjoint: exchanges between the sets of clusters a and b in one layer. Returns swaps made.
int64_t search_pair(ClusterLayer& a, ClusterLayer& b, const SetSearchOptions& o) {
  int64_t swaps = 0;
  for (int pass = 0; pass < o.max_passes; ++pass) {
    bool changed = false;
    for (int x : members(a)) {
      int best = -1;
      double best_gain = kMinGain;
      for (int y : members(b)) {
        const double g = a.gain(x, y, o.eps) + b.gain(y, x, o.eps);
        if (g > best_gain) best_gain = g, best = y;
      }
      if (best >= 0) {
        a.apply(x, best, o.eps);
        b.apply(best, x, o.eps);
        ++swaps;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return swaps;
}

std::vector<std::vector<int64_t>> docs_by_cluster(const Profiles& p, const std::vector<int>& doc_cluster,
                                                  size_t clusters) {
  BANYAN_CHECK(int64_t(doc_cluster.size()) == p.docs, "set search: {} cluster ids for {} documents",
               doc_cluster.size(), p.docs);
  std::vector<std::vector<int64_t>> docs(clusters);
  for (int64_t d = 0; d < p.docs; ++d) {
    const int c = doc_cluster[size_t(d)];
    BANYAN_CHECK(c >= 0 && size_t(c) < clusters, "set search: document {} in cluster {} of {}", d, c, clusters);
    docs[size_t(c)].push_back(d);
  }
  return docs;
}

}  // namespace

double log_coverage(const Profiles& p, const std::vector<double>& w, const std::vector<int>& doc_cluster,
                    const std::vector<std::vector<std::vector<int>>>& sets, double eps) {
  BANYAN_CHECK(w.size() == size_t(p.docs * p.layers * p.experts), "set search: {} weights for {} x {} x {}",
               w.size(), p.docs, p.layers, p.experts);
  const auto docs = docs_by_cluster(p, doc_cluster, sets.size());
  double f = 0;
  for (size_t c = 0; c < sets.size(); ++c) {
    BANYAN_CHECK(int64_t(sets[c].size()) == p.layers, "set search: cluster {} lists {} layers of {}", c,
                 sets[c].size(), p.layers);
    for (int64_t l = 0; l < p.layers; ++l) {
      const ClusterLayer cl = make_cluster_layer(p, w, docs[c], l, sets[c][size_t(l)], eps);
      for (double b : cl.base) f += b;
    }
  }
  return f;
}

int64_t log_coverage_search(const Profiles& p, const std::vector<double>& w, const std::vector<int>& doc_cluster,
                            std::vector<std::vector<std::vector<int>>>& sets, const SetSearchOptions& o) {
  BANYAN_CHECK(o.eps > 0, "set search: eps {} must be positive", o.eps);
  BANYAN_CHECK(w.size() == size_t(p.docs * p.layers * p.experts), "set search: {} weights for {} x {} x {}",
               w.size(), p.docs, p.layers, p.experts);
  const size_t k = sets.size();
  const auto docs = docs_by_cluster(p, doc_cluster, k);
  int64_t swaps = 0;
  for (int64_t l = 0; l < p.layers; ++l) {
    std::vector<ClusterLayer> cl;
    for (size_t c = 0; c < k; ++c) {
      BANYAN_CHECK(int64_t(sets[c].size()) == p.layers, "set search: cluster {} lists {} layers of {}", c,
                   sets[c].size(), p.layers);
      cl.push_back(make_cluster_layer(p, w, docs[c], l, sets[c][size_t(l)], o.eps));
    }
    if (o.disjoint) {
      // Node pairs until a whole sweep over them makes no swap.
      for (int sweep = 0; sweep < o.max_passes; ++sweep) {
        int64_t made = 0;
        for (size_t a = 0; a < k; ++a)
          for (size_t b = a + 1; b < k; ++b) made += search_pair(cl[a], cl[b], o);
        swaps += made;
        if (made == 0) break;
      }
    } else {
      for (size_t c = 0; c < k; ++c) swaps += search_budget(cl[c], o);
    }
    for (size_t c = 0; c < k; ++c) sets[c][size_t(l)] = members(cl[c]);
  }
  return swaps;
}

double soft_responsibility_sets(const Profiles& p, const std::vector<double>& w,
                                std::vector<std::vector<std::vector<int>>>& sets, int64_t per_node, bool disjoint,
                                double beta, int rounds) {
  BANYAN_CHECK(beta > 0 && rounds >= 1, "soft sets: beta {} and rounds {} must be positive", beta, rounds);
  BANYAN_CHECK(w.size() == size_t(p.docs * p.layers * p.experts), "soft sets: {} weights for {} x {} x {}", w.size(),
               p.docs, p.layers, p.experts);
  BANYAN_CHECK(!sets.empty(), "soft sets: no clusters");
  for (size_t c = 0; c < sets.size(); ++c)
    BANYAN_CHECK(int64_t(sets[c].size()) == p.layers, "soft sets: cluster {} lists {} layers of {}", c,
                 sets[c].size(), p.layers);
  const size_t k = sets.size();
  const size_t L = size_t(p.layers), E = size_t(p.experts);
  RefineOptions ro;
  ro.per_node = per_node;
  ro.disjoint = disjoint;
  double mean_top = 0;
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::vector<std::vector<char>>> in(k, std::vector<std::vector<char>>(L, std::vector<char>(E, 0)));
    for (size_t c = 0; c < k; ++c)
      for (size_t l = 0; l < L; ++l)
        for (int e : sets[c][l]) in[c][l][size_t(e)] = 1;
    std::vector<std::vector<std::vector<double>>> mass(k, std::vector<std::vector<double>>(L, std::vector<double>(E)));
    std::vector<double> share(k), r(k);
    mean_top = 0;
    for (int64_t d = 0; d < p.docs; ++d) {
      for (size_t c = 0; c < k; ++c) {
        double s = 0;
        for (size_t l = 0; l < L; ++l) {
          const double* row = w.data() + p.offset(d, int64_t(l));
          for (size_t e = 0; e < E; ++e)
            if (in[c][l][e]) s += row[e];
        }
        share[c] = s / double(L);
      }
      const double top = *std::max_element(share.begin(), share.end());
      double z = 0;
      for (size_t c = 0; c < k; ++c) z += r[c] = std::exp(beta * (share[c] - top));
      mean_top += 1.0 / z;  // the best node's responsibility
      for (size_t c = 0; c < k; ++c) {
        const double rc = r[c] / z;
        if (rc < 1e-6) continue;
        for (size_t l = 0; l < L; ++l) {
          const double* row = w.data() + p.offset(d, int64_t(l));
          for (size_t e = 0; e < E; ++e) mass[c][l][e] += rc * row[e];
        }
      }
    }
    mean_top /= double(std::max<int64_t>(1, p.docs));
    sets = best_sets(mass, ro);
  }
  return mean_top;
}

}  // namespace banyan
