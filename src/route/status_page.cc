#include "route/status_page.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace banyan::route {

using nlohmann::json;

std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

json plan_summary(const Plan& plan, const std::string& path) {
  json nodes = json::array();
  for (const auto& n : plan.nodes) {
    json jn{{"name", n.name}, {"cluster", n.cluster}, {"experts", n.experts}, {"replicated", n.replicated}};
    if (n.quality) jn["predicted"] = {{"metric", n.quality->metric}, {"on_cluster", n.quality->on_cluster},
                                       {"on_all", n.quality->on_all}};
    nodes.push_back(std::move(jn));
  }
  json clusters = json::array();
  for (const auto& c : plan.clusters)
    clusters.push_back({{"index", c.index}, {"documents", c.documents}, {"traffic_share", c.traffic_share},
                        {"domains", c.domains}});
  return {{"path", path},           {"id", plan.id},          {"scheme", plan.scheme},
          {"family", plan.family},  {"moe_layers", plan.moe_layers}, {"experts", plan.num_experts},
          {"top_k", plan.top_k},    {"experts_per_node", plan.experts_per_node}, {"nodes", nodes},
          {"clusters", clusters}};
}

json status_json(const StatusInputs& in) {
  json nodes = json::array();
  for (const auto& n : in.nodes) {
    auto s = in.sessions_by_node.find(n.address.name);
    auto p = in.placements_by_node.find(n.address.name);
    nodes.push_back({{"name", n.address.name},
                     {"url", n.address.url},
                     {"healthy", n.healthy},
                     {"status", n.status},
                     {"kind", node_kind_name(n.kind)},
                     {"kind_reason", n.kind_reason},
                     {"model", n.model_id},
                     {"last_error", n.last_error},
                     {"load", {{"active", n.load_active}, {"queued", n.load_queued}}},
                     {"in_flight", n.in_flight},
                     {"sessions", s == in.sessions_by_node.end() ? 0 : s->second},
                     {"placements", p == in.placements_by_node.end() ? 0 : p->second},
                     {"requests", n.requests},
                     {"failures", n.failures},
                     {"downs", n.downs},
                     {"rejoins", n.rejoins},
                     {"bytes_sent", n.bytes_sent},
                     {"bytes_received", n.bytes_received}});
  }
  json out{{"router", {{"policy", in.policy}, {"sessions", in.sessions}, {"failovers", in.failovers},
                       {"uptime_s", in.uptime_s}}},
           {"nodes", nodes}};
  out["plan"] = in.plan ? plan_summary(*in.plan, in.plan_path) : json(nullptr);
  return out;
}

namespace {

const char* kStyle = R"(
body{font:14px system-ui,sans-serif;margin:20px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 12px} h2{font-size:16px;margin:18px 0 8px}
table.nodes{border-collapse:collapse;background:#fff} table.nodes td,table.nodes th{border:1px solid #ccc;padding:4px 10px;text-align:left;white-space:nowrap}
.hm-domains{font-size:11px;color:#555;margin-bottom:4px}
.up{color:#0a7a2f;font-weight:600} .down{color:#b3261e;font-weight:600}
.hm-node{display:inline-block;vertical-align:top;margin:0 18px 14px 0;background:#fff;padding:6px;border:1px solid #ddd}
.hm-title{font-weight:600;margin-bottom:4px}
table.hm{border-collapse:collapse} table.hm td{width:9px;height:9px;padding:0;border:1px solid #fff}
table.hm th{font-size:10px;font-weight:normal;padding-right:4px;text-align:right}
td.hm-on{background:#2b6cb0} td.hm-rep{background:#dd6b20} td.hm-off{background:#e2e8f0}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
)";

// The calibration domains of a cluster, most documents first ("de_man 38, ja_man 30").
std::string cluster_domains(const Plan& plan, int cluster) {
  for (const auto& c : plan.clusters) {
    if (c.index != cluster) continue;
    std::vector<std::pair<int64_t, std::string>> v;
    for (const auto& [d, n] : c.domains) v.emplace_back(-n, d);
    std::sort(v.begin(), v.end());
    std::string out;
    for (size_t i = 0; i < v.size() && i < 4; ++i) out += fmt::format("{}{} {}", i ? ", " : "", v[i].second, -v[i].first);
    return out;
  }
  return "";
}

// How many nodes hold each expert of each layer: the overlap of the plan at a glance (white: none, dark: all).
std::string coverage_map(const Plan& plan) {
  const size_t nodes = std::max<size_t>(1, plan.nodes.size());
  std::string o = "<div class=\"hm-node\" data-node=\"coverage\"><div class=\"hm-title\">nodes holding each expert"
                  "</div><table class=\"hm coverage\">";
  for (size_t li = 0; li < plan.moe_layers.size(); ++li) {
    std::vector<int> count(size_t(plan.num_experts), 0);
    for (const auto& n : plan.nodes)
      if (li < n.experts.size())
        for (int e : n.experts[li])
          if (e >= 0 && e < int(count.size())) ++count[size_t(e)];
    o += fmt::format("<tr><th>L{}</th>", plan.moe_layers[li]);
    for (size_t e = 0; e < count.size(); ++e) {
      const double a = double(count[e]) / double(nodes);
      o += fmt::format("<td class=\"cov-cell\" style=\"background:rgba(26,71,42,{:.2f})\" title=\"layer {} expert {}: "
                       "{} node(s)\"></td>",
                       count[e] ? 0.15 + 0.85 * a : 0.0, plan.moe_layers[li], e, count[e]);
    }
    o += "</tr>";
  }
  return o + "</table></div>";
}

std::string heat_map(const Plan& plan) {
  std::string o = "<div class=\"heatmap\" id=\"heatmap\">";
  for (const auto& n : plan.nodes) {
    o += fmt::format("<div class=\"hm-node\" data-node=\"{}\"><div class=\"hm-title\">{} (cluster {})</div>"
                     "<div class=\"hm-domains\">{}</div><table class=\"hm\">",
                     html_escape(n.name), html_escape(n.name), n.cluster,
                     html_escape(cluster_domains(plan, n.cluster)));
    for (size_t li = 0; li < n.experts.size(); ++li) {
      std::set<int> held(n.experts[li].begin(), n.experts[li].end());
      std::set<int> rep;
      if (li < n.replicated.size()) rep.insert(n.replicated[li].begin(), n.replicated[li].end());
      const int layer = li < plan.moe_layers.size() ? plan.moe_layers[li] : int(li);
      o += fmt::format("<tr><th>L{}</th>", layer);
      for (int e = 0; e < int(plan.num_experts); ++e) {
        const char* cls = rep.count(e) ? "hm-rep" : held.count(e) ? "hm-on" : "hm-off";
        o += fmt::format("<td class=\"hm-cell {}\" title=\"{} layer {} expert {}\"></td>", cls, html_escape(n.name),
                         layer, e);
      }
      o += "</tr>";
    }
    o += "</table></div>";
  }
  o += coverage_map(plan);
  o += "</div>";
  return o;
}

}  // namespace

std::string status_html(const StatusInputs& in) {
  std::string o = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">"
                  "<title>banyan router</title><style>";
  o += kStyle;
  o += "</style></head><body><h1>banyan router</h1>";
  o += fmt::format("<p>policy <b>{}</b> &middot; {} live sessions &middot; {} failovers &middot; up {:.0f} s</p>",
                   html_escape(in.policy), in.sessions, in.failovers, in.uptime_s);
  o += "<h2>Nodes</h2><table class=\"nodes\" id=\"nodes\"><tr><th>node</th><th>url</th><th>health</th><th>kind</th>"
       "<th>model</th><th>load (active/queued)</th><th>in flight</th><th>sessions</th><th>placed</th>"
       "<th>requests</th><th>failures</th><th>bytes out/in</th></tr>";
  for (const auto& n : in.nodes) {
    auto s = in.sessions_by_node.find(n.address.name);
    auto p = in.placements_by_node.find(n.address.name);
    o += fmt::format(
        "<tr class=\"node\" data-node=\"{0}\"><td>{0}</td><td>{1}</td><td class=\"{2}\">{3}</td><td>{4}</td>"
        "<td>{5}</td><td>{6}/{7}</td><td>{8}</td><td>{9}</td><td>{10}</td><td>{11}</td><td>{12}</td>"
        "<td>{13}/{14}</td></tr>",
        html_escape(n.address.name), html_escape(n.address.url), n.healthy ? "up" : "down",
        html_escape(n.status + (n.last_error.empty() ? "" : ": " + n.last_error)), node_kind_name(n.kind),
        html_escape(n.model_id), n.load_active, n.load_queued, n.in_flight,
        s == in.sessions_by_node.end() ? 0 : s->second, p == in.placements_by_node.end() ? 0 : p->second,
        n.requests, n.failures, n.bytes_sent, n.bytes_received);
  }
  o += "</table>";
  if (in.plan) {
    const Plan& plan = *in.plan;
    o += fmt::format("<h2>Expert plan</h2><p>plan <code>{}</code>, scheme <b>{}</b>, {} MoE layers, {} experts "
                     "(top-{}), {} experts per node per layer</p>",
                     html_escape(plan.id), html_escape(plan.scheme), plan.moe_layers.size(), plan.num_experts,
                     plan.top_k, plan.experts_per_node);
    o += "<p class=\"legend\"><span style=\"background:#2b6cb0\"></span>held<span style=\"background:#dd6b20\">"
         "</span>hot replica<span style=\"background:#e2e8f0\"></span>absent</p>";
    o += heat_map(plan);
  } else {
    o += "<h2>Expert plan</h2><p>no plan given (--plan or cluster.json's \"plan\")</p>";
  }
  o += "</body></html>\n";
  return o;
}

}  // namespace banyan::route
