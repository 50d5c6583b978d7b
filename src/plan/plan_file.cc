#include "plan/plan_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "plan/json_pretty.h"

namespace banyan {
namespace {

constexpr const char* kFormat = "banyan-plan/1";

nlohmann::json quality_to_json(const NodeQuality& q) {
  return {{"metric", q.metric},
          {"documents", q.documents},
          {"on_cluster", q.on_cluster},
          {"on_all", q.on_all},
          {"router_mass_cluster", q.router_mass_cluster},
          {"router_mass_all", q.router_mass_all},
          {"per_layer", q.per_layer}};
}

NodeQuality quality_from_json(const nlohmann::json& j) {
  NodeQuality q;
  q.metric = j.at("metric").get<std::string>();
  q.documents = j.at("documents").get<int64_t>();
  q.on_cluster = j.at("on_cluster").get<double>();
  q.on_all = j.at("on_all").get<double>();
  q.router_mass_cluster = j.value("router_mass_cluster", 0.0);
  q.router_mass_all = j.value("router_mass_all", 0.0);
  q.per_layer = j.value("per_layer", std::vector<double>{});
  return q;
}

}  // namespace

int64_t Plan::effective_node_top_k() const {
  return std::min(node_top_k > 0 ? node_top_k : top_k, experts_per_node);
}

int Plan::moe_index(int layer) const {
  for (size_t i = 0; i < moe_layers.size(); ++i)
    if (moe_layers[i] == layer) return int(i);
  return -1;
}

void validate_plan(const Plan& plan, const std::string& label) {
  BANYAN_CHECK(!plan.nodes.empty(), "{}: plan has no nodes", label);
  BANYAN_CHECK(plan.num_experts > 0 && plan.top_k > 0, "{}: plan needs num_experts and top_k > 0", label);
  BANYAN_CHECK(!plan.moe_layers.empty(), "{}: plan lists no MoE layers", label);
  BANYAN_CHECK(plan.node_top_k >= 0 && plan.node_top_k <= plan.num_experts,
               "{}: node_top_k {} out of range [1, {}] (0 = top_k)", label, plan.node_top_k, plan.num_experts);
  for (size_t n = 0; n < plan.nodes.size(); ++n) {
    const PlanNode& node = plan.nodes[n];
    BANYAN_CHECK(node.index == int(n), "{}: node {} has index {}", label, n, node.index);
    BANYAN_CHECK(node.experts.size() == plan.moe_layers.size(), "{}: node {} lists {} layers, plan has {} MoE layers",
                 label, n, node.experts.size(), plan.moe_layers.size());
    BANYAN_CHECK(node.replicated.size() == plan.moe_layers.size(),
                 "{}: node {} lists replicated experts for {} layers, plan has {} MoE layers", label, n,
                 node.replicated.size(), plan.moe_layers.size());
    for (size_t l = 0; l < node.experts.size(); ++l) {
      const auto& ex = node.experts[l];
      BANYAN_CHECK(int64_t(ex.size()) == plan.experts_per_node,
                   "{}: node {} holds {} experts in layer {}, every node must hold {}", label, n, ex.size(),
                   plan.moe_layers[l], plan.experts_per_node);
      std::set<int> seen;
      for (int e : ex) {
        BANYAN_CHECK(e >= 0 && e < plan.num_experts, "{}: node {} layer {}: expert {} out of range [0, {})", label, n,
                     plan.moe_layers[l], e, plan.num_experts);
        BANYAN_CHECK(seen.insert(e).second, "{}: node {} layer {}: expert {} listed twice", label, n,
                     plan.moe_layers[l], e);
      }
      for (int e : node.replicated[l])
        BANYAN_CHECK(seen.count(e), "{}: node {} layer {}: replicated expert {} is not among its experts", label, n,
                     plan.moe_layers[l], e);
    }
  }
}

std::string compute_plan_id(const Plan& plan) {
  uint64_t h = 1469598103934665603ull;
  auto feed = [&](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // separator so concatenations differ
  };
  feed(plan.source_sha256);
  feed(plan.scheme);
  if (plan.node_top_k > 0 && plan.node_top_k != plan.top_k) feed("node_top_k=" + std::to_string(plan.node_top_k));
  for (const auto& node : plan.nodes)
    for (const auto& layer : node.experts) {
      std::string s;
      for (int e : layer) s += std::to_string(e) + ",";
      feed(s);
    }
  return fmt::format("{:016x}", h);
}

nlohmann::json plan_to_json(const Plan& plan) {
  nlohmann::json j;
  j["format"] = kFormat;
  j["id"] = plan.id;
  j["source"] = {{"path", plan.source_path}, {"sha256", plan.source_sha256}};
  j["family"] = plan.family;
  j["num_layers"] = plan.num_layers;
  j["moe_layers"] = plan.moe_layers;
  j["num_experts"] = plan.num_experts;
  j["top_k"] = plan.top_k;
  j["node_top_k"] = plan.node_top_k > 0 ? plan.node_top_k : plan.top_k;
  j["scheme"] = plan.scheme;
  j["experts_per_node"] = plan.experts_per_node;
  j["replicate"] = plan.replicate;
  j["seed"] = plan.seed;
  j["balanced_clusters"] = plan.balanced_clusters;
  j["criterion"] = plan.criterion;
  j["refine"] = plan.refine;
  if (plan.refine_unbalanced) j["refine_unbalanced"] = true;
  if (plan.soft_sets_beta > 0) j["soft_sets"] = {{"beta", plan.soft_sets_beta}, {"rounds", plan.soft_sets_rounds}};
  if (plan.set_search) j["set_search"] = true;
  if (plan.calibration) {
    const auto& c = *plan.calibration;
    j["calibration"] = {{"profiles", c.profiles},     {"corpus", c.corpus},         {"documents", c.documents},
                        {"tokens", c.tokens},         {"per_domain", c.per_domain}, {"seq_tokens", c.seq_tokens},
                        {"domains", c.domains},       {"doc_cluster", c.doc_cluster}};
    if (!c.selection.empty()) j["calibration"]["selection"] = c.selection;
  } else {
    j["calibration"] = nullptr;
  }
  j["clusters"] = nlohmann::json::array();
  for (const auto& c : plan.clusters)
    j["clusters"].push_back({{"index", c.index},
                             {"documents", c.documents},
                             {"traffic_share", c.traffic_share},
                             {"domains", c.domains},
                             {"centroid", c.centroid}});
  j["nodes"] = nlohmann::json::array();
  for (const auto& n : plan.nodes) {
    nlohmann::json node = {{"index", n.index},       {"name", n.name},           {"cluster", n.cluster},
                           {"experts", n.experts},   {"replicated", n.replicated}};
    node["predicted_quality"] = n.quality ? quality_to_json(*n.quality) : nlohmann::json(nullptr);
    j["nodes"].push_back(node);
  }
  return j;
}

Plan plan_from_json(const nlohmann::json& j, const std::string& label) {
  Plan p;
  try {
    BANYAN_CHECK(j.is_object(), "{}: plan is not a JSON object", label);
    BANYAN_CHECK(j.value("format", "") == kFormat, "{}: format is '{}', expected '{}'", label, j.value("format", ""),
                 kFormat);
    p.id = j.at("id").get<std::string>();
    p.source_path = j.at("source").at("path").get<std::string>();
    p.source_sha256 = j.at("source").at("sha256").get<std::string>();
    p.family = j.at("family").get<std::string>();
    p.num_layers = j.at("num_layers").get<int64_t>();
    p.moe_layers = j.at("moe_layers").get<std::vector<int>>();
    p.num_experts = j.at("num_experts").get<int64_t>();
    p.top_k = j.at("top_k").get<int64_t>();
    p.node_top_k = j.value("node_top_k", p.top_k);
    p.scheme = j.at("scheme").get<std::string>();
    p.experts_per_node = j.at("experts_per_node").get<int64_t>();
    p.replicate = j.value("replicate", int64_t(0));
    p.seed = j.value("seed", uint64_t(0));
    p.balanced_clusters = j.value("balanced_clusters", false);
    p.criterion = j.value("criterion", "probs");
    p.refine = j.value("refine", 0);
    p.refine_unbalanced = j.value("refine_unbalanced", false);
    if (j.contains("soft_sets")) {
      p.soft_sets_beta = j["soft_sets"].value("beta", 0.0);
      p.soft_sets_rounds = j["soft_sets"].value("rounds", 0);
    }
    p.set_search = j.value("set_search", false);
    if (j.contains("calibration") && !j["calibration"].is_null()) {
      const auto& c = j["calibration"];
      PlanCalibration cal;
      cal.profiles = c.value("profiles", "");
      cal.corpus = c.value("corpus", "");
      cal.documents = c.value("documents", int64_t(0));
      cal.tokens = c.value("tokens", int64_t(0));
      cal.per_domain = c.value("per_domain", int64_t(0));
      cal.seq_tokens = c.value("seq_tokens", int64_t(0));
      cal.selection = c.value("selection", "");
      cal.domains = c.value("domains", std::map<std::string, int64_t>{});
      cal.doc_cluster = c.value("doc_cluster", std::vector<int>{});
      p.calibration = cal;
    }
    for (const auto& c : j.value("clusters", nlohmann::json::array())) {
      PlanCluster cl;
      cl.index = c.at("index").get<int>();
      cl.documents = c.at("documents").get<int64_t>();
      cl.traffic_share = c.at("traffic_share").get<double>();
      cl.domains = c.value("domains", std::map<std::string, int64_t>{});
      cl.centroid = c.value("centroid", std::vector<std::vector<float>>{});
      p.clusters.push_back(std::move(cl));
    }
    for (const auto& n : j.at("nodes")) {
      PlanNode node;
      node.index = n.at("index").get<int>();
      node.name = n.value("name", fmt::format("node-{}", node.index));
      node.cluster = n.value("cluster", -1);
      node.experts = n.at("experts").get<std::vector<std::vector<int>>>();
      node.replicated = n.value("replicated", std::vector<std::vector<int>>(node.experts.size()));
      if (n.contains("predicted_quality") && !n["predicted_quality"].is_null())
        node.quality = quality_from_json(n["predicted_quality"]);
      p.nodes.push_back(std::move(node));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: bad plan: {}", label, e.what());
  }
  validate_plan(p, label);
  BANYAN_CHECK(int64_t(p.moe_layers.size()) <= p.num_layers, "{}: {} MoE layers listed for a {}-layer model", label,
               p.moe_layers.size(), p.num_layers);
  return p;
}

void write_plan(const std::filesystem::path& path, const Plan& plan) {
  validate_plan(plan, path.string());
  std::ofstream out(path);
  BANYAN_CHECK(out, "cannot write plan {}", path.string());
  out << pretty_json(plan_to_json(plan));
  out.close();
  BANYAN_CHECK(out, "error writing plan {}", path.string());
}

Plan read_plan(const std::filesystem::path& path) {
  std::ifstream in(path);
  BANYAN_CHECK(in, "cannot open plan {}", path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: plan is not valid JSON: {}", path.string(), e.what());
  }
  return plan_from_json(j, path.string());
}

}  // namespace banyan
