#include "route/router.h"

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <optional>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "node/http_bind.h"
#include "node/api_error.h"
#include "node/sse.h"
#include "plan/plan_file.h"
#include "route/keyed_locks.h"
#include "route/route_metrics.h"
#include "route/scoring.h"
#include "route/session_key.h"
#include "route/session_table.h"
#include "route/sse_relay.h"
#include "route/status_page.h"

namespace banyan::route {

using nlohmann::json;
using node::ApiError;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(node::to_json_text(body), "application/json");
}

// The body forwarded to a node: unchanged (byte for byte) unless the client named a model other than the node's
// model id, which a node would refuse; every node serves the same model under its own name.
std::string forwarded_body(const std::string& raw, const json& body, const std::string& node_model) {
  auto m = body.find("model");
  if (m == body.end() || node_model.empty() || (m->is_string() && m->get<std::string>() == node_model)) return raw;
  json copy = body;
  copy["model"] = node_model;
  return copy.dump();
}

bool needs_scores(Policy p) { return p == Policy::Probe || p == Policy::Likelihood || p == Policy::Auto; }

// Why scores cannot be compared across `nodes` (empty: they can). A plain OpenAI backend never scores, so comparing
// only the banyan nodes' scores would starve it: the whole cluster falls back to hash / least-loaded instead.
std::string plain_backend_reason(const std::vector<NodeView>& nodes) {
  for (const auto& n : nodes)
    if (n.kind == NodeKind::Plain)
      return fmt::format("{} is an OpenAI backend without /v1/banyan/score ({})", n.address.name, n.kind_reason);
  return "";
}

}  // namespace

struct RouterServer::Impl {
  RouterOptions opt;
  httplib::Server http;
  int port = 0;
  NodeRegistry registry;
  SessionTable sessions;
  KeyedLocks placing;  // per session key: one placement decision at a time
  RouteMetrics metrics;
  std::optional<Plan> plan;
  Clock::time_point started = Clock::now();
  int64_t created = std::time(nullptr);
  std::atomic<bool> stopping{false};
  std::mutex sweep_mu;
  std::condition_variable sweep_cv;
  std::thread sweeper;

  explicit Impl(RouterOptions o) : opt(std::move(o)), registry(opt.nodes), sessions(opt.session_ttl) {
    if (!opt.plan_path.empty()) plan = read_plan(opt.plan_path);
  }

  // ---- placement ----

  struct Target {
    NodeView node;
    std::string how;  // "pinned" | "placed" | "failover" | "replaced"
  };

  std::vector<NodeView> healthy_nodes(const std::set<std::string>& exclude) const {
    std::vector<NodeView> out;
    for (auto& n : registry.snapshot())
      if (n.healthy && !exclude.count(n.address.name)) out.push_back(std::move(n));
    return out;
  }

  // Chooses among `nodes` for a session; releases the prefills the losing nodes kept for it.
  size_t place_among(const std::vector<NodeView>& nodes, const json& body, const std::string& session,
                     std::string* metric) {
    std::vector<Candidate> cands;
    bool scored_any = false;
    std::string fallback;  // why a score-based policy is not used for this placement
    if (needs_scores(opt.policy)) {
      fallback = plain_backend_reason(nodes);
      auto sreq = fallback.empty() ? score_request(body, session, true) : std::nullopt;
      if (sreq) {
        cands = fetch_scores(nodes, *sreq, opt.score_timeout);
        for (size_t i = 0; i < nodes.size(); ++i) {
          scored_any |= cands[i].scored;
          if (cands[i].cannot_score.empty()) continue;
          registry.mark_cannot_score(nodes[i].address.name, cands[i].cannot_score);
          if (fallback.empty())
            fallback = fmt::format("{} has no /v1/banyan/score ({})", nodes[i].address.name, cands[i].cannot_score);
        }
        if (!fallback.empty()) {
          // The scores are not comparable with a node that cannot score: drop them (and what was kept for them).
          std::vector<NodeView> scored;
          for (size_t i = 0; i < nodes.size(); ++i)
            if (cands[i].scored) scored.push_back(nodes[i]);
          release_sessions_async(scored, session);
          cands.clear();
          scored_any = false;
        }
      }
    }
    if (cands.empty()) {
      for (const auto& n : nodes) {
        Candidate c;
        c.name = n.address.name;
        c.load = n.in_flight;
        cands.push_back(c);
      }
    }
    // Load counts the sessions pinned to a node as well as its requests: pinned sessions are the work it will
    // get (chat turns come back), and balancing them is what eval quality's online `auto` simulation measures.
    const auto pinned = sessions.count_by_node(Clock::now());
    for (size_t i = 0; i < cands.size(); ++i)
      if (auto it = pinned.find(nodes[i].address.name); it != pinned.end()) {
        cands[i].load += it->second;
        cands[i].sessions = it->second;
      }
    const Policy policy = fallback.empty() ? opt.policy : opt.fallback;
    const Decision d = place(policy, session, cands, opt.placement);
    *metric = d.metric;
    if (scored_any) {
      std::vector<NodeView> losers;
      for (size_t i = 0; i < nodes.size(); ++i)
        if (i != d.index && cands[i].scored) losers.push_back(nodes[i]);
      release_sessions_async(losers, session);
      std::string scores;
      for (const auto& c : cands)
        scores += c.scored ? fmt::format(" {}:probe={},logprob={},load={}", c.name,
                                         c.probe_mass ? fmt::format("{:.4f}", *c.probe_mass) : "n/a",
                                         c.prompt_logprob ? fmt::format("{:.4f}", *c.prompt_logprob) : "n/a", c.load)
                           : fmt::format(" {}:unscored", c.name);
      spdlog::info("route: session {} -> {} ({} by {}{}; prompt {} tokens;{})", session, nodes[d.index].address.name,
                   policy_name(opt.policy), d.metric,
                   d.moved_by_share_cap
                       ? fmt::format(", moved by the {:g} node share cap", opt.placement.node_share(cands.size()))
                       : std::string(d.tie_broken_by_load ? ", near-tie broken by load" : ""),
                   cands[d.index].prompt_tokens, scores);
    } else if (!fallback.empty()) {
      spdlog::info("route: session {} -> {} ({} fell back to {} by {}: {})", session, nodes[d.index].address.name,
                   policy_name(opt.policy), policy_name(policy), d.metric, fallback);
    } else {
      spdlog::info("route: session {} -> {} ({} by {})", session, nodes[d.index].address.name,
                   policy_name(opt.policy), d.metric);
    }
    return d.index;
  }

  // At a turn boundary: moves the session when another node scores better than its pinned node by the margin.
  std::optional<Target> maybe_replace(const json& body, const std::string& session, const NodeView& pinned,
                                      const std::vector<NodeView>& nodes) {
    auto sreq = score_request(body, session, true);
    if (!sreq) return std::nullopt;
    std::vector<Candidate> cands = fetch_scores(nodes, *sreq, opt.score_timeout);
    size_t cur = nodes.size();
    for (size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i].address.name == pinned.address.name) cur = i;
    if (cur == nodes.size() || !cands[cur].scored) return std::nullopt;
    // The share cap is for new sessions (this one is already counted on its node): moves compare scores only.
    PlacementOptions po = opt.placement;
    po.max_node_share = 1.0;
    const Decision d = place(opt.policy, session, cands, po);
    const auto best = metric_value(cands[d.index], d.metric), here = metric_value(cands[cur], d.metric);
    std::vector<NodeView> release;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (i != d.index && i != cur && cands[i].scored) release.push_back(nodes[i]);
    std::optional<Target> moved;
    if (d.index != cur && best && here && *best - *here > opt.replace_margin) {
      spdlog::info("route: session {} re-placed {} -> {} ({} {:.4f} vs {:.4f}, margin {})", session,
                   pinned.address.name, nodes[d.index].address.name, d.metric, *best, *here, opt.replace_margin);
      release.push_back(pinned);
      sessions.pin(session, nodes[d.index].address.name, "replaced", Clock::now());
      metrics.count_replacement();
      moved = Target{nodes[d.index], "replaced"};
    } else if (d.index != cur && cands[d.index].scored) {
      release.push_back(nodes[d.index]);
    }
    release_sessions_async(release, session);
    return moved;
  }

  Target choose(const json& body, const std::string& session, const std::set<std::string>& exclude) {
    // Two simultaneous first requests of a session must not place it twice: the second waits here for the first
    // to pin it, then follows the pin.
    const KeyedLocks::Guard guard = placing.lock(session);
    if (guard.waited()) spdlog::debug("route: session {} waited for its placement by a concurrent request", session);
    const auto nodes = healthy_nodes(exclude);
    if (nodes.empty())
      throw ApiError(503, exclude.empty() ? "no healthy node is available" : "no other healthy node is available",
                     "service_unavailable", std::nullopt, "no_healthy_node");
    const auto now = Clock::now();
    std::string metric;
    if (auto pin = sessions.lookup(session, now)) {
      for (const auto& n : nodes) {
        if (n.address.name != pin->node) continue;
        if (opt.replace_margin > 0 && needs_scores(opt.policy) && n.kind == NodeKind::Banyan && nodes.size() > 1 &&
            plain_backend_reason(nodes).empty())
          if (auto moved = maybe_replace(body, session, n, nodes)) return *moved;
        return {n, "pinned"};
      }
      // Its node is down (or was just found unreachable): the request carries the whole history, so any node
      // can take the session over; it re-prefills there.
      const size_t i = place_among(nodes, body, session, &metric);
      sessions.pin(session, nodes[i].address.name, "failover", now);
      metrics.count_failover(pin->node, nodes[i].address.name);
      spdlog::warn("route: session {} failed over {} -> {}", session, pin->node, nodes[i].address.name);
      return {nodes[i], "failover"};
    }
    const size_t i = place_among(nodes, body, session, &metric);
    sessions.pin(session, nodes[i].address.name, policy_name(opt.policy), now);
    metrics.count_placement(policy_name(opt.policy), metric, nodes[i].address.name);
    return {nodes[i], "placed"};
  }

  // ---- requests ----

  void check_auth(const httplib::Request& req) const {
    if (opt.api_key.empty()) return;
    const std::string auth = req.get_header_value("Authorization");
    if (auth == "Bearer " + opt.api_key || req.get_header_value("api-key") == opt.api_key) return;
    throw ApiError(401, auth.empty() ? "missing API key: send 'Authorization: Bearer <key>'" : "invalid API key",
                   "invalid_request_error", std::nullopt, "invalid_api_key");
  }

  // The model a client names must be one /v1/models lists: the cluster's id, a node's model id or a node's name.
  void check_model(const json& body) const {
    auto m = body.find("model");
    if (m == body.end() || m->is_null()) return;
    if (!m->is_string()) throw ApiError(400, "'model' must be a string", "invalid_request_error", "model");
    const std::string want = m->get<std::string>();
    if (want.empty() || want == opt.model_name) return;
    for (const auto& n : registry.snapshot())
      if (n.model_id == want || n.address.name == want) return;
    throw ApiError(404, fmt::format("the model '{}' does not exist; this router serves '{}'", want, opt.model_name),
                   "invalid_request_error", "model", "model_not_found");
  }

  template <class F>
  httplib::Server::Handler endpoint(std::string label, bool needs_auth, F f) {
    return [this, label, needs_auth, f](const httplib::Request& req, httplib::Response& res) {
      try {
        if (needs_auth) check_auth(req);
        f(req, res);
      } catch (const ApiError& e) {
        send_json(res, e.status(), node::error_body(e));
      } catch (const std::exception& e) {
        spdlog::error("route: {} {}: {}", req.method, req.path, e.what());
        send_json(res, 500, node::error_body(fmt::format("internal error: {}", e.what()), "server_error"));
      }
      if (!res.is_chunked_content_provider_) metrics.count_request(label, res.status);
    };
  }

  void generate(const httplib::Request& req, httplib::Response& res, const std::string& path,
                const std::string& label) {
    const auto t0 = Clock::now();
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      throw ApiError(400, "the request body is not a JSON object", "invalid_request_error");
    const SessionKey key = session_key(body, req.get_header_value("X-Banyan-Session"));
    check_model(body);
    const bool stream = body.contains("stream") && body["stream"].is_boolean() && body["stream"].get<bool>();

    std::set<std::string> tried;
    std::string last_error;
    for (int attempt = 0; attempt < opt.max_attempts; ++attempt) {
      const Target t = choose(body, key.key, tried);
      const std::string name = t.node.address.name;
      const uint64_t epoch = registry.epoch(name);
      UpstreamTimeouts to = opt.upstream;
      if (!stream) to.read = opt.blocking_read_timeout;
      registry.begin_request(name);
      auto call = UpstreamCall::start(t.node, path, forwarded_body(req.body, body, t.node.model_id), stream, to);
      const bool answered =
          call->wait_headers([&] { return stopping.load() || registry.epoch(name) != epoch; });
      const bool streaming_answer =
          answered && stream && call->status() == 200 && call->content_type().starts_with("text/event-stream");
      if (answered && !streaming_answer) call->wait_finished();
      // A whole (non-streaming) answer that broke off is as good as none: nothing reached the client yet.
      if (!answered || (!streaming_answer && call->failed())) {
        // Nothing reached the client yet: try another node (the session fails over to it).
        last_error = call->error();
        registry.end_request(name, call->bytes_sent(), call->bytes_received(), true);
        registry.mark_down(name, last_error);
        tried.insert(name);
        spdlog::warn("route: {} {} on {} failed before answering: {}", label, key.key, name, last_error);
        continue;
      }
      res.set_header("X-Banyan-Node", name);
      res.set_header("X-Banyan-Session", key.key);
      res.set_header("X-Banyan-Placement", t.how);
      if (!streaming_answer) {
        res.status = call->status();
        const std::string ct = call->content_type();
        res.set_content(call->body(), ct.empty() ? "application/json" : ct);
        registry.end_request(name, call->bytes_sent(), call->bytes_received(), false);
        const double total = std::chrono::duration<double>(Clock::now() - t0).count();
        metrics.observe_latency(label, call->seconds_to_first_byte() < 0 ? total : call->seconds_to_first_byte(), total);
        return;
      }
      stream_to_client(res, call, name, epoch, label, t0);
      return;
    }
    throw ApiError(502, fmt::format("no node could serve the request after {} attempts (last error: {})",
                                    opt.max_attempts, last_error),
                   "server_error", std::nullopt, "upstream_unreachable");
  }

  void stream_to_client(httplib::Response& res, std::shared_ptr<UpstreamCall> call, const std::string& name,
                        uint64_t epoch, const std::string& label, Clock::time_point t0) {
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    auto closed = std::make_shared<std::atomic<bool>>(false);
    // Accounting happens exactly once, whichever side ends the stream.
    auto finish = [this, call, name, label, t0, closed](bool failed) {
      if (closed->exchange(true)) return;
      registry.end_request(name, call->bytes_sent(), call->bytes_received(), failed);
      const double total = std::chrono::duration<double>(Clock::now() - t0).count();
      const double fb = call->seconds_to_first_byte();
      metrics.observe_latency(label, fb < 0 ? total : fb, total);
      metrics.count_request(label, failed ? 502 : 200);
    };
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, call, name, epoch, finish](size_t, httplib::DataSink& sink) {
          std::string out;
          while (true) {
            if (call->pop(out, 100ms)) {
              if (!sink.write(out.data(), out.size())) {  // the client went away: stop the node's generation
                call->cancel();
                finish(false);
                return false;
              }
              return true;
            }
            std::string why;
            if (call->finished_and_drained()) {
              if (!call->failed()) {
                finish(false);
                sink.done();
                return true;
              }
              why = call->error();
            } else if (stopping || registry.epoch(name) != epoch) {
              why = stopping ? "the router is shutting down" : "the node stopped answering health checks";
            } else {
              continue;
            }
            // The node failed mid-stream: end the client's stream with an error event, never a hang. The next
            // turn of this session goes to another node (the node is marked down).
            call->cancel();
            registry.mark_down(name, why);
            metrics.count_stream_error(name);
            spdlog::warn("route: stream from {} failed: {}", name, why);
            const std::string tail =
                sse_error_tail(fmt::format("node {} failed mid-stream: {}; retry to continue on another node", name, why),
                               "node_failed");
            sink.write(tail.data(), tail.size());
            finish(true);
            sink.done();
            return true;
          }
        },
        [call, finish](bool success) {
          if (!success) {
            call->cancel();
            finish(false);
          }
        });
  }

  // ---- informational endpoints ----

  StatusInputs status_inputs() const {
    StatusInputs in;
    const auto now = Clock::now();
    in.policy = policy_name(opt.policy);
    in.nodes = registry.snapshot();
    in.sessions_by_node = sessions.count_by_node(now);
    in.sessions = sessions.size(now);
    in.failovers = metrics.failovers();
    in.placements_by_node = metrics.placements_by_node();
    in.uptime_s = std::chrono::duration<double>(now - started).count();
    in.plan = plan ? &*plan : nullptr;
    in.plan_path = opt.plan_path;
    return in;
  }

  json models() const {
    json data = json::array();
    json names = json::array();
    std::set<std::string> ids;
    const auto nodes = registry.snapshot();
    for (const auto& n : nodes)
      if (n.healthy) names.push_back(n.address.name);
    data.push_back({{"id", opt.model_name}, {"object", "model"}, {"created", created}, {"owned_by", "banyan"},
                    {"nodes", names}});
    ids.insert(opt.model_name);
    for (const auto& n : nodes) {
      if (!n.healthy || n.model_id.empty() || !ids.insert(n.model_id).second) continue;
      data.push_back({{"id", n.model_id}, {"object", "model"}, {"created", created}, {"owned_by", "banyan"},
                      {"node", n.address.name}});
    }
    return {{"object", "list"}, {"data", data}};
  }

  void routes() {
    http.Post("/v1/chat/completions", endpoint("chat_completions", true, [this](const auto& q, auto& s) {
                generate(q, s, "/v1/chat/completions", "chat_completions");
              }));
    http.Post("/v1/completions", endpoint("completions", true, [this](const auto& q, auto& s) {
                generate(q, s, "/v1/completions", "completions");
              }));
    http.Get("/v1/models", endpoint("models", true, [this](const auto&, auto& s) { send_json(s, 200, models()); }));
    http.Get("/health", endpoint("health", false, [this](const auto&, auto& s) {
               const auto up = healthy_nodes({}).size();
               send_json(s, up ? 200 : 503, {{"status", up ? "ok" : "no healthy node"}, {"healthy_nodes", up},
                                             {"nodes", registry.size()}});
             }));
    http.Get("/metrics", endpoint("metrics", false, [this](const auto&, auto& s) {
               const auto now = Clock::now();
               s.status = 200;
               s.set_content(metrics.render(registry.snapshot(), sessions.count_by_node(now), sessions.size(now)),
                             "text/plain; version=0.0.4");
             }));
    http.Get("/status", endpoint("status", false, [this](const auto&, auto& s) {
               send_json(s, 200, status_json(status_inputs()));
             }));
    http.Get("/", endpoint("page", false, [this](const auto&, auto& s) {
               s.status = 200;
               s.set_content(status_html(status_inputs()), "text/html; charset=utf-8");
             }));
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      send_json(res, res.status,
                node::error_body(res.status == 404 ? fmt::format("unknown route: {} {}", req.method, req.path)
                                                   : fmt::format("HTTP {}", res.status),
                                 "invalid_request_error", std::nullopt, res.status == 404 ? "unknown_url" : ""));
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      send_json(res, 500, node::error_body("internal error", "server_error"));
    });
    http.set_payload_max_length(size_t(64) << 20);
    http.set_write_timeout(30s);
  }

  void sweep_loop() {
    while (!stopping) {
      {
        std::unique_lock lock(sweep_mu);
        sweep_cv.wait_for(lock, 1s, [this] { return stopping.load(); });
      }
      if (stopping) break;
      for (const auto& [key, e] : sessions.expire(Clock::now())) {
        if (auto n = registry.find(e.node)) release_sessions_async({*n}, key);
      }
    }
  }
};

RouterServer::RouterServer(RouterOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  const size_t threads = size_t(std::max(8, impl_->opt.threads));
  impl_->http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  impl_->routes();
}

RouterServer::~RouterServer() {
  stop();
  if (impl_->sweeper.joinable()) impl_->sweeper.join();
}

void RouterServer::bind() {
  auto& i = *impl_;
  i.port = bind_http_server(i.http, i.opt.host, i.opt.port, "route");
}

int RouterServer::bound_port() const { return impl_->port; }

void RouterServer::run() {
  auto& i = *impl_;
  i.registry.check_all(i.opt.health_timeout);
  i.registry.start_health_checks(i.opt.health_interval, i.opt.health_timeout);
  i.sweeper = std::thread([&i] { i.sweep_loop(); });
  int up = 0;
  for (const auto& n : i.registry.snapshot()) up += n.healthy ? 1 : 0;
  spdlog::info("route: listening on http://{}:{} ({} nodes, {} healthy, policy {})", i.opt.host, i.port,
               i.registry.size(), up, policy_name(i.opt.policy));
  i.http.listen_after_bind();
  i.stopping = true;
  i.sweep_cv.notify_all();
  i.registry.stop();
  if (i.sweeper.joinable()) i.sweeper.join();
}

void RouterServer::stop() {
  impl_->stopping = true;
  impl_->sweep_cv.notify_all();
  impl_->http.stop();
}

}  // namespace banyan::route
