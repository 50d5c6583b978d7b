// /status (JSON) and / (a self-contained HTML page: no scripts, no external assets, refreshes itself) showing the
// nodes, their health and load, sessions, and the expert plan as a heat-map: for every node, one row per MoE layer
// and one cell per expert (held, held as a hot replica, or absent).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plan/plan_file.h"
#include "route/node_registry.h"

namespace banyan::route {

struct StatusInputs {
  std::string policy;
  std::vector<NodeView> nodes;
  std::map<std::string, int64_t> sessions_by_node;
  size_t sessions = 0;
  int64_t failovers = 0;
  std::map<std::string, int64_t> placements_by_node;
  double uptime_s = 0;
  const Plan* plan = nullptr;  // may be null
  std::string plan_path;
};

nlohmann::json plan_summary(const Plan& plan, const std::string& path);
nlohmann::json status_json(const StatusInputs& in);
std::string status_html(const StatusInputs& in);
std::string html_escape(const std::string& s);

}  // namespace banyan::route
