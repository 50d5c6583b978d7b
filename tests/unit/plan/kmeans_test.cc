#include "plan/kmeans.h"

#include <gtest/gtest.h>

#include <random>
#include <algorithm>
#include <set>

#include "core/error.h"

using namespace banyan;

namespace {
// Points around `k` orthogonal directions of a `dim`-space.
std::vector<float> blobs(int k, int per, int dim, uint64_t seed, std::vector<int>* truth) {
  std::mt19937_64 rng(seed);
  std::vector<float> x;
  for (int c = 0; c < k; ++c)
    for (int i = 0; i < per; ++i) {
      for (int j = 0; j < dim; ++j) x.push_back((j == c ? 1.0f : 0.0f) + float(rng() % 100) / 1000.0f);
      truth->push_back(c);
    }
  return x;
}
}  // namespace

TEST(CosineKMeans, FindsSeparableClusters) {
  std::vector<int> truth;
  auto x = blobs(4, 25, 8, 1, &truth);
  KMeansOptions o;
  o.clusters = 4;
  o.seed = 7;
  auto r = cosine_kmeans(x, 100, 8, o);
  // Same partition up to relabelling: points of one true cluster share a label, labels differ across clusters.
  std::set<int> labels;
  for (int c = 0; c < 4; ++c) {
    int label = r.assignment[c * 25];
    for (int i = 0; i < 25; ++i) EXPECT_EQ(r.assignment[c * 25 + i], label) << "cluster " << c << " point " << i;
    labels.insert(label);
  }
  EXPECT_EQ(labels.size(), 4u);
  EXPECT_LT(r.cost, 0.05 * 100);
  for (const auto& c : r.centroids) {
    double n = 0;
    for (float v : c) n += double(v) * v;
    EXPECT_NEAR(n, 1.0, 1e-5);
  }
}

TEST(CosineKMeans, DeterministicForASeed) {
  std::vector<int> truth;
  auto x = blobs(3, 10, 6, 3, &truth);
  KMeansOptions o;
  o.clusters = 5;  // more clusters than structure: still deterministic and non-empty
  o.seed = 11;
  auto a = cosine_kmeans(x, 30, 6, o);
  auto b = cosine_kmeans(x, 30, 6, o);
  EXPECT_EQ(a.assignment, b.assignment);
  std::vector<int> size(5, 0);
  for (int v : a.assignment) ++size[v];
  for (int c = 0; c < 5; ++c) EXPECT_GT(size[c], 0) << "cluster " << c;
}

TEST(CosineKMeans, ScaleInvariant) {
  std::vector<int> truth;
  auto x = blobs(2, 10, 4, 5, &truth);
  auto scaled = x;
  for (size_t i = 0; i < scaled.size(); ++i) scaled[i] *= float(1 + (i / 4) % 7);  // each point scaled differently
  KMeansOptions o;
  o.clusters = 2;
  EXPECT_EQ(cosine_kmeans(x, 20, 4, o).assignment, cosine_kmeans(scaled, 20, 4, o).assignment);
}

TEST(CosineKMeans, RejectsBadInput) {
  KMeansOptions o;
  o.clusters = 3;
  EXPECT_THROW(cosine_kmeans(std::vector<float>(4, 1.f), 2, 2, o), Error);  // fewer points than clusters
  o.clusters = 1;
  EXPECT_THROW(cosine_kmeans(std::vector<float>{1, 0, 0, 0}, 2, 2, o), Error);  // zero row
  EXPECT_THROW(cosine_kmeans(std::vector<float>(5, 1.f), 2, 2, o), Error);      // size mismatch
}

TEST(CosineKMeans, BalancedCapsClusterSizes) {
  // 30 points in one direction, 10 in another: plain k-means splits 30/10, balanced 20/20.
  std::vector<int> truth;
  std::vector<float> x;
  std::mt19937_64 rng(9);
  for (int i = 0; i < 40; ++i) {
    int c = i < 30 ? 0 : 1;
    x.push_back((c == 0 ? 1.f : 0.f) + float(rng() % 100) / 500.f);
    x.push_back((c == 1 ? 1.f : 0.f) + float(rng() % 100) / 500.f);
    x.push_back(float(rng() % 100) / 500.f);
  }
  KMeansOptions o;
  o.clusters = 2;
  auto plain = cosine_kmeans(x, 40, 3, o);
  std::vector<int> size(2, 0);
  for (int a : plain.assignment) ++size[a];
  std::sort(size.begin(), size.end());
  EXPECT_EQ(size, (std::vector<int>{10, 30}));
  o.balanced = true;
  auto bal = cosine_kmeans(x, 40, 3, o);
  size.assign(2, 0);
  for (int a : bal.assignment) ++size[a];
  EXPECT_EQ(size, (std::vector<int>{20, 20}));
  // The 10 points of the small direction stay together.
  for (int i = 31; i < 40; ++i) EXPECT_EQ(bal.assignment[i], bal.assignment[30]);
  EXPECT_GE(bal.cost, plain.cost);
}
