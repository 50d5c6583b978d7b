// plan.json ("format": "banyan-plan/1"): which routed experts each node holds, per MoE layer, and why.
// Written by `banyan plan`, read by pack, the eval harness and the router.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace banyan {

// Predicted quality of one node, from calibration profiles (see predicted_quality.h for the definitions).
struct NodeQuality {
  std::string metric;          // "captured_topk_mass" (from topk_mass) or "topk_selection_share" (from counts)
  int64_t documents = 0;       // the node's share of calibration documents (its cluster, or docs it wins)
  double on_cluster = 0;       // metric averaged over the node's documents and MoE layers
  double on_all = 0;           // metric averaged over every calibration document (random placement)
  double router_mass_cluster = 0;  // unmasked router probability mass on local experts, node's documents
  double router_mass_all = 0;
  std::vector<double> per_layer;   // metric per MoE layer, node's documents
};

struct PlanNode {
  int index = 0;
  std::string name;  // "node-<index>"
  int cluster = -1;  // session cluster served (-1: none)
  // Per MoE layer: global expert ids in plan order = the order they get local ids 0..n-1 in the bundle.
  std::vector<std::vector<int>> experts;
  // Per MoE layer: the subset of `experts` that are replicated hot experts.
  std::vector<std::vector<int>> replicated;
  std::optional<NodeQuality> quality;
};

struct PlanCluster {
  int index = 0;
  int64_t documents = 0;
  double traffic_share = 0;                 // documents / calibration documents
  std::map<std::string, int64_t> domains;   // documents per domain
  std::vector<std::vector<float>> centroid;  // per MoE layer: the cluster's mean router probabilities [experts]
};

struct PlanCalibration {
  std::string profiles;  // path of the profiles file
  std::string corpus;
  int64_t documents = 0;
  int64_t tokens = 0;
  int64_t per_domain = 0;
  int64_t seq_tokens = 0;
  std::string selection;                   // the profiles' document selection (empty: not recorded)
  std::map<std::string, int64_t> domains;  // documents per domain
  std::vector<int> doc_cluster;            // per calibration document: its cluster (or winning node)
};

struct Plan {
  std::string id;  // content hash of source + scheme + expert lists (see compute_plan_id)
  std::string source_path;
  std::string source_sha256;
  std::string family;  // config model_type
  int64_t num_layers = 0;
  std::vector<int> moe_layers;  // decoder layer index of each MoE layer; expert lists are indexed like this
  int64_t num_experts = 0;
  int64_t top_k = 0;
  // Experts each node routes every token to, before the min with its local count: its bundle's
  // num_experts_per_tok. The model's top_k unless the plan widens it (planner.h: auto_node_top_k); 0 or a plan
  // file without the key means top_k.
  int64_t node_top_k = 0;
  std::string scheme;  // contiguous | clustered | budget
  int64_t experts_per_node = 0;  // experts every node holds in every MoE layer
  int64_t replicate = 0;
  uint64_t seed = 0;
  bool balanced_clusters = false;  // clusters were capacity-constrained (plan --balance)
  std::string criterion = "probs";  // expert selection criterion (profiles tensor)
  int refine = 0;                   // rounds of cluster/expert-set refinement (plan/refine.h)
  // Opt-in set choices of plan/set_search.h (written only when used): refinement without the balance cap, soft
  // responsibilities' beta (0: off) and rounds, the log-coverage swap search.
  bool refine_unbalanced = false;
  double soft_sets_beta = 0;
  int soft_sets_rounds = 0;
  bool set_search = false;
  std::optional<PlanCalibration> calibration;
  std::vector<PlanCluster> clusters;
  std::vector<PlanNode> nodes;

  // Experts per token a node of this plan routes to: min(node_top_k, experts_per_node).
  int64_t effective_node_top_k() const;

  // Looks up the plan's list index of decoder layer `layer`; -1 when it is not an MoE layer.
  int moe_index(int layer) const;
};

// Checks structure: ids in range, no duplicates, equal counts per node and layer, replicated ⊂ experts.
void validate_plan(const Plan& plan, const std::string& label);
// First 16 hex digits of a 64-bit FNV-1a hash over source hash, scheme, every node's expert lists and, when it
// differs from top_k, node_top_k (so plans from before node_top_k keep their ids).
std::string compute_plan_id(const Plan& plan);

nlohmann::json plan_to_json(const Plan& plan);
Plan plan_from_json(const nlohmann::json& j, const std::string& label);
void write_plan(const std::filesystem::path& path, const Plan& plan);
Plan read_plan(const std::filesystem::path& path);

}  // namespace banyan
