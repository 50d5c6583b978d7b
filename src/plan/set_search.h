// Other ways of choosing the final expert sets (issue 10, session 6; `plan --set-search`, `--soft-sets BETA`).
// Measured on the interleaved corpus-train split (src/plan/QUALITY_EXPERIMENTS.md, "Session 6, plans"): the swap
// search is flat (opt-in only); soft responsibilities help 4-node plans of at most half the experts and hurt 2-node
// ones, so `auto` uses them there only (planner.h, kAutoSoftSetsBeta).
//
// Log-coverage local search:
//
// refine.h maximises the captured criterion mass Σ_d Σ_l cov(d, l), cov(d, l) = Σ_{e ∈ S_{c(d), l}} w[d, l, e]
// (w: the criterion of document d, each (doc, layer) row normalised to sum 1). That objective is linear in every
// document's coverage, so a set that covers most documents well and one document badly scores the same as one
// that covers all of them a little less. A token's loss on a restricted node grows like −log of the routing mass
// it keeps, so the search here maximises
//   F = Σ_d Σ_l log(eps + cov(d, l))
// over the sets, with the clusters held fixed, by swaps that keep every set's size:
//   budget (overlap allowed)  per (cluster, layer): swap an expert in the set for one outside it
//   disjoint                  per layer and node pair (a, b): exchange x ∈ S_a for y ∈ S_b
// Each accepted swap raises F by more than a tolerance, so the search ends; it starts from the given sets
// (refine's best sets for the captured mass) and is deterministic.
#pragma once
#include <cstdint>
#include <vector>

#include "plan/profiles.h"

namespace banyan {

struct SetSearchOptions {
  bool disjoint = false;
  double eps = 1e-3;     // floor inside the log (coverage is a share in [0, 1])
  int max_passes = 50;   // passes over all candidate swaps (each pass stops early when nothing improves)
};

// Σ over documents and layers of log(eps + coverage of the document's node), for `sets` [cluster][layer].
double log_coverage(const Profiles& p, const std::vector<double>& w, const std::vector<int>& doc_cluster,
                    const std::vector<std::vector<std::vector<int>>>& sets, double eps);

// Improves `sets` [cluster][layer] (sorted expert ids, sizes kept) in place for F above; `w` are the normalised
// criterion rows (normalised_rows). Returns the number of swaps made.
int64_t log_coverage_search(const Profiles& p, const std::vector<double>& w, const std::vector<int>& doc_cluster,
                            std::vector<std::vector<std::vector<int>>>& sets, const SetSearchOptions& options);

// Soft responsibilities: the expert sets of `sets` [cluster][layer] are re-chosen (refine's best_sets: budget =
// top per_node, disjoint = exact split) for masses in which every document counts for every node with weight
// softmax_g(beta · share(d, g)), share = the document's captured criterion share on node g's current sets (mean
// over layers); `rounds` alternations of responsibilities and sets. A document near a tie, which placement may
// send to either node, then counts for both; beta → ∞ is the hard assignment. Returns the mean over documents of
// their largest responsibility in the last round (taken on the sets before that round's re-choice; diagnostic).
double soft_responsibility_sets(const Profiles& p, const std::vector<double>& w,
                                std::vector<std::vector<std::vector<int>>>& sets, int64_t per_node, bool disjoint,
                                double beta, int rounds);

}  // namespace banyan
