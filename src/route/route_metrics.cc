#include "route/route_metrics.h"

#include <fmt/format.h>

namespace banyan::route {

namespace {
const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

std::string join_labels(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "," + b;
}
}  // namespace

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

std::string Histogram::render(const std::string& name, const std::string& labels) const {
  std::string out;
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    out += fmt::format("{}_bucket{{{}}} {}\n", name, join_labels(labels, fmt::format("le=\"{}\"", bounds_[i])), cum);
  }
  cum += counts_.back();
  out += fmt::format("{}_bucket{{{}}} {}\n", name, join_labels(labels, "le=\"+Inf\""), cum);
  out += fmt::format("{}_sum{{{}}} {}\n", name, labels, sum_);
  out += fmt::format("{}_count{{{}}} {}\n", name, labels, count_);
  return out;
}

void RouteMetrics::count_placement(const std::string& policy, const std::string& metric, const std::string& node) {
  std::lock_guard lock(mu_);
  ++placements_[{policy, metric}];
  ++placements_by_node_[node];
}

void RouteMetrics::count_failover(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  ++failovers_[{from, to}];
}

void RouteMetrics::count_replacement() {
  std::lock_guard lock(mu_);
  ++replacements_;
}

void RouteMetrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{endpoint, status}];
}

void RouteMetrics::count_stream_error(const std::string& node) {
  std::lock_guard lock(mu_);
  ++stream_errors_[node];
}

void RouteMetrics::observe_latency(const std::string& endpoint, double first_byte_s, double total_s) {
  std::lock_guard lock(mu_);
  first_byte_.try_emplace(endpoint, kLatencyBounds).first->second.observe(first_byte_s);
  total_.try_emplace(endpoint, kLatencyBounds).first->second.observe(total_s);
}

int64_t RouteMetrics::failovers() const {
  std::lock_guard lock(mu_);
  int64_t n = 0;
  for (const auto& [k, v] : failovers_) n += v;
  return n;
}

std::map<std::string, int64_t> RouteMetrics::placements_by_node() const {
  std::lock_guard lock(mu_);
  return placements_by_node_;
}

std::string RouteMetrics::render(const std::vector<NodeView>& nodes, const std::map<std::string, int64_t>& sessions,
                                 size_t total_sessions) const {
  std::lock_guard lock(mu_);
  std::string o;
  o += "# HELP banyan_route_placements_total New sessions placed, by policy and the metric that decided.\n"
       "# TYPE banyan_route_placements_total counter\n";
  for (const auto& [k, v] : placements_)
    o += fmt::format("banyan_route_placements_total{{policy=\"{}\",metric=\"{}\"}} {}\n", k.first, k.second, v);
  o += "# HELP banyan_route_placements_by_node_total New sessions placed on each node.\n"
       "# TYPE banyan_route_placements_by_node_total counter\n";
  for (const auto& [k, v] : placements_by_node_)
    o += fmt::format("banyan_route_placements_by_node_total{{node=\"{}\"}} {}\n", k, v);
  o += "# HELP banyan_route_failovers_total Sessions moved off a node that was down.\n"
       "# TYPE banyan_route_failovers_total counter\n";
  int64_t fo = 0;
  for (const auto& [k, v] : failovers_) {
    o += fmt::format("banyan_route_failovers_total{{from=\"{}\",to=\"{}\"}} {}\n", k.first, k.second, v);
    fo += v;
  }
  o += fmt::format("banyan_route_failovers {}\n", fo);
  o += "# TYPE banyan_route_replacements_total counter\n";
  o += fmt::format("banyan_route_replacements_total {}\n", replacements_);
  o += "# TYPE banyan_route_requests_total counter\n";
  for (const auto& [k, v] : requests_)
    o += fmt::format("banyan_route_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", k.first, k.second, v);
  o += "# HELP banyan_route_stream_errors_total Streams ended with an error event because their node failed.\n"
       "# TYPE banyan_route_stream_errors_total counter\n";
  for (const auto& [k, v] : stream_errors_)
    o += fmt::format("banyan_route_stream_errors_total{{node=\"{}\"}} {}\n", k, v);
  o += "# HELP banyan_route_first_byte_seconds Time from the request to the node's first response byte.\n"
       "# TYPE banyan_route_first_byte_seconds histogram\n";
  for (const auto& [k, h] : first_byte_) o += h.render("banyan_route_first_byte_seconds", fmt::format("endpoint=\"{}\"", k));
  o += "# HELP banyan_route_request_seconds Whole proxied request, client's view.\n"
       "# TYPE banyan_route_request_seconds histogram\n";
  for (const auto& [k, h] : total_) o += h.render("banyan_route_request_seconds", fmt::format("endpoint=\"{}\"", k));

  o += "# TYPE banyan_route_sessions gauge\n";
  o += fmt::format("banyan_route_sessions {}\n", total_sessions);
  o += "# TYPE banyan_route_node_sessions gauge\n# TYPE banyan_route_node_up gauge\n"
       "# TYPE banyan_route_node_in_flight gauge\n# TYPE banyan_route_node_load gauge\n"
       "# TYPE banyan_route_node_bytes_sent_total counter\n# TYPE banyan_route_node_bytes_received_total counter\n"
       "# TYPE banyan_route_node_requests_total counter\n# TYPE banyan_route_node_failures_total counter\n";
  for (const auto& n : nodes) {
    const std::string l = fmt::format("node=\"{}\"", n.address.name);
    auto s = sessions.find(n.address.name);
    o += fmt::format("banyan_route_node_sessions{{{}}} {}\n", l, s == sessions.end() ? 0 : s->second);
    o += fmt::format("banyan_route_node_up{{{}}} {}\n", l, n.healthy ? 1 : 0);
    o += fmt::format("banyan_route_node_in_flight{{{}}} {}\n", l, n.in_flight);
    o += fmt::format("banyan_route_node_load{{{}}} {}\n", l, n.load_active + n.load_queued);
    o += fmt::format("banyan_route_node_bytes_sent_total{{{}}} {}\n", l, n.bytes_sent);
    o += fmt::format("banyan_route_node_bytes_received_total{{{}}} {}\n", l, n.bytes_received);
    o += fmt::format("banyan_route_node_requests_total{{{}}} {}\n", l, n.requests);
    o += fmt::format("banyan_route_node_failures_total{{{}}} {}\n", l, n.failures);
  }
  return o;
}

}  // namespace banyan::route
