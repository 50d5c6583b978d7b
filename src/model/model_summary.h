// What `banyan inspect` reports: sizes by tensor role, active parameters per token, and the bytes each node would
// hold when n nodes split the routed experts evenly (trunk replicated). Computed from the checkpoint's tensor
// shapes and the classification of every tensor.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "format/safetensors.h"
#include "model/model_spec.h"
#include "model/tensor_class.h"

namespace banyan {

struct NodeSplit {
  int nodes = 1;
  int64_t experts_per_node = 0;  // per MoE layer: ceil(num_experts / nodes)
  uint64_t bytes_per_node = 0;   // trunk + that many experts of every MoE layer
};

struct ModelSummary {
  std::string family;
  bool has_engine = false;
  int64_t num_layers = 0;
  int64_t num_moe_layers = 0;
  std::vector<int> moe_layers;
  int64_t num_experts = 0;
  int64_t top_k = 0;
  int64_t num_shared_experts = 0;
  int64_t num_tensors = 0;
  std::map<std::string, uint64_t> bytes_by_dtype;  // "BF16" → bytes
  std::map<std::string, uint64_t> bytes_by_role;   // role_name → bytes

  uint64_t bytes_total = 0;           // every tensor in the checkpoint
  uint64_t bytes_trunk = 0;           // everything replicated: trunk, routers (+bias), shared experts, dense MLPs
  uint64_t bytes_routed_experts = 0;  // all routed experts of all layers
  uint64_t bytes_per_expert = 0;      // one routed expert of one MoE layer (all its projections)
  uint64_t bytes_unused = 0;          // stored but not loaded by the HF model (DeepSeek-V3 MTP layers)

  uint64_t params_total = 0;
  uint64_t params_trunk = 0;
  uint64_t params_routed_experts = 0;
  // Parameters one token runs through: all trunk parameters (embeddings and head included, as model cards count)
  // plus top_k routed experts in every MoE layer.
  uint64_t active_params_per_token = 0;

  std::vector<NodeSplit> node_splits;  // nodes = 1..8
  std::string source_hash;
};

// Classifies every tensor (errors name the file and tensor), checks each MoE layer has its router and every
// expert's projections (per-expert or fused), and computes the summary.
ModelSummary summarize_model(const ModelSpec& spec, const Checkpoint& ckpt, int max_nodes = 8);

nlohmann::json summary_to_json(const ModelSummary& s);
std::string summary_to_text(const ModelSummary& s);

}  // namespace banyan
