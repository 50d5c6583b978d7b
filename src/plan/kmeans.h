// Spherical (cosine) k-means with k-means++ seeding and restarts, deterministic for a given seed.
#pragma once
#include <cstdint>
#include <vector>

namespace banyan {

struct KMeansOptions {
  int clusters = 2;
  uint64_t seed = 0;
  int restarts = 10;        // independent seedings; the one with the lowest cost wins
  int max_iterations = 100;
  // Capacity-constrained assignment: every cluster takes at most ceil(n / clusters) points (greedy by cosine,
  // best pairs first), so no node of a plan serves most of the traffic. Off = plain k-means.
  bool balanced = false;
};

struct KMeansResult {
  std::vector<int> assignment;               // per point, in [0, clusters)
  std::vector<std::vector<float>> centroids;  // unit-length mean direction per cluster
  double cost = 0;                            // sum over points of (1 - cosine to its centroid)
};

// Clusters `n` points of dimension `dim` (row-major in `points`) by cosine similarity. Zero rows are an error.
// Every cluster ends non-empty (requires n >= clusters): an emptied cluster takes the point farthest from its own.
KMeansResult cosine_kmeans(const std::vector<float>& points, int64_t n, int64_t dim, const KMeansOptions& options);

}  // namespace banyan
