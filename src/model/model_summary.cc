#include "model/model_summary.h"

#include <set>

#include "core/error.h"

namespace banyan {

namespace {

std::string with_commas(uint64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string human_bytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string human_count(uint64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f} B", double(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f} M", double(n) / 1e6);
  if (n >= 1'000) return fmt::format("{:.2f} K", double(n) / 1e3);
  return std::to_string(n);
}

// Each MoE layer must have its router and, for every expert, gate/up/down (or fused stacks covering them).
void check_moe_layers_complete(const ModelSpec& spec, const Checkpoint& ckpt,
                               const std::map<int, std::set<std::tuple<int, int>>>& per_expert,
                               const std::map<int, std::set<int>>& fused, const std::set<int>& routers) {
  for (int layer : spec.moe_layers()) {
    if (!routers.count(layer))
      fail("{}: MoE layer {} has no router tensor (expected {})", ckpt.dir().string(), layer,
           router_weight_name(spec, layer));
    auto f = fused.find(layer);
    bool fused_gate_up = f != fused.end() && (f->second.count(int(ExpertProj::GateUp)) ||
                                              (f->second.count(int(ExpertProj::Gate)) &&
                                               f->second.count(int(ExpertProj::Up))));
    bool fused_down = f != fused.end() && f->second.count(int(ExpertProj::Down));
    auto pe = per_expert.find(layer);
    for (int e = 0; e < spec.num_experts; ++e) {
      for (ExpertProj p : {ExpertProj::Gate, ExpertProj::Up, ExpertProj::Down}) {
        bool covered_by_fused = p == ExpertProj::Down ? fused_down : fused_gate_up;
        if (covered_by_fused) continue;
        if (pe == per_expert.end() || !pe->second.count({e, int(p)}))
          fail("{}: MoE layer {} expert {} has no {} projection (expected {})", ckpt.dir().string(), layer, e,
               expert_proj_name(p), expert_weight_name(spec, layer, e, p));
      }
    }
  }
}

}  // namespace

ModelSummary summarize_model(const ModelSpec& spec, const Checkpoint& ckpt, int max_nodes) {
  ModelSummary s;
  s.family = std::string(family_name(spec.family));
  s.has_engine = family_has_engine(spec.family);
  s.num_layers = spec.num_layers;
  s.num_moe_layers = spec.num_moe_layers();
  s.moe_layers = spec.moe_layers();
  s.num_experts = spec.num_experts;
  s.top_k = spec.top_k;
  s.num_shared_experts = spec.num_shared_experts;
  s.num_tensors = int64_t(ckpt.num_tensors());
  s.source_hash = ckpt.source_hash();

  std::map<int, uint64_t> routed_bytes_per_layer, routed_params_per_layer;
  std::map<int, std::set<std::tuple<int, int>>> per_expert;
  std::map<int, std::set<int>> fused;
  std::set<int> routers;
  for (const auto& name : ckpt.tensor_names()) {
    const TensorInfo& info = ckpt.info(name);
    TensorClass c;
    try {
      c = classify_tensor(spec, name);
    } catch (const Error& e) {
      fail("{}: {}", ckpt.file_of(name).path().string(), e.what());
    }
    const uint64_t bytes = info.nbytes();
    const uint64_t params = uint64_t(shape_numel(info.shape));
    s.bytes_total += bytes;
    s.params_total += params;
    s.bytes_by_dtype[std::string(dtype_name(info.dtype))] += bytes;
    s.bytes_by_role[std::string(role_name(c.role))] += bytes;
    switch (c.role) {
      case TensorRole::RoutedExpert:
        s.bytes_routed_experts += bytes;
        s.params_routed_experts += params;
        routed_bytes_per_layer[c.layer] += bytes;
        routed_params_per_layer[c.layer] += params;
        if (c.fused)
          fused[c.layer].insert(int(c.proj));
        else if (!c.is_bias && !c.is_scale)
          per_expert[c.layer].insert({c.expert, int(c.proj)});
        break;
      case TensorRole::Unused:
        s.bytes_unused += bytes;
        break;
      case TensorRole::Router:
        if (!c.is_bias) routers.insert(c.layer);
        [[fallthrough]];
      default:
        s.bytes_trunk += bytes;
        s.params_trunk += params;
        break;
    }
  }
  check_moe_layers_complete(spec, ckpt, per_expert, fused, routers);

  s.active_params_per_token = s.params_trunk;
  uint64_t expert_slots = 0;
  for (int layer : s.moe_layers) {
    // Experts of one layer are the same size, so a token's top_k experts hold top_k / E of the layer's parameters.
    s.active_params_per_token += routed_params_per_layer[layer] * uint64_t(spec.top_k) / uint64_t(spec.num_experts);
    expert_slots += uint64_t(spec.num_experts);
  }
  s.bytes_per_expert = expert_slots ? s.bytes_routed_experts / expert_slots : 0;

  for (int n = 1; n <= max_nodes; ++n) {
    NodeSplit split;
    split.nodes = n;
    split.experts_per_node = spec.num_experts > 0 ? (spec.num_experts + n - 1) / n : 0;
    split.bytes_per_node = s.bytes_trunk;
    for (int layer : s.moe_layers)
      split.bytes_per_node +=
          routed_bytes_per_layer[layer] * uint64_t(split.experts_per_node) / uint64_t(spec.num_experts);
    s.node_splits.push_back(split);
  }
  return s;
}

nlohmann::json summary_to_json(const ModelSummary& s) {
  nlohmann::json j;
  j["family"] = s.family;
  j["has_engine"] = s.has_engine;
  j["num_layers"] = s.num_layers;
  j["num_moe_layers"] = s.num_moe_layers;
  j["moe_layers"] = s.moe_layers;
  j["num_experts"] = s.num_experts;
  j["top_k"] = s.top_k;
  j["num_shared_experts"] = s.num_shared_experts;
  j["num_tensors"] = s.num_tensors;
  j["dtypes"] = s.bytes_by_dtype;
  j["bytes_by_role"] = s.bytes_by_role;
  j["bytes_total"] = s.bytes_total;
  j["bytes_trunk"] = s.bytes_trunk;
  j["bytes_routed_experts"] = s.bytes_routed_experts;
  j["bytes_per_expert"] = s.bytes_per_expert;
  j["bytes_unused"] = s.bytes_unused;
  j["params_total"] = s.params_total;
  j["params_trunk"] = s.params_trunk;
  j["params_routed_experts"] = s.params_routed_experts;
  j["active_params_per_token"] = s.active_params_per_token;
  j["source_hash"] = s.source_hash;
  auto& nodes = j["nodes"] = nlohmann::json::array();
  for (const auto& n : s.node_splits)
    nodes.push_back({{"nodes", n.nodes}, {"experts_per_node", n.experts_per_node},
                     {"bytes_per_node", n.bytes_per_node}});
  return j;
}

std::string summary_to_text(const ModelSummary& s) {
  std::string out;
  auto line = [&](std::string_view key, const std::string& value) { out += fmt::format("{:<24}{}\n", key, value); };
  line("family", fmt::format("{}{}", s.family, s.has_engine ? "" : " (parsed only: no engine yet)"));
  std::string moe_list;
  if (!s.moe_layers.empty()) {
    bool contiguous = s.moe_layers.back() - s.moe_layers.front() + 1 == int(s.moe_layers.size());
    moe_list = contiguous ? fmt::format(": {}-{}", s.moe_layers.front(), s.moe_layers.back())
                          : fmt::format(": {}", fmt::join(s.moe_layers, ","));
  }
  line("layers", fmt::format("{} ({} MoE{})", s.num_layers, s.num_moe_layers, moe_list));
  line("experts", fmt::format("{} routed per MoE layer, top-k {}{}", s.num_experts, s.top_k,
                              s.num_shared_experts ? fmt::format(", {} shared", s.num_shared_experts) : ""));
  std::vector<std::string> dtypes;
  for (const auto& [d, b] : s.bytes_by_dtype) dtypes.push_back(fmt::format("{} ({})", d, human_bytes(b)));
  line("dtypes", fmt::format("{}", fmt::join(dtypes, ", ")));
  line("tensors", std::to_string(s.num_tensors));
  line("bytes total", fmt::format("{:>16}  {}", with_commas(s.bytes_total), human_bytes(s.bytes_total)));
  line("  trunk (replicated)", fmt::format("{:>16}  {}", with_commas(s.bytes_trunk), human_bytes(s.bytes_trunk)));
  line("  routed experts",
       fmt::format("{:>16}  {}", with_commas(s.bytes_routed_experts), human_bytes(s.bytes_routed_experts)));
  line("  per expert", fmt::format("{:>16}  {}  (one expert of one layer)", with_commas(s.bytes_per_expert),
                                   human_bytes(s.bytes_per_expert)));
  if (s.bytes_unused)
    line("  unused (MTP)", fmt::format("{:>16}  {}", with_commas(s.bytes_unused), human_bytes(s.bytes_unused)));
  line("parameters", fmt::format("{} total, {} trunk, {} routed", human_count(s.params_total),
                                 human_count(s.params_trunk), human_count(s.params_routed_experts)));
  line("active params/token", fmt::format("{} ({})", with_commas(s.active_params_per_token),
                                          human_count(s.active_params_per_token)));
  out += "\nbytes per node when n nodes split the routed experts (trunk replicated):\n";
  out += fmt::format("{:>6}  {:>14}  {:>16}  {:>12}  {:>9}\n", "nodes", "experts/layer", "bytes/node", "", "of total");
  for (const auto& n : s.node_splits)
    out += fmt::format("{:>6}  {:>14}  {:>16}  {:>12}  {:>8.1f}%\n", n.nodes, n.experts_per_node,
                       with_commas(n.bytes_per_node), human_bytes(n.bytes_per_node),
                       s.bytes_total ? 100.0 * double(n.bytes_per_node) / double(s.bytes_total - s.bytes_unused) : 0.0);
  return out;
}

}  // namespace banyan
