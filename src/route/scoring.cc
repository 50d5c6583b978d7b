#include "route/scoring.h"

#include <httplib.h>

#include <thread>

#include "core/log.h"

namespace banyan::route {

using nlohmann::json;

std::optional<json> score_request(const json& body, const std::string& session, bool keep) {
  json req{{"session", session}, {"keep", keep}};
  if (auto m = body.find("messages"); m != body.end() && m->is_array() && !m->empty()) {
    req["messages"] = *m;
    return req;
  }
  if (auto p = body.find("prompt"); p != body.end() && p->is_string() && !p->get<std::string>().empty()) {
    req["prompt"] = *p;
    return req;
  }
  return std::nullopt;
}

namespace {

std::unique_ptr<httplib::Client> client_for(const NodeView& n, std::chrono::milliseconds timeout) {
  auto c = std::make_unique<httplib::Client>(n.endpoint.host, n.endpoint.port);
  c->set_connection_timeout(timeout);
  c->set_read_timeout(timeout);
  c->set_write_timeout(timeout);
  if (!n.address.api_key.empty()) c->set_bearer_token_auth(n.address.api_key);
  return c;
}

}  // namespace

std::vector<Candidate> fetch_scores(const std::vector<NodeView>& nodes, const json& score_body,
                                    std::chrono::milliseconds timeout) {
  std::vector<Candidate> out(nodes.size());
  std::vector<std::thread> threads;
  const std::string body = score_body.dump();
  for (size_t i = 0; i < nodes.size(); ++i) {
    out[i].name = nodes[i].address.name;
    out[i].load = nodes[i].in_flight;
    if (nodes[i].kind != NodeKind::Banyan) continue;
    threads.emplace_back([&, i] {
      auto cli = client_for(nodes[i], timeout);
      auto res = cli->Post("/v1/banyan/score", body, "application/json");
      if (res && (res->status == 404 || res->status == 405)) {
        out[i].cannot_score = fmt::format("POST /v1/banyan/score answered {}", res->status);
        return;
      }
      if (!res || res->status != 200) {
        spdlog::warn("route: score on {} failed: {}", nodes[i].address.name,
                     res ? fmt::format("HTTP {} {}", res->status, res->body.substr(0, 200))
                         : httplib::to_string(res.error()));
        return;
      }
      auto j = json::parse(res->body, nullptr, false);
      auto number = [&j](const char* key) -> std::optional<double> {
        if (j.contains(key) && j[key].is_number()) return j[key].get<double>();
        return std::nullopt;
      };
      if (!j.is_object() || (!number("probe_mass") && !number("prompt_logprob"))) {
        spdlog::warn("route: score on {} answered without probe_mass or prompt_logprob: {}", nodes[i].address.name,
                     res->body.substr(0, 200));
        return;
      }
      Candidate& c = out[i];
      c.scored = true;
      c.probe_mass = number("probe_mass");
      c.prompt_logprob = number("prompt_logprob");
      c.prompt_logprob_tail = number("prompt_logprob_tail");
      c.prompt_tokens = j.value("prompt_tokens", int64_t(0));
      if (j.contains("load") && j["load"].is_object())
        c.load = j["load"].value("active", int64_t(0)) + j["load"].value("queued", int64_t(0));
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

void release_sessions_async(const std::vector<NodeView>& nodes, const std::string& session) {
  std::vector<NodeView> targets;
  for (const auto& n : nodes)
    if (n.kind == NodeKind::Banyan && n.healthy) targets.push_back(n);
  if (targets.empty()) return;
  std::thread([targets = std::move(targets), session] {
    const std::string body = json{{"session", session}}.dump();
    for (const auto& n : targets) {
      auto cli = client_for(n, std::chrono::milliseconds(2000));
      auto res = cli->Post("/v1/banyan/release", body, "application/json");
      if (!res || res->status != 200)
        spdlog::debug("route: release of session {} on {} failed", session, n.address.name);
    }
  }).detach();
}

}  // namespace banyan::route
