#include "route/node_registry.h"

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "core/error.h"
#include "core/log.h"

namespace banyan::route {

using nlohmann::json;

HostPort parse_http_url(const std::string& url) {
  static const std::regex re(R"(^http://([A-Za-z0-9._\-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?/?$)");
  std::smatch m;
  BANYAN_CHECK(std::regex_match(url, m, re), "route: node URL '{}' must look like http://HOST:PORT", url);
  HostPort hp{m[1].str(), m[2].matched ? std::stoi(m[2].str()) : 80};
  BANYAN_CHECK(hp.port > 0 && hp.port < 65536, "route: node URL '{}' has port {} out of range", url, hp.port);
  return hp;
}

ClusterConfig read_cluster_config(const std::string& path) {
  std::ifstream in(path);
  BANYAN_CHECK(in, "route: cannot open cluster file {}", path);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    fail("route: {} is not valid JSON: {}", path, e.what());
  }
  BANYAN_CHECK(j.is_object() && j.contains("nodes") && j["nodes"].is_array() && !j["nodes"].empty(),
               "route: {} needs a non-empty \"nodes\" array", path);
  ClusterConfig c;
  for (size_t i = 0; i < j["nodes"].size(); ++i) {
    const json& n = j["nodes"][i];
    BANYAN_CHECK(n.is_object() && n.contains("url") && n["url"].is_string(),
                 "route: {}: nodes[{}] needs a \"url\" string", path, i);
    NodeAddress a;
    a.url = n["url"].get<std::string>();
    parse_http_url(a.url);
    a.name = n.contains("name") && n["name"].is_string() ? n["name"].get<std::string>() : a.url;
    if (n.contains("api_key")) {
      BANYAN_CHECK(n["api_key"].is_string(), "route: {}: nodes[{}].api_key must be a string", path, i);
      a.api_key = n["api_key"].get<std::string>();
    }
    if (n.contains("kind")) {
      const std::string kind = n["kind"].is_string() ? n["kind"].get<std::string>() : "";
      if (kind == "openai") a.declared_kind = NodeKind::Plain;
      else if (kind == "banyan") a.declared_kind = NodeKind::Banyan;
      else BANYAN_CHECK(kind == "auto", "route: {}: nodes[{}].kind must be \"openai\", \"banyan\" or \"auto\"",
                        path, i);
    }
    for (const auto& prev : c.nodes)
      BANYAN_CHECK(prev.name != a.name, "route: {}: node name '{}' appears twice", path, a.name);
    c.nodes.push_back(std::move(a));
  }
  if (j.contains("plan") && j["plan"].is_string()) {
    std::filesystem::path p = j["plan"].get<std::string>();
    if (p.is_relative()) p = std::filesystem::path(path).parent_path() / p;
    c.plan = p.string();
  }
  return c;
}

const char* node_kind_name(NodeKind k) {
  switch (k) {
    case NodeKind::Banyan: return "banyan";
    case NodeKind::Plain: return "openai";
    case NodeKind::Unknown: return "unknown";
  }
  return "?";
}

NodeRegistry::NodeRegistry(std::vector<NodeAddress> nodes) {
  BANYAN_CHECK(!nodes.empty(), "route: no nodes given (use --cluster or --node)");
  for (auto& a : nodes) {
    for (const auto& n : nodes_)
      BANYAN_CHECK(n.view.address.name != a.name, "route: node name '{}' given twice", a.name);
    Node n;
    n.view.endpoint = parse_http_url(a.url);
    n.view.status = "unknown";
    n.view.kind = a.declared_kind;
    if (a.declared_kind == NodeKind::Plain) n.view.kind_reason = "declared \"kind\": \"openai\"";
    n.view.address = std::move(a);
    nodes_.push_back(std::move(n));
  }
}

NodeRegistry::~NodeRegistry() { stop(); }

void NodeRegistry::stop() {
  stopping_ = true;
  wake_.notify_all();
  for (auto& t : pollers_)
    if (t.joinable()) t.join();
  pollers_.clear();
}

void NodeRegistry::start_health_checks(std::chrono::milliseconds interval, std::chrono::milliseconds timeout) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    pollers_.emplace_back([this, i, interval, timeout] {
      while (!stopping_) {
        check_one(i, timeout);
        std::unique_lock lock(wake_mu_);
        wake_.wait_for(lock, interval, [this] { return stopping_.load(); });
      }
    });
  }
}

void NodeRegistry::check_all(std::chrono::milliseconds timeout) {
  std::vector<std::thread> ts;
  for (size_t i = 0; i < nodes_.size(); ++i) ts.emplace_back([this, i, timeout] { check_one(i, timeout); });
  for (auto& t : ts) t.join();
}

namespace {

std::unique_ptr<httplib::Client> make_client(const NodeView& v, std::chrono::milliseconds timeout) {
  auto c = std::make_unique<httplib::Client>(v.endpoint.host, v.endpoint.port);
  c->set_connection_timeout(timeout);
  c->set_read_timeout(timeout);
  c->set_write_timeout(timeout);
  if (!v.address.api_key.empty()) c->set_bearer_token_auth(v.address.api_key);
  return c;
}

}  // namespace

void NodeRegistry::set_down(Node& n, const std::string& status, const std::string& reason) {
  if (n.view.healthy) {
    ++n.view.downs;
    ++n.view.epoch;
    spdlog::warn("route: node {} is {}: {}", n.view.address.name, status, reason);
  }
  n.view.healthy = false;
  n.view.status = status;
  n.view.last_error = reason;
}

void NodeRegistry::check_one(size_t index, std::chrono::milliseconds timeout) {
  NodeView v;
  {
    std::lock_guard lock(mu_);
    v = nodes_[index].view;
  }
  const NodeKind declared = v.address.declared_kind;
  auto cli = make_client(v, timeout);
  std::string status = "ok", error;
  bool healthy = false;
  NodeKind kind = v.kind;
  std::string kind_reason = v.kind_reason;
  std::string model_id = v.model_id;
  int64_t active = v.load_active, queued = v.load_queued;

  auto res = cli->Get("/health");
  if (!res) {
    status = "down";
    error = httplib::to_string(res.error());
  } else if (res->status == 200) {
    healthy = true;
  } else if (res->status == 404) {
    // Plain OpenAI backends may lack /health: a working /v1/models is as good.
    auto m = cli->Get("/v1/models");
    healthy = m && m->status == 200;
    if (!healthy) status = "down", error = "no /health and /v1/models failed";
  } else {
    status = res->status == 503 ? "loading" : "down";
    error = fmt::format("/health answered {}", res->status);
  }
  if (healthy && declared != NodeKind::Plain) {
    // Plain OpenAI backends (llama-server, vLLM, ...) answer 404 (or 405) to banyan's own endpoints.
    auto info = cli->Get("/v1/banyan/node");
    if (info && info->status == 200) {
      kind = NodeKind::Banyan;
      kind_reason.clear();
      auto j = json::parse(info->body, nullptr, false);
      if (j.is_object() && j.contains("load") && j["load"].is_object()) {
        active = j["load"].value("active", int64_t(0));
        queued = j["load"].value("queued", int64_t(0));
      }
    } else if (info && (info->status == 404 || info->status == 405) && declared != NodeKind::Banyan) {
      kind = NodeKind::Plain;
      kind_reason = fmt::format("GET /v1/banyan/node answered {}", info->status);
    }
    if (declared == NodeKind::Banyan) kind = NodeKind::Banyan;
  }
  if (healthy) {
    if (model_id.empty() || !v.healthy) {
      auto m = cli->Get("/v1/models");
      if (m && m->status == 200) {
        auto j = json::parse(m->body, nullptr, false);
        if (j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty() &&
            j["data"][0].is_object() && j["data"][0].contains("id") && j["data"][0]["id"].is_string())
          model_id = j["data"][0]["id"].get<std::string>();
      }
    }
  }

  std::lock_guard lock(mu_);
  Node& n = nodes_[index];
  n.last_check = std::chrono::steady_clock::now();
  if (healthy) {
    if (!n.view.healthy && n.view.status != "unknown") n.cannot_score = false;  // back up: maybe other software
    if (n.cannot_score) {
      kind = NodeKind::Plain;
      kind_reason = n.view.kind_reason;
    }
    if (!n.view.healthy) {
      if (n.view.status != "unknown") ++n.view.rejoins;
      spdlog::info("route: node {} ({}) is healthy ({} backend{}, model '{}')", n.view.address.name,
                   n.view.address.url, node_kind_name(kind),
                   kind == NodeKind::Plain ? fmt::format(": {}; placement falls back to {}", kind_reason,
                                                         "hash/least-loaded for the cluster")
                                           : "",
                   model_id);
    } else if (kind != n.view.kind) {
      spdlog::info("route: node {} is now a {} backend{}", n.view.address.name, node_kind_name(kind),
                   kind == NodeKind::Plain ? " (" + kind_reason + ")" : "");
    }
    n.view.healthy = true;
    n.view.status = "ok";
    n.view.last_error.clear();
    n.view.kind = kind;
    n.view.kind_reason = kind == NodeKind::Plain ? kind_reason : "";
    n.view.model_id = model_id;
    n.view.load_active = active;
    n.view.load_queued = queued;
  } else {
    set_down(n, status, error);
  }
}

std::vector<NodeView> NodeRegistry::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<NodeView> out;
  for (const auto& n : nodes_) out.push_back(n.view);
  return out;
}

NodeRegistry::Node* NodeRegistry::get(const std::string& name) {
  for (auto& n : nodes_)
    if (n.view.address.name == name) return &n;
  return nullptr;
}
const NodeRegistry::Node* NodeRegistry::get(const std::string& name) const {
  for (const auto& n : nodes_)
    if (n.view.address.name == name) return &n;
  return nullptr;
}

std::optional<NodeView> NodeRegistry::find(const std::string& name) const {
  std::lock_guard lock(mu_);
  const Node* n = get(name);
  if (!n) return std::nullopt;
  return n->view;
}

void NodeRegistry::mark_down(const std::string& name, const std::string& reason) {
  std::lock_guard lock(mu_);
  if (Node* n = get(name)) set_down(*n, "down", reason);
}

uint64_t NodeRegistry::epoch(const std::string& name) const {
  std::lock_guard lock(mu_);
  const Node* n = get(name);
  return n ? n->view.epoch : 0;
}

bool NodeRegistry::healthy(const std::string& name) const {
  std::lock_guard lock(mu_);
  const Node* n = get(name);
  return n && n->view.healthy;
}

void NodeRegistry::mark_cannot_score(const std::string& name, const std::string& reason) {
  std::lock_guard lock(mu_);
  Node* n = get(name);
  if (!n || n->cannot_score) return;
  n->cannot_score = true;
  n->view.kind = NodeKind::Plain;
  n->view.kind_reason = reason;
  spdlog::warn("route: node {} cannot score ({}): it is served as a plain OpenAI backend and placement falls back "
               "to hash/least-loaded for the cluster",
               name, reason);
}

void NodeRegistry::begin_request(const std::string& name) {
  std::lock_guard lock(mu_);
  if (Node* n = get(name)) {
    ++n->view.in_flight;
    ++n->view.requests;
  }
}

void NodeRegistry::end_request(const std::string& name, uint64_t sent, uint64_t received, bool failed) {
  std::lock_guard lock(mu_);
  if (Node* n = get(name)) {
    --n->view.in_flight;
    n->view.bytes_sent += sent;
    n->view.bytes_received += received;
    if (failed) ++n->view.failures;
  }
}

void NodeRegistry::add_bytes(const std::string& name, uint64_t sent, uint64_t received) {
  std::lock_guard lock(mu_);
  if (Node* n = get(name)) {
    n->view.bytes_sent += sent;
    n->view.bytes_received += received;
  }
}

}  // namespace banyan::route
