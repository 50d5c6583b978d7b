#include "node/bundle_info.h"

#include <algorithm>
#include <fstream>
#include <numeric>

#include "core/error.h"

namespace banyan::node {

namespace fs = std::filesystem;

std::vector<uint8_t> BundleInfo::local_mask(size_t moe_ordinal) const {
  std::vector<uint8_t> mask(size_t(global_experts), is_bundle ? 0 : 1);
  if (is_bundle && moe_ordinal < local_to_global.size())
    for (int32_t g : local_to_global[moe_ordinal]) mask[size_t(g)] = 1;
  return mask;
}

nlohmann::json BundleInfo::summary() const {
  nlohmann::json j{{"is_bundle", is_bundle},
                   {"global_experts", global_experts},
                   {"local_experts", local_experts},
                   {"top_k", global_top_k},
                   {"router_full", has_router_full}};
  if (is_bundle) {
    j["plan"] = plan_id;
    j["node_index"] = node_index;
    j["node_name"] = node_name;
    j["moe_layers"] = local_to_global.size();
  }
  return j;
}

BundleInfo load_bundle_info(const fs::path& dir, const ModelSpec& spec) {
  BundleInfo info;
  info.global_experts = spec.num_experts;
  info.global_top_k = spec.top_k;
  info.local_experts = spec.num_experts;
  const fs::path path = dir / "banyan-node.json";
  if (!fs::exists(path)) return info;
  std::ifstream in(path);
  BANYAN_CHECK(in, "{}: cannot open", path.string());
  try {
    info.manifest = nlohmann::json::parse(in);
    const auto& m = info.manifest;
    BANYAN_CHECK(m.value("format", "") == "banyan-node/1", "{}: format is not banyan-node/1", path.string());
    info.is_bundle = true;
    info.plan_id = m.at("plan").is_string() ? m.at("plan").get<std::string>() : m.at("plan").dump();
    info.node_index = m.at("node").at("index").get<int64_t>();
    info.node_name = m.at("node").at("name").get<std::string>();
    info.global_experts = m.at("num_experts").get<int64_t>();
    info.global_top_k = m.at("top_k").get<int64_t>();
    info.local_experts = m.at("local_experts").get<int64_t>();
    info.local_to_global = m.at("local_to_global").get<std::vector<std::vector<int32_t>>>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", path.string(), e.what());
  }
  BANYAN_CHECK(int64_t(info.local_to_global.size()) == spec.num_moe_layers(),
               "{}: local_to_global has {} layers, the model has {} MoE layers", path.string(),
               info.local_to_global.size(), spec.num_moe_layers());
  for (size_t l = 0; l < info.local_to_global.size(); ++l)
    for (int32_t g : info.local_to_global[l])
      BANYAN_CHECK(g >= 0 && g < info.global_experts, "{}: local_to_global[{}] has expert {} outside [0, {})",
                   path.string(), l, g, info.global_experts);
  info.has_router_full = fs::exists(dir / "router-full.safetensors");
  return info;
}

double captured_topk_mass(std::span<const float> probs, int64_t k, std::span<const uint8_t> mask) {
  const size_t n = probs.size();
  const size_t kk = size_t(std::clamp<int64_t>(k, 0, int64_t(n)));
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Most probable first; ties → lower id, like the router.
  std::partial_sort(order.begin(), order.begin() + kk, order.end(), [&](int32_t a, int32_t b) {
    return probs[size_t(a)] > probs[size_t(b)] || (probs[size_t(a)] == probs[size_t(b)] && a < b);
  });
  double mass = 0;
  for (size_t i = 0; i < kk; ++i) {
    const auto e = size_t(order[i]);
    if (mask.empty() || mask[e]) mass += probs[e];
  }
  return mass;
}

}  // namespace banyan::node
