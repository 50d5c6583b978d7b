#include "plan/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"

namespace banyan {
namespace {

// Uniform in [0, 1) from the raw mt19937_64 stream: std::uniform_real_distribution is implementation-defined,
// and plans must be reproducible across standard libraries.
double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

double dot(const float* a, const float* b, int64_t dim) {
  double s = 0;
  for (int64_t i = 0; i < dim; ++i) s += double(a[i]) * b[i];
  return s;
}

void normalise(std::vector<float>& v) {
  double n = std::sqrt(dot(v.data(), v.data(), int64_t(v.size())));
  if (n > 0)
    for (auto& x : v) x = float(x / n);
}

// Greedy capacity-constrained assignment: (point, cluster) pairs by descending cosine, each point to the first
// cluster with room; capacity ceil(n / k). Returns whether any assignment changed; fills sim with each point's
// cosine to its cluster.
bool assign_balanced(const std::vector<float>& x, int64_t n, int64_t dim,
                     const std::vector<std::vector<float>>& centroids, std::vector<int>& assignment,
                     std::vector<double>& sim) {
  const int k = int(centroids.size());
  const int64_t capacity = (n + k - 1) / k;
  struct Pair {
    double s;
    int64_t point;
    int cluster;
  };
  std::vector<Pair> pairs;
  pairs.reserve(size_t(n * k));
  for (int64_t i = 0; i < n; ++i)
    for (int c = 0; c < k; ++c) pairs.push_back({dot(&x[size_t(i * dim)], centroids[c].data(), dim), i, c});
  std::stable_sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.s > b.s; });
  std::vector<int> next(size_t(n), -1);
  std::vector<int64_t> size(size_t(k), 0);
  for (const Pair& p : pairs) {
    if (next[p.point] >= 0 || size[p.cluster] >= capacity) continue;
    next[p.point] = p.cluster;
    sim[p.point] = p.s;
    ++size[p.cluster];
  }
  bool changed = next != assignment;
  assignment = std::move(next);
  return changed;
}

KMeansResult run_once(const std::vector<float>& x, int64_t n, int64_t dim, const KMeansOptions& o,
                      std::mt19937_64& rng) {
  const int k = o.clusters;
  KMeansResult r;
  r.centroids.assign(size_t(k), std::vector<float>(size_t(dim)));
  // k-means++: first centre uniform, then proportional to squared cosine distance to the nearest centre.
  std::vector<double> nearest(size_t(n), std::numeric_limits<double>::infinity());
  int64_t pick = int64_t(uniform01(rng) * double(n));
  for (int c = 0; c < k; ++c) {
    std::copy(x.begin() + pick * dim, x.begin() + (pick + 1) * dim, r.centroids[c].begin());
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      double d = 1.0 - dot(&x[size_t(i * dim)], r.centroids[c].data(), dim);
      nearest[i] = std::min(nearest[i], std::max(0.0, d));
      total += nearest[i] * nearest[i];
    }
    if (c + 1 == k) break;
    if (total <= 0) {  // every point coincides with a centre: any point will do
      pick = int64_t(uniform01(rng) * double(n));
      continue;
    }
    double target = uniform01(rng) * total, acc = 0;
    pick = n - 1;
    for (int64_t i = 0; i < n; ++i) {
      acc += nearest[i] * nearest[i];
      if (acc > target) {
        pick = i;
        break;
      }
    }
  }

  r.assignment.assign(size_t(n), -1);
  std::vector<double> sim(static_cast<size_t>(n));
  for (int it = 0; it < o.max_iterations; ++it) {
    bool changed = false;
    if (o.balanced) {
      changed = assign_balanced(x, n, dim, r.centroids, r.assignment, sim);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        int best = 0;
        double best_sim = -std::numeric_limits<double>::infinity();
        for (int c = 0; c < k; ++c) {
          double s = dot(&x[size_t(i * dim)], r.centroids[c].data(), dim);
          if (s > best_sim) best_sim = s, best = c;
        }
        sim[i] = best_sim;
        if (r.assignment[i] != best) r.assignment[i] = best, changed = true;
      }
    }
    // Refill empty clusters with the worst-fitting point of a cluster that can spare one.
    std::vector<int64_t> size(size_t(k), 0);
    for (int a : r.assignment) ++size[a];
    for (int c = 0; c < k; ++c) {
      if (size[c] > 0) continue;
      int64_t worst = -1;
      for (int64_t i = 0; i < n; ++i)
        if (size[r.assignment[i]] > 1 && (worst < 0 || sim[i] < sim[worst])) worst = i;
      --size[r.assignment[worst]];
      r.assignment[worst] = c;
      sim[worst] = 1.0;
      ++size[c];
      changed = true;
    }
    if (!changed && it > 0) break;
    for (auto& cen : r.centroids) std::fill(cen.begin(), cen.end(), 0.f);
    std::vector<std::vector<double>> acc(size_t(k), std::vector<double>(size_t(dim), 0.0));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < dim; ++j) acc[r.assignment[i]][j] += x[size_t(i * dim + j)];
    for (int c = 0; c < k; ++c) {
      for (int64_t j = 0; j < dim; ++j) r.centroids[c][j] = float(acc[c][j]);
      normalise(r.centroids[c]);
    }
  }
  r.cost = 0;
  for (int64_t i = 0; i < n; ++i) r.cost += 1.0 - dot(&x[size_t(i * dim)], r.centroids[r.assignment[i]].data(), dim);
  return r;
}

}  // namespace

KMeansResult cosine_kmeans(const std::vector<float>& points, int64_t n, int64_t dim, const KMeansOptions& o) {
  BANYAN_CHECK(o.clusters >= 1, "k-means needs at least one cluster, got {}", o.clusters);
  BANYAN_CHECK(dim > 0 && points.size() == size_t(n * dim), "k-means: {} values for {} points of dimension {}",
               points.size(), n, dim);
  BANYAN_CHECK(n >= o.clusters, "k-means: {} points cannot fill {} clusters", n, o.clusters);
  std::vector<float> x(points);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> row(x.begin() + i * dim, x.begin() + (i + 1) * dim);
    double norm = std::sqrt(dot(row.data(), row.data(), dim));
    BANYAN_CHECK(norm > 0 && std::isfinite(norm), "k-means: point {} has zero or non-finite length", i);
    for (int64_t j = 0; j < dim; ++j) x[size_t(i * dim + j)] = float(row[j] / norm);
  }
  KMeansResult best;
  best.cost = std::numeric_limits<double>::infinity();
  for (int rs = 0; rs < std::max(1, o.restarts); ++rs) {
    std::mt19937_64 rng(o.seed * 1000003ull + uint64_t(rs));
    KMeansResult r = run_once(x, n, dim, o, rng);
    if (r.cost < best.cost - 1e-12) best = std::move(r);
  }
  return best;
}

}  // namespace banyan
