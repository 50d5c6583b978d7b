#include "route/placement.h"

#include "core/error.h"
#include "eval/share_cap.h"

namespace banyan::route {

std::optional<Policy> parse_policy(const std::string& name) {
  if (name == "hash") return Policy::Hash;
  if (name == "least-loaded") return Policy::LeastLoaded;
  if (name == "probe") return Policy::Probe;
  if (name == "likelihood") return Policy::Likelihood;
  if (name == "auto") return Policy::Auto;
  return std::nullopt;
}

const char* policy_name(Policy p) {
  switch (p) {
    case Policy::Hash: return "hash";
    case Policy::LeastLoaded: return "least-loaded";
    case Policy::Probe: return "probe";
    case Policy::Likelihood: return "likelihood";
    case Policy::Auto: return "auto";
  }
  return "?";
}

double PlacementOptions::node_share(size_t candidates) const {
  BANYAN_CHECK(!max_node_share || (*max_node_share > 0 && *max_node_share <= 1),
               "route: max node share must be in (0, 1], got {}", max_node_share.value_or(0));
  BANYAN_CHECK(max_load_factor > 0, "route: max load factor must be > 0, got {}", max_load_factor);
  return node_share_cap(max_node_share, max_load_factor, int64_t(candidates));
}

uint64_t rendezvous_weight(const std::string& session, const std::string& node) {
  // FNV-1a over session \0 node, then a splitmix64 finaliser so similar names spread well.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ull;
  };
  for (unsigned char c : session) mix(c);
  mix(0);
  for (unsigned char c : node) mix(c);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

std::optional<std::string> score_metric(Policy policy, int64_t prompt_tokens, const PlacementOptions& o) {
  switch (policy) {
    case Policy::Probe: return "probe_mass";
    case Policy::Likelihood: return "prompt_logprob";
    case Policy::Auto: return prompt_tokens < o.auto_probe_below ? "probe_mass" : "prompt_logprob_tail";
    default: return std::nullopt;
  }
}

std::optional<double> metric_value(const Candidate& c, const std::string& metric) {
  if (!c.scored) return std::nullopt;
  if (metric == "probe_mass") return c.probe_mass;
  if (metric == "prompt_logprob_tail" && c.prompt_logprob_tail) return c.prompt_logprob_tail;
  return c.prompt_logprob;  // also for the tail from a node that does not report it
}

namespace {

// Among `indices`, the least loaded; equal loads go to the highest rendezvous weight (stable per session).
size_t least_loaded(const std::string& session, const std::vector<Candidate>& c, const std::vector<size_t>& indices) {
  size_t best = indices.front();
  for (size_t i : indices) {
    if (c[i].load < c[best].load ||
        (c[i].load == c[best].load && rendezvous_weight(session, c[i].name) > rendezvous_weight(session, c[best].name)))
      best = i;
  }
  return best;
}

std::vector<size_t> all_indices(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

Decision place(Policy policy, const std::string& session, const std::vector<Candidate>& candidates,
               const PlacementOptions& o) {
  BANYAN_CHECK(!candidates.empty(), "route: no candidate node to place session '{}' on", session);
  const std::vector<size_t> all = all_indices(candidates.size());
  if (policy == Policy::Hash) {
    size_t best = 0;
    for (size_t i : all)
      if (rendezvous_weight(session, candidates[i].name) > rendezvous_weight(session, candidates[best].name)) best = i;
    return {best, "hash", false};
  }
  if (policy == Policy::LeastLoaded) return {least_loaded(session, candidates, all), "load", false};

  int64_t prompt_tokens = 0;
  for (const auto& c : candidates)
    if (c.scored) prompt_tokens = std::max(prompt_tokens, c.prompt_tokens);
  std::string metric = *score_metric(policy, prompt_tokens, o);
  auto with_metric = [&](const std::string& m) {
    std::vector<size_t> v;
    for (size_t i : all)
      if (metric_value(candidates[i], m)) v.push_back(i);
    return v;
  };
  std::vector<size_t> scored = with_metric(metric);
  if (scored.empty()) {
    const char* likelihood = policy == Policy::Auto ? "prompt_logprob_tail" : "prompt_logprob";
    metric = metric == "probe_mass" ? likelihood : "probe_mass";
    scored = with_metric(metric);
  }
  if (scored.empty()) return {least_loaded(session, candidates, all), "load", false};
  const double tie = metric == "probe_mass" ? o.probe_tie : o.logprob_tie;
  double best = *metric_value(candidates[scored.front()], metric);
  for (size_t i : scored) best = std::max(best, *metric_value(candidates[i], metric));
  std::vector<size_t> near;
  for (size_t i : scored)
    if (*metric_value(candidates[i], metric) >= best - tie) near.push_back(i);
  // Least loaded among the near-ties; equal loads go to the better score (then the hash).
  size_t chosen = near.front();
  for (size_t i : near) {
    const auto& a = candidates[i];
    const auto& b = candidates[chosen];
    const double va = *metric_value(a, metric), vb = *metric_value(b, metric);
    if (a.load < b.load || (a.load == b.load && (va > vb || (va == vb && rendezvous_weight(session, a.name) >
                                                                            rendezvous_weight(session, b.name)))))
      chosen = i;
  }
  // The tie was decided by load when the strict best scorer is not the one chosen.
  bool by_load = false;
  if (near.size() > 1) by_load = *metric_value(candidates[chosen], metric) < best;
  // Share cap over the live sessions, after the warm-up.
  const double share = o.node_share(candidates.size());
  if (share < 1) {
    int64_t total = 0;
    for (const auto& c : candidates) total += c.sessions;
    auto over = [&](size_t i) { return double(candidates[i].sessions + 1) > share * double(total + 1); };
    if (total >= o.share_warmup_per_node * int64_t(candidates.size())) {
      const size_t capped = share_capped_choice(
          chosen, scored, over,
          [&](size_t a, size_t b) {
            return *metric_value(candidates[a], metric) > *metric_value(candidates[b], metric);
          },
          [&](size_t i) { return candidates[i].sessions; });
      if (capped != chosen) return {capped, metric, false, true};
    }
  }
  return {chosen, metric, by_load, false};
}

}  // namespace banyan::route
