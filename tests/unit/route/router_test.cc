// The router in-process in front of in-process fake nodes (fake_node.h): placement, pinning, streaming
// pass-through, failover, rejoin, plain backends, auth, models, metrics.
#include <gtest/gtest.h>
#include <httplib.h>
#include <fmt/format.h>

#include <chrono>
#include <array>
#include <functional>
#include <set>
#include <memory>
#include <thread>

#include "fake_node.h"
#include "route/keyed_locks.h"
#include "route/router.h"
#include "route/sse_relay.h"

namespace banyan::route {
namespace {

using nlohmann::json;
using test::FakeNode;
using test::FakeNodeOptions;
using namespace std::chrono_literals;

class RouterHarness {
 public:
  RouterHarness(const std::vector<FakeNode*>& nodes, Policy policy, std::string api_key = "",
                std::function<void(RouterOptions&)> tweak = nullptr) {
    RouterOptions o;
    o.port = 0;
    o.policy = policy;
    o.api_key = std::move(api_key);
    o.health_interval = 100ms;
    o.health_timeout = 500ms;
    o.score_timeout = 2000ms;
    o.upstream.read = 5000ms;
    o.threads = 32;
    for (auto* n : nodes) o.nodes.push_back({n->opt.name, n->url(), ""});
    if (tweak) tweak(o);
    server_ = std::make_unique<RouterServer>(o);
    server_->bind();
    port_ = server_->bound_port();
    thread_ = std::thread([this] { server_->run(); });
    wait_for([&] { return client().Get("/health") && client().Get("/health")->status == 200; }, 5s);
  }
  ~RouterHarness() {
    server_->stop();
    thread_.join();
  }
  httplib::Client client(std::string key = "") const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10s);
    if (!key.empty()) c.set_bearer_token_auth(key);
    return c;
  }
  json status() const {
    auto r = client().Get("/status");
    return r ? json::parse(r->body) : json();
  }
  bool node_healthy(const std::string& name) const {
    const json st = status();  // a named copy: ranging over a temporary's member would dangle
    for (const auto& n : st["nodes"])
      if (n["name"] == name) return n["healthy"].get<bool>();
    return false;
  }
  template <class F>
  static bool wait_for(F f, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return f();
  }

 private:
  std::unique_ptr<RouterServer> server_;
  std::thread thread_;
  int port_ = 0;
};

json chat_body(const std::string& user, int turns, bool stream) {
  json msgs = json::array({{{"role", "system"}, {"content", "You are terse."}}});
  for (int i = 0; i < turns; ++i) {
    msgs.push_back({{"role", "user"}, {"content", "question " + std::to_string(i) + " from " + user}});
    if (i + 1 < turns) msgs.push_back({{"role", "assistant"}, {"content", "answer " + std::to_string(i)}});
  }
  return {{"model", "banyan"}, {"messages", msgs}, {"stream", stream}, {"user", user}};
}

struct StreamResult {
  int status = 0;
  std::string node, placement, body;
  double seconds = 0;
};

StreamResult post_stream(const RouterHarness& h, const json& body) {
  auto c = h.client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  StreamResult r;
  req.response_handler = [&](const httplib::Response& res) {
    r.status = res.status;
    r.node = res.get_header_value("X-Banyan-Node");
    r.placement = res.get_header_value("X-Banyan-Placement");
    return true;
  };
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    r.body.append(d, n);
    return true;
  };
  const auto t0 = std::chrono::steady_clock::now();
  httplib::Response res;
  httplib::Error err;
  c.send(req, res, err);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

TEST(Router, ProbePlacementPinsTheSessionAndReleasesTheLosersPrefills) {
  FakeNode a({.name = "a", .probe_mass = 0.30}), b({.name = "b", .probe_mass = 0.80}),
      c({.name = "c", .probe_mass = 0.50});
  RouterHarness h({&a, &b, &c}, Policy::Probe);
  auto res = h.client().Post("/v1/chat/completions", chat_body("u1", 1, false).dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("X-Banyan-Node"), "b");
  EXPECT_EQ(res->get_header_value("X-Banyan-Placement"), "placed");
  EXPECT_EQ(json::parse(res->body)["choices"][0]["message"]["content"], "b saw 2");
  for (FakeNode* n : {&a, &b, &c}) {
    ASSERT_EQ(n->scores.load(), 1) << n->opt.name;
    std::lock_guard lock(n->mu);
    EXPECT_EQ(n->score_bodies[0]["session"], "u1");
    EXPECT_EQ(n->score_bodies[0]["keep"], true);
    EXPECT_EQ(n->score_bodies[0]["messages"].size(), 2u);
  }
  // The losers were asked to drop what they kept; the winner keeps its prefill.
  EXPECT_TRUE(RouterHarness::wait_for([&] { return a.releases == 1 && c.releases == 1; }, 3s));
  EXPECT_EQ(b.releases.load(), 0);
  // The model id is rewritten to the node's own.
  {
    std::lock_guard lock(b.mu);
    EXPECT_EQ(b.chat_bodies[0]["model"], "b");
  }

  // Later turns go to the pinned node without scoring again.
  for (int turn = 2; turn <= 3; ++turn) {
    auto r = h.client().Post("/v1/chat/completions", chat_body("u1", turn, false).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->get_header_value("X-Banyan-Node"), "b");
    EXPECT_EQ(r->get_header_value("X-Banyan-Placement"), "pinned");
  }
  EXPECT_EQ(b.chats.load(), 3);
  EXPECT_EQ(a.scores.load() + b.scores.load() + c.scores.load(), 3);

  auto m = h.client().Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("banyan_route_placements_total{policy=\"probe\",metric=\"probe_mass\"} 1"),
            std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("banyan_route_node_sessions{node=\"b\"} 1"), std::string::npos);
  EXPECT_NE(m->body.find("banyan_route_request_seconds_count{endpoint=\"chat_completions\"} 3"), std::string::npos);
}

TEST(Router, LikelihoodPolicyUsesPromptLogprobAndNearTiesGoToTheLeastLoaded) {
  FakeNode a({.name = "a", .prompt_logprob = -1.00, .active = 6}), b({.name = "b", .prompt_logprob = -1.01}),
      c({.name = "c", .prompt_logprob = -3.0});
  RouterHarness h({&a, &b, &c}, Policy::Likelihood);
  auto r = h.client().Post("/v1/chat/completions", chat_body("u2", 1, false).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("X-Banyan-Node"), "b");  // within the 0.075 tie margin of a, and idle
}

// --max-node-share: the router counts the live sessions it pinned; once 2 x 1 are live, a would exceed 0.6 of
// them with the new session -> b takes it although a scores far better.
TEST(Router, ShareCapCountsTheLiveSessionsPinnedPerNode) {
  FakeNode a({.name = "a", .prompt_logprob = -1.0}), b({.name = "b", .prompt_logprob = -3.0});
  RouterHarness h({&a, &b}, Policy::Likelihood, "", [](RouterOptions& o) {
    o.placement.max_node_share = 0.6;
    o.placement.share_warmup_per_node = 1;
  });
  std::string got;
  for (int i = 0; i < 10; ++i) {
    auto r = h.client().Post("/v1/chat/completions", chat_body(fmt::format("cap{}", i), 1, false).dump(),
                             "application/json");
    ASSERT_TRUE(r);
    got += r->get_header_value("X-Banyan-Node");
  }
  // s0, s1: warm-up; s2: a would hold 3/3; s3: 3/4; s4: 3/5 = 0.6 ok; s5: 4/6; s6: 4/7; s7: 5/8; s8: 5/9; s9: 6/10.
  EXPECT_EQ(got, "aabbababaa");
  // A later turn stays on its pinned node whatever the shares.
  auto r = h.client().Post("/v1/chat/completions", chat_body("cap2", 2, false).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("X-Banyan-Node"), "b");
  EXPECT_EQ(r->get_header_value("X-Banyan-Placement"), "pinned");
}

// The default cap (no --max-node-share): 1.6 x the fair share, 0.4 among 4 nodes, after 4 x 4 live sessions. a
// scores far better than b, c, d: it takes the first 16 sessions (warm-up), then 17 / 17 ... 17 / 24 > 0.4, so
// the next 8 go elsewhere (to the better of the others, c, while it stays under 0.4). With --max-node-share 1 all
// 24 go to a.
TEST(Router, DefaultShareCapIsTheLoadFactorOverTheNodes) {
  for (bool off : {false, true}) {
    FakeNode a({.name = "a", .prompt_logprob = -1.0}), b({.name = "b", .prompt_logprob = -3.0}),
        c({.name = "c", .prompt_logprob = -2.0}), d({.name = "d", .prompt_logprob = -2.5});
    RouterHarness h({&a, &b, &c, &d}, Policy::Likelihood, "", [off](RouterOptions& o) {
      if (off) o.placement.max_node_share = 1.0;
    });
    std::string got;
    for (int i = 0; i < 24; ++i) {
      auto r = h.client().Post("/v1/chat/completions", chat_body(fmt::format("dc{}", i), 1, false).dump(),
                               "application/json");
      ASSERT_TRUE(r);
      got += r->get_header_value("X-Banyan-Node");
    }
    EXPECT_EQ(got, off ? std::string(24, 'a') : std::string(16, 'a') + std::string(8, 'c')) << off;
  }
}

TEST(Router, StreamsTheNodesEventsUnchanged) {
  FakeNode a({.name = "a", .probe_mass = 0.9, .chunks = 20}), b({.name = "b", .probe_mass = 0.1});
  RouterHarness h({&a, &b}, Policy::Auto);
  auto r = post_stream(h, chat_body("s1", 1, true));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.node, "a");
  EXPECT_EQ(r.body, a.stream_bytes());
  EXPECT_EQ(a.finished_streams.load(), 1);
  // Router bytes per node = the request body sent and the response body received.
  json st = h.status();
  for (const auto& n : st["nodes"]) {
    if (n["name"] != "a") continue;
    std::lock_guard lock(a.mu);
    EXPECT_EQ(n["bytes_sent"].get<uint64_t>(), a.raw_chat_bodies[0].size());
    EXPECT_EQ(n["bytes_received"].get<uint64_t>(), r.body.size());
  }
}

TEST(Router, NodeDyingMidStreamGivesAnErrorEventThenTheNextTurnFailsOverWithTheFullHistory) {
  FakeNode a({.name = "a", .probe_mass = 0.9, .chunks = 10, .chunk_delay_ms = 20, .die_after = 3});
  FakeNode b({.name = "b", .probe_mass = 0.2});
  RouterHarness h({&a, &b}, Policy::Probe);
  auto r = post_stream(h, chat_body("f1", 1, true));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.node, "a");
  EXPECT_LT(r.seconds, 2.0);
  SseSplitter s;
  auto events = s.feed(r.body);
  ASSERT_EQ(events.size(), 5u) << r.body;  // 3 chunks, the error, [DONE]
  auto err = json::parse(sse_data(events[3]));
  ASSERT_TRUE(err.contains("error")) << events[3];
  EXPECT_EQ(err["error"]["code"], "node_failed");
  EXPECT_TRUE(s.done());

  auto next = h.client().Post("/v1/chat/completions", chat_body("f1", 2, false).dump(), "application/json");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->get_header_value("X-Banyan-Node"), "b");
  EXPECT_EQ(next->get_header_value("X-Banyan-Placement"), "failover");
  EXPECT_EQ(json::parse(next->body)["choices"][0]["message"]["content"], "b saw 4");  // system + 2 user + 1 asst
  auto m = h.client().Get("/metrics");
  EXPECT_NE(m->body.find("banyan_route_failovers_total{from=\"a\",to=\"b\"} 1"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("banyan_route_stream_errors_total{node=\"a\"} 1"), std::string::npos);
}

TEST(Router, UnreachablePinnedNodeFailsOverBeforeHealthChecksNoticeAndARestartedNodeRejoins) {
  auto a = std::make_unique<FakeNode>(FakeNodeOptions{.name = "a", .probe_mass = 0.9});
  FakeNode b({.name = "b", .probe_mass = 0.2});
  const int a_port = a->port();
  RouterHarness h({a.get(), &b}, Policy::Probe);
  auto r1 = h.client().Post("/v1/chat/completions", chat_body("k1", 1, false).dump(), "application/json");
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->get_header_value("X-Banyan-Node"), "a");
  a.reset();  // killed
  auto r2 = h.client().Post("/v1/chat/completions", chat_body("k1", 2, false).dump(), "application/json");
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200) << r2->body;
  EXPECT_EQ(r2->get_header_value("X-Banyan-Node"), "b");
  EXPECT_TRUE(RouterHarness::wait_for([&] { return !h.node_healthy("a"); }, 3s));

  FakeNode a2({.name = "a", .probe_mass = 0.9}, a_port);  // restarted on its address
  ASSERT_EQ(a2.port(), a_port);
  EXPECT_TRUE(RouterHarness::wait_for([&] { return h.node_healthy("a"); }, 3s));
  auto r3 = h.client().Post("/v1/chat/completions", chat_body("k2", 1, false).dump(), "application/json");
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->get_header_value("X-Banyan-Node"), "a");
  const json st = h.status();
  for (const auto& n : st["nodes"])
    if (n["name"] == "a") {
      EXPECT_EQ(n["rejoins"], 1);
    }
}

TEST(Router, PlainOpenAiBackendsFallBackToLoadAndHash) {
  FakeNode a({.name = "a", .banyan = false}), b({.name = "b", .banyan = false});
  RouterHarness h({&a, &b}, Policy::Auto);
  std::map<std::string, int> where;
  for (int i = 0; i < 12; ++i) {
    auto r = h.client().Post("/v1/chat/completions", chat_body(fmt::format("p{}", i), 1, false).dump(),
                             "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    ++where[r->get_header_value("X-Banyan-Node")];
  }
  EXPECT_GT(where["a"], 0);
  EXPECT_GT(where["b"], 0);
  EXPECT_EQ(a.scores + b.scores, 0);
  const json st = h.status();
  for (const auto& n : st["nodes"]) EXPECT_EQ(n["kind"], "openai");
  auto m = h.client().Get("/metrics");
  EXPECT_NE(m->body.find("banyan_route_placements_total{policy=\"auto\",metric=\"load\"} 12"), std::string::npos)
      << m->body;
}

TEST(Router, ClientDisconnectMidStreamCancelsTheNodesGeneration) {
  FakeNode a({.name = "a", .chunks = 200, .chunk_delay_ms = 20});
  RouterHarness h({&a}, Policy::Hash);
  auto c = h.client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = chat_body("d1", 1, true).dump();
  req.set_header("Content-Type", "application/json");
  int seen = 0;
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++seen < 3; };
  httplib::Response res;
  httplib::Error err;
  c.send(req, res, err);
  EXPECT_TRUE(RouterHarness::wait_for([&] { return a.cancelled == 1; }, 3s));
  EXPECT_EQ(a.finished_streams.load(), 0);
}

TEST(Router, ReplacesASessionAtATurnBoundaryOnlyWhenAnotherNodeIsBetterByTheMargin) {
  FakeNode a({.name = "a", .probe_mass = 0.6}), b({.name = "b", .probe_mass = 0.4});
  RouterHarness h({&a, &b}, Policy::Probe, "", [](RouterOptions& o) { o.replace_margin = 0.1; });
  auto turn = [&](int n) {
    auto r = h.client().Post("/v1/chat/completions", chat_body("r1", n, false).dump(), "application/json");
    EXPECT_TRUE(r);
    return std::pair{r->get_header_value("X-Banyan-Node"), r->get_header_value("X-Banyan-Placement")};
  };
  EXPECT_EQ(turn(1), (std::pair<std::string, std::string>{"a", "placed"}));
  b.set_scores(0.65, -2.0);  // better, but within the margin: stay
  EXPECT_EQ(turn(2), (std::pair<std::string, std::string>{"a", "pinned"}));
  b.set_scores(0.75, -2.0);  // better by 0.15 > 0.1: move, re-prefilling the history there
  EXPECT_EQ(turn(3), (std::pair<std::string, std::string>{"b", "replaced"}));
  EXPECT_EQ(turn(4), (std::pair<std::string, std::string>{"b", "pinned"}));
  // The node it left is told to drop what it kept for the session.
  EXPECT_TRUE(RouterHarness::wait_for([&] {
    std::lock_guard lock(a.mu);
    for (const auto& r : a.release_bodies)
      if (r["session"] == "r1") return true;
    return false;
  }, 3s));
  auto m = h.client().Get("/metrics");
  EXPECT_NE(m->body.find("banyan_route_replacements_total 1"), std::string::npos);
}

TEST(Router, ExpiredSessionsAreReleasedOnTheirNodeAndPlacedAfresh) {
  FakeNode a({.name = "a", .probe_mass = 0.9}), b({.name = "b", .probe_mass = 0.1});
  RouterHarness h({&a, &b}, Policy::Probe, "", [](RouterOptions& o) { o.session_ttl = std::chrono::seconds(1); });
  auto r1 = h.client().Post("/v1/chat/completions", chat_body("t1", 1, false).dump(), "application/json");
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->get_header_value("X-Banyan-Placement"), "placed");
  const int releases_before = a.releases.load();
  EXPECT_TRUE(RouterHarness::wait_for([&] { return a.releases > releases_before; }, 4s));
  EXPECT_EQ(h.status()["router"]["sessions"], 0);
  auto r2 = h.client().Post("/v1/chat/completions", chat_body("t1", 2, false).dump(), "application/json");
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->get_header_value("X-Banyan-Placement"), "placed");
}

TEST(Router, CompletionsStreamThroughAndKeyOnThePrompt) {
  FakeNode a({.name = "a", .probe_mass = 0.9, .chunks = 3}), b({.name = "b", .probe_mass = 0.1});
  RouterHarness h({&a, &b}, Policy::Auto);
  json body{{"prompt", "Once upon a time"}, {"stream", true}, {"max_tokens", 3}};
  auto c = h.client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  std::string got, session;
  req.response_handler = [&](const httplib::Response& res) {
    session = res.get_header_value("X-Banyan-Session");
    return true;
  };
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    got.append(d, n);
    return true;
  };
  httplib::Response res;
  httplib::Error err;
  ASSERT_TRUE(c.send(req, res, err));
  EXPECT_EQ(got, a.stream_bytes());
  EXPECT_TRUE(session.starts_with("h-"));
  std::lock_guard lock(a.mu);
  ASSERT_EQ(a.score_bodies.size(), 1u);
  EXPECT_EQ(a.score_bodies[0]["prompt"], "Once upon a time");
  EXPECT_EQ(a.raw_chat_bodies[0], body.dump());  // no model field: forwarded byte for byte
}

TEST(Router, ApiKeyModelsHealthAndErrors) {
  FakeNode a({.name = "a"}), b({.name = "b"});
  RouterHarness h({&a, &b}, Policy::Hash, "sekrit");
  auto no = h.client().Post("/v1/chat/completions", chat_body("x", 1, false).dump(), "application/json");
  ASSERT_TRUE(no);
  EXPECT_EQ(no->status, 401);
  auto yes = h.client("sekrit").Post("/v1/chat/completions", chat_body("x", 1, false).dump(), "application/json");
  ASSERT_TRUE(yes);
  EXPECT_EQ(yes->status, 200);
  auto bad = h.client("sekrit").Post("/v1/chat/completions", "{not json", "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_TRUE(json::parse(bad->body).contains("error"));
  auto nothing = h.client("sekrit").Post("/v1/chat/completions", R"({"model":"m"})", "application/json");
  EXPECT_EQ(nothing->status, 400);
  auto models = h.client("sekrit").Get("/v1/models");
  ASSERT_TRUE(models);
  json ids = json::array();
  const json listed = json::parse(models->body);
  for (const auto& m : listed["data"]) ids.push_back(m["id"]);
  EXPECT_EQ(ids, json({"banyan", "a", "b"}));
  EXPECT_EQ(h.client().Get("/health")->status, 200);
  a.stop();
  b.stop();
  EXPECT_TRUE(RouterHarness::wait_for([&] { return h.client().Get("/health")->status == 503; }, 3s));
  auto none = h.client("sekrit").Post("/v1/chat/completions", chat_body("y", 1, false).dump(), "application/json");
  EXPECT_EQ(none->status, 503);
}


int metric_value_of(const RouterHarness& h, const std::string& series) {
  auto m = h.client().Get("/metrics");
  if (!m) return -1;
  const auto at = m->body.find(series + " ");
  return at == std::string::npos ? 0 : std::stoi(m->body.substr(at + series.size() + 1));
}

json node_status(const RouterHarness& h, const std::string& name) {
  const json st = h.status();
  for (const auto& n : st["nodes"])
    if (n["name"] == name) return n;
  return json();
}

TEST(Router, SimultaneousFirstRequestsOfOneSessionPlaceItOnceAndTheSecondFollowsThePin) {
  // Scoring takes 300 ms, so both first requests are inside the placement window together.
  FakeNode a({.name = "a", .probe_mass = 0.5, .score_delay_ms = 300}),
      b({.name = "b", .probe_mass = 0.5, .score_delay_ms = 300}),
      c({.name = "c", .probe_mass = 0.5, .score_delay_ms = 300});
  RouterHarness h({&a, &b, &c}, Policy::Probe);
  std::array<std::pair<std::string, std::string>, 2> got;  // (node, placement)
  std::atomic<int> ready{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 2; ++i) {
    clients.emplace_back([&, i] {
      ++ready;
      while (ready < 2) std::this_thread::yield();
      auto r = h.client().Post("/v1/chat/completions", chat_body("twin", 1, false).dump(), "application/json");
      if (r) got[i] = {r->get_header_value("X-Banyan-Node"), r->get_header_value("X-Banyan-Placement")};
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_FALSE(got[0].first.empty());
  EXPECT_EQ(got[0].first, got[1].first);  // one node serves both
  std::multiset<std::string> how{got[0].second, got[1].second};
  EXPECT_EQ(how, (std::multiset<std::string>{"placed", "pinned"}));
  EXPECT_EQ(a.scores + b.scores + c.scores, 3);  // one fan-out, not two
  EXPECT_EQ(metric_value_of(h, "banyan_route_placements_total{policy=\"probe\",metric=\"probe_mass\"}"), 1);
}

TEST(Router, KeyedLocksSerialiseOneKeyOnlyAndForgetIdleKeys) {
  KeyedLocks locks;
  {
    auto g1 = locks.lock("k");
    EXPECT_FALSE(g1.waited());
    auto other = locks.lock("other");  // a different key does not wait
    EXPECT_FALSE(other.waited());
    std::atomic<bool> second_has_it{false};
    bool second_waited = false;
    std::thread t([&] {
      auto g2 = locks.lock("k");
      second_waited = g2.waited();
      second_has_it = true;
    });
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(second_has_it.load());
    EXPECT_EQ(locks.size(), 2u);
    { auto moved = std::move(g1); }  // released here
    t.join();
    EXPECT_TRUE(second_has_it.load());
    EXPECT_TRUE(second_waited);
  }
  EXPECT_EQ(locks.size(), 0u);
}

TEST(Router, ANodeAnswering404ToScoreMakesTheClusterFallBackToLoadAndHash) {
  // a looks like a banyan node (/v1/banyan/node answers) but has no /v1/banyan/score, like a partial proxy.
  FakeNode a({.name = "a", .probe_mass = 0.9, .can_score = false}), b({.name = "b", .probe_mass = 0.1});
  RouterHarness h({&a, &b}, Policy::Probe);
  std::map<std::string, int> where;
  for (int i = 0; i < 12; ++i) {
    auto r = h.client().Post("/v1/chat/completions", chat_body(fmt::format("f{}", i), 1, false).dump(),
                             "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    ++where[r->get_header_value("X-Banyan-Node")];
    // Pinning is unchanged: the second turn stays.
    auto r2 = h.client().Post("/v1/chat/completions", chat_body(fmt::format("f{}", i), 2, false).dump(),
                              "application/json");
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->get_header_value("X-Banyan-Node"), r->get_header_value("X-Banyan-Node"));
    EXPECT_EQ(r2->get_header_value("X-Banyan-Placement"), "pinned");
  }
  EXPECT_GT(where["a"], 0);  // probe_mass would have sent every session to a; the fallback spreads them
  EXPECT_GT(where["b"], 0);
  EXPECT_EQ(b.scores.load(), 1);  // only the first placement asked; later ones know the cluster cannot score
  EXPECT_TRUE(RouterHarness::wait_for([&] { return b.releases == 1; }, 3s));  // b's kept prefill of it dropped
  const json na = node_status(h, "a");
  EXPECT_EQ(na["kind"], "openai");
  EXPECT_NE(na["kind_reason"].get<std::string>().find("404"), std::string::npos) << na;
  EXPECT_EQ(node_status(h, "b")["kind"], "banyan");
  EXPECT_EQ(metric_value_of(h, "banyan_route_placements_total{policy=\"probe\",metric=\"load\"}"), 12);
}

TEST(Router, NodesDeclaredOpenAiAreNeverAskedForBanyanEndpointsAndHashFallbackIsStable) {
  FakeNode a({.name = "a", .probe_mass = 0.9}), b({.name = "b", .probe_mass = 0.1});
  RouterHarness h({&a, &b}, Policy::Auto, "", [](RouterOptions& o) {
    o.nodes[0].declared_kind = NodeKind::Plain;
    o.fallback = Policy::Hash;
  });
  std::map<std::string, int> where;
  for (int i = 0; i < 16; ++i) {
    const std::string user = fmt::format("h{}", i);
    auto r = h.client().Post("/v1/chat/completions", chat_body(user, 1, false).dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const std::string node = r->get_header_value("X-Banyan-Node");
    ++where[node];
    const std::string expected =
        rendezvous_weight(user, "a") > rendezvous_weight(user, "b") ? std::string("a") : std::string("b");
    EXPECT_EQ(node, expected) << user;
  }
  EXPECT_GT(where["a"], 0);
  EXPECT_GT(where["b"], 0);
  EXPECT_EQ(a.node_infos.load(), 0);
  EXPECT_EQ(a.scores + b.scores, 0);
  EXPECT_EQ(node_status(h, "a")["kind_reason"], "declared \"kind\": \"openai\"");
  EXPECT_EQ(metric_value_of(h, "banyan_route_placements_total{policy=\"auto\",metric=\"hash\"}"), 16);
}

TEST(Router, UnknownModelIsA404ModelNotFoundAndListedIdsAreAccepted) {
  FakeNode a({.name = "a"});
  RouterHarness h({&a}, Policy::Hash);
  json body = chat_body("m1", 1, false);
  body["model"] = "gpt-9";
  auto r = h.client().Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  const json err = json::parse(r->body)["error"];
  EXPECT_EQ(err["code"], "model_not_found");
  EXPECT_EQ(err["param"], "model");
  EXPECT_EQ(a.chats.load(), 0);
  for (const char* ok : {"banyan", "a"}) {
    body["model"] = ok;
    auto r2 = h.client().Post("/v1/chat/completions", body.dump(), "application/json");
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->status, 200) << ok << r2->body;
  }
  body["model"] = 7;
  EXPECT_EQ(h.client().Post("/v1/chat/completions", body.dump(), "application/json")->status, 400);
}

}  // namespace
}  // namespace banyan::route
