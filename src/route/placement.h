// Placement policies: which node a new session goes to. Pure functions over the candidates' scores and loads, so
// every rule is unit-tested without a network.
//
//   hash          rendezvous hash of (session, node): stable, spreads sessions, survives nodes coming and going
//   least-loaded  fewest requests in flight (ties: hash)
//   probe         highest probe_mass (share of the unmasked router's top-k mass the node's experts capture)
//   likelihood    highest prompt_logprob (mean log-probability of the prompt under the node's own experts)
//   auto          probe for prompts shorter than `auto_probe_below` tokens, likelihood otherwise (DESIGN.md:
//                 likelihood agrees with the oracle far more often from ~32-64 tokens on; the probe wins on short
//                 prompts), the likelihood taken without the prompt's first tokens (prompt_logprob_tail, as eval
//                 quality's `auto`: quality::kAutoSkipPromptTokens; prompt_logprob from nodes that lack it)
// Score-based policies pick the least-loaded node among near-ties (within the metric's tie margin of the best).
// Node share cap (score-based policies): F = PlacementOptions::node_share(candidates) = max_node_share when set,
// else min(1, max_load_factor / candidates) (eval/share_cap.h, the rule eval quality's `auto` uses: by default no
// node above 1.6 x its fair share, 0.4 at 4 nodes, 0.8 at 2); F = 1: off. Once the candidates hold at least
// share_warmup_per_node x candidates live sessions, a node that would then hold more than F of the live sessions
// (Candidate::sessions, + this one) is skipped: when the near-tie rule picks it, the best-scoring node that stays
// under F takes the session (none does, as when F < 1 / nodes: the one with the fewest sessions, ties by score).
// Live sessions = the router's session table (pinned, not expired): what a router knows, and the work each node
// will get back; eval quality's cap counts the sequences placed so far, the same thing when no session ends.
// When no candidate has the preferred metric they use the other one (a node may not be able to probe), and when
// no candidate returned a score at all (plain OpenAI backends, timeouts) they fall back to least-loaded.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eval/quality_protocol.h"

namespace banyan::route {

enum class Policy { Hash, LeastLoaded, Probe, Likelihood, Auto };

std::optional<Policy> parse_policy(const std::string& name);
const char* policy_name(Policy p);

struct Candidate {
  std::string name;
  int64_t load = 0;  // requests active + queued (node-reported when scored, else the router's in-flight count)
                     // plus the live sessions pinned to the node
  bool scored = false;  // the node answered /v1/banyan/score (either metric may still be missing)
  std::optional<double> probe_mass;      // null when the node cannot probe (no full router)
  std::optional<double> prompt_logprob;
  std::optional<double> prompt_logprob_tail;  // the same without the prompt's first quality::kAutoSkipPromptTokens
  int64_t sessions = 0;  // live sessions pinned to the node (the share cap's count; also part of `load`)
  int64_t prompt_tokens = 0;
  std::string cannot_score;  // non-empty: the node has no /v1/banyan/score (it answered 404/405): why
};

struct PlacementOptions {
  // Defaults = eval quality's `auto` (src/eval/quality_protocol.h), chosen on corpus-train
  // (src/plan/QUALITY_EXPERIMENTS.md).
  double probe_tie = quality::kAutoProbeMargin;  // probe_mass within this of the best counts as a tie
  double logprob_tie = quality::kAutoNllMargin;  // mean prompt log-prob (nats/token) within this: a tie
  int64_t auto_probe_below = quality::kAutoProbeBelowTokens;
  // Share cap (score-based policies): max_node_share in (0, 1] when set (1 = off), else min(1, max_load_factor /
  // candidates); applies from share_warmup_per_node x candidates live sessions on.
  std::optional<double> max_node_share;
  double max_load_factor = quality::kAutoMaxLoadFactor;
  int64_t share_warmup_per_node = quality::kAutoShareWarmupPerNode;
  double node_share(size_t candidates) const;  // the cap F in effect among this many candidates
};

struct Decision {
  size_t index = 0;          // into the candidates
  std::string metric;        // "hash" | "load" | "probe_mass" | "prompt_logprob"
  bool tie_broken_by_load = false;
  bool moved_by_share_cap = false;  // the score's choice would have exceeded max_node_share
};

// Chooses among non-empty `candidates` for `session`. Deterministic.
Decision place(Policy policy, const std::string& session, const std::vector<Candidate>& candidates,
               const PlacementOptions& options = {});

// The metric a score-based policy compares for a prompt of `prompt_tokens` tokens (nullopt for hash/least-loaded).
std::optional<std::string> score_metric(Policy policy, int64_t prompt_tokens, const PlacementOptions& options);

// Value of `metric` ("probe_mass" | "prompt_logprob" | "prompt_logprob_tail", which falls back to prompt_logprob
// for nodes that do not report it) for a candidate; nullopt when it has none.
std::optional<double> metric_value(const Candidate& c, const std::string& metric);

uint64_t rendezvous_weight(const std::string& session, const std::string& node);

}  // namespace banyan::route
