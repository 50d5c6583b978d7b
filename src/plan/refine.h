// Alternating refinement of session clusters and expert sets ("k-means with the partition constraint").
//
// Objective: the captured criterion mass Σ_d Σ_l Σ_{e ∈ S_{c(d), l}} w[d, l, e], where w is the criterion of
// document d (each (doc, layer) row normalised to sum 1) and S_{c,l} the experts the node of cluster c holds in
// layer l. Both steps raise it:
//   sets      given the clusters, the best expert sets: budget (overlap allowed) = each cluster's K heaviest
//             experts; disjoint = every expert to exactly one node, E/N each, by a greedy assignment of
//             (cluster, expert) pairs by mass followed by pairwise swaps while a swap gains mass
//   clusters  given the sets, every document moves to the node capturing most of its mass (balanced: at most
//             ceil(docs / N) per node, pairs taken best first)
// k-means clusters router profiles by direction, which ignores what a node can hold; this makes clusters and
// expert sets agree with each other. Deterministic.
#pragma once
#include <cstdint>
#include <vector>

#include "plan/profiles.h"

namespace banyan {

struct RefineOptions {
  int64_t per_node = 0;   // experts each node holds per layer (disjoint: E / N)
  bool disjoint = false;  // every expert on exactly one node (else overlap allowed)
  bool balanced = false;  // at most ceil(docs / N) documents per cluster
  int rounds = 0;         // alternations (stops early when no document moves)
};

// Criterion rows normalised to sum 1 per (doc, layer), laid out like the profiles; all-zero rows stay zero.
std::vector<double> normalised_rows(const Profiles& p, const std::vector<float>& criterion);

// Per layer, per cluster: the cluster's summed normalised criterion per expert ([cluster][layer][expert]).
std::vector<std::vector<std::vector<double>>> cluster_mass(const Profiles& p, const std::vector<float>& criterion,
                                                          const std::vector<int>& doc_cluster, int clusters);

// The best expert sets for the given cluster masses ([cluster][layer] -> sorted expert ids).
std::vector<std::vector<std::vector<int>>> best_sets(const std::vector<std::vector<std::vector<double>>>& mass,
                                                     const RefineOptions& options);

// Refines `doc_cluster` in place (values in [0, clusters)); returns the captured mass share (objective / docs /
// layers, in [0, 1]) of the final clusters with their best sets.
double refine_clusters(const Profiles& p, const std::vector<float>& criterion, int clusters,
                       std::vector<int>& doc_cluster, const RefineOptions& options);

}  // namespace banyan
