// What a node knows about the bundle it serves: banyan-node.json (plan, node, local→global expert ids) and
// whether router-full.safetensors is present. A plain HF model directory is "not a bundle": every expert local.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "model/model_spec.h"

namespace banyan::node {

struct BundleInfo {
  bool is_bundle = false;
  std::string plan_id;
  int64_t node_index = 0;
  std::string node_name;
  int64_t global_experts = 0;  // experts per MoE layer in the source model
  int64_t global_top_k = 0;    // the source model's k
  int64_t local_experts = 0;
  std::vector<std::vector<int32_t>> local_to_global;  // per MoE layer ordinal
  bool has_router_full = false;
  nlohmann::json manifest;  // banyan-node.json as read (null when not a bundle)

  // Per MoE ordinal: a global_experts-long mask of the experts this node holds.
  std::vector<uint8_t> local_mask(size_t moe_ordinal) const;
  nlohmann::json summary() const;  // for GET /v1/banyan/node
};

// Reads DIR/banyan-node.json when present (errors name the file and field). Not a bundle: global = local = the
// spec's experts and k.
BundleInfo load_bundle_info(const std::filesystem::path& dir, const ModelSpec& spec);

// Top-k router mass captured by local experts for one token: Σ over the k most probable experts of the full
// softmax `probs` that are local (mask[e] != 0, or all when mask is empty) of their probability.
double captured_topk_mass(std::span<const float> probs, int64_t k, std::span<const uint8_t> mask);

}  // namespace banyan::node
