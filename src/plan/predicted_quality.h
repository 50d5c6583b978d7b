// Predicted quality of a node from calibration profiles, without running the model.
//
// For a calibration document d, MoE layer l and the node's expert set S:
//   captured_topk_mass(d, l, S) = Σ_{e∈S} topk_mass[d,l,e] / Σ_e topk_mass[d,l,e]
//     the share of the full model's top-k router mass (probability of each selected expert, summed over the
//     document's positions) that lands on experts the node holds. 1 = the node never loses a selected expert.
//   topk_selection_share(d, l, S) = Σ_{e∈S} counts[d,l,e] / Σ_e counts[d,l,e]
//     the same with every selection weighted 1; used when the profiles carry no topk_mass.
//   router_mass(d, l, S) = Σ_{e∈S} probs[d,l,e] / Σ_e probs[d,l,e]
//     the unmasked router probability mass on local experts (exact mean over positions, since probs are means).
// A node's value averages over the given documents and every MoE layer with equal weights.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "plan/plan_file.h"
#include "plan/profiles.h"

namespace banyan {

// "captured_topk_mass" when the profiles have topk_mass, else "topk_selection_share".
std::string quality_metric_name(const Profiles& profiles);
// The metric for one document and layer; `in_set` is a mask over experts.
double captured_share(const Profiles& profiles, int64_t doc, int64_t layer, const std::vector<char>& in_set);
double router_mass_share(const Profiles& profiles, int64_t doc, int64_t layer, const std::vector<char>& in_set);

// `experts`: per MoE layer, the node's global expert ids. `docs`: the node's documents (may be empty: then the
// on_cluster fields are 0 and documents = 0).
NodeQuality predict_node_quality(const Profiles& profiles, const std::vector<std::vector<int>>& experts,
                                 const std::vector<int64_t>& docs);

}  // namespace banyan
