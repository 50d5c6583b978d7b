// `banyan route`: the front-door router in front of `banyan serve` nodes (see src/route/router.h).
#include <csignal>
#include <pthread.h>
#include <thread>

#include "cli/command.h"
#include "core/error.h"
#include "eval/quality_protocol.h"
#include "route/router.h"

namespace banyan::cli {
namespace {

struct RouteArgs {
  route::RouterOptions o;
  std::string cluster, placement = "auto", fallback = "least-loaded";
  std::vector<std::string> node_urls;
  int session_ttl_s = 1800, score_timeout_ms = 3000, health_interval_ms = 400, health_timeout_ms = 800,
      upstream_timeout_s = 15;
  double max_node_share = 1;  // used when --max-node-share is given
  bool max_node_share_given = false;
};

// --node URL or --node NAME=URL; unnamed nodes are called node-<i> in the order given.
route::NodeAddress parse_node_arg(const std::string& arg, size_t index) {
  route::NodeAddress a;
  const auto eq = arg.find('=');
  if (eq != std::string::npos && !arg.starts_with("http")) {
    a.name = arg.substr(0, eq);
    a.url = arg.substr(eq + 1);
  } else {
    a.name = "node-" + std::to_string(index);
    a.url = arg;
  }
  while (a.url.size() > 1 && a.url.back() == '/') a.url.pop_back();
  route::parse_http_url(a.url);
  return a;
}

int run_route(RouteArgs a) {
  auto policy = route::parse_policy(a.placement);
  BANYAN_CHECK(policy, "unknown --placement '{}' (hash, least-loaded, probe, likelihood, auto)", a.placement);
  a.o.policy = *policy;
  auto fallback = route::parse_policy(a.fallback);
  BANYAN_CHECK(fallback == route::Policy::Hash || fallback == route::Policy::LeastLoaded,
               "--fallback-placement must be hash or least-loaded, not '{}'", a.fallback);
  a.o.fallback = *fallback;
  if (a.max_node_share_given) {
    BANYAN_CHECK(a.max_node_share > 0 && a.max_node_share <= 1, "--max-node-share must be in (0, 1], not {}",
                 a.max_node_share);
    a.o.placement.max_node_share = a.max_node_share;
  }
  BANYAN_CHECK(a.o.placement.max_load_factor > 0, "--max-load-factor must be > 0, not {}",
               a.o.placement.max_load_factor);
  BANYAN_CHECK(a.cluster.empty() != a.node_urls.empty(), "give exactly one of --cluster FILE or --node URL...");
  if (!a.cluster.empty()) {
    auto c = route::read_cluster_config(a.cluster);
    a.o.nodes = c.nodes;
    if (a.o.plan_path.empty()) a.o.plan_path = c.plan;
  } else {
    for (size_t i = 0; i < a.node_urls.size(); ++i) a.o.nodes.push_back(parse_node_arg(a.node_urls[i], i));
  }
  a.o.session_ttl = std::chrono::seconds(a.session_ttl_s);
  a.o.score_timeout = std::chrono::milliseconds(a.score_timeout_ms);
  a.o.health_interval = std::chrono::milliseconds(a.health_interval_ms);
  a.o.health_timeout = std::chrono::milliseconds(a.health_timeout_ms);
  a.o.upstream.read = std::chrono::seconds(a.upstream_timeout_s);

  std::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // every thread from here on leaves these to the signal thread

  route::RouterServer server(a.o);
  server.bind();
  std::thread signals([&server, set] {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != 0) server.stop();
  });
  signals.detach();
  server.run();
  return 0;
}

RegisterCommand reg{{"route", "front-door router: place sessions on nodes, pin, stream, fail over",
                     [](CLI::App& sub) {
                       auto a = std::make_shared<RouteArgs>();
                       sub.add_option("--port", a->o.port, "TCP port (0: any free port)")->default_val(8000);
                       sub.add_option("--host", a->o.host, "address to listen on")->default_val("127.0.0.1");
                       sub.add_option("--cluster", a->cluster,
                                      "cluster.json: {\"nodes\": [{name, url, kind?}], \"plan\"}; kind \"openai\": a "
                                      "backend without banyan's endpoints (llama-server)");
                       sub.add_option("--node", a->node_urls, "node URL (http://host:port) or NAME=URL; repeatable");
                       sub.add_option("--placement", a->placement, "hash | least-loaded | probe | likelihood | auto")
                           ->default_val("auto");
                       sub.add_option("--fallback-placement", a->fallback,
                                      "hash | least-loaded: used instead of a score-based policy while a plain "
                                      "OpenAI backend (no /v1/banyan/score, e.g. llama-server) is among the nodes")
                           ->default_val("least-loaded");
                       sub.add_option("--api-key", a->o.api_key, "require 'Authorization: Bearer KEY' from clients");
                       sub.add_option("--session-ttl", a->session_ttl_s, "forget a session after S idle seconds")
                           ->default_val(1800)->check(CLI::Range(1, 365 * 86400));
                       sub.add_option("--replace-margin", a->o.replace_margin,
                                      "re-place a session at a turn boundary when another node scores better by M "
                                      "(probe mass or mean log-prob; 0: never)")
                           ->default_val(0.0)->check(CLI::Range(0.0, 1e9));
                       sub.add_option("--score-timeout-ms", a->score_timeout_ms, "deadline for /v1/banyan/score")
                           ->default_val(3000)->check(CLI::Range(1, 600000));
                       sub.add_option("--tie-margin", a->o.placement.probe_tie,
                                      "probe-mass difference counted as a near-tie (then least loaded wins)")
                           ->default_val(quality::kAutoProbeMargin);
                       sub.add_option("--logprob-tie-margin", a->o.placement.logprob_tie,
                                      "mean log-prob difference counted as a near-tie (default: eval quality's "
                                      "auto margin)")
                           ->default_val(quality::kAutoNllMargin);
                       auto* share = sub.add_option(
                           "--max-node-share", a->max_node_share,
                           "score-based placement: once 4 x nodes live sessions are pinned, no node takes a new "
                           "session that would give it more than this share of them (the best scorer under it "
                           "does); 1 = off. Default: min(1, --max-load-factor / nodes)");
                       share->check(CLI::Range(0.0, 1.0));
                       sub.add_option("--max-load-factor", a->o.placement.max_load_factor,
                                      "score-based placement: default share cap = this x the fair share 1 / nodes "
                                      "(1.6: 40 % at 4 nodes, 80 % at 2, as eval quality); --max-node-share "
                                      "overrides it")
                           ->default_val(quality::kAutoMaxLoadFactor)->check(CLI::PositiveNumber);
                       sub.add_option("--auto-probe-below", a->o.placement.auto_probe_below,
                                      "auto: probe for prompts shorter than N tokens, likelihood otherwise")
                           ->default_val(quality::kAutoProbeBelowTokens);
                       sub.add_option("--health-interval-ms", a->health_interval_ms, "health-check period")
                           ->default_val(400)->check(CLI::Range(50, 60000));
                       sub.add_option("--health-timeout-ms", a->health_timeout_ms,
                                      "a node not answering /health within this is down (its streams end)")
                           ->default_val(800)->check(CLI::Range(50, 60000));
                       sub.add_option("--upstream-timeout", a->upstream_timeout_s,
                                      "seconds of silence from a streaming node before its stream is failed")
                           ->default_val(15)->check(CLI::Range(1, 3600));
                       sub.add_option("--plan", a->o.plan_path, "plan.json shown on the status page");
                       sub.add_option("--model-name", a->o.model_name, "the cluster's model id in /v1/models")
                           ->default_val("banyan");
                       sub.add_option("--threads", a->o.threads, "HTTP worker threads (open client connections)")
                           ->default_val(256)->check(CLI::Range(8, 100000));
                       return [a, share] {
                         a->max_node_share_given = share->count() > 0;
                         return run_route(*a);
                       };
                     }}};

}  // namespace
}  // namespace banyan::cli
