// Placement policies of banyan-quality-v1 on measured per-(sequence, node) numbers, and their scores.
//
// Inputs per sequence s and node n: prompt NLL and continuation NLL with the model restricted to node n, and the
// probe mass (the unmasked layer-0 router's top-k probability mass that falls on node n's layer-0 experts,
// averaged over the prompt tokens). Policies:
//   probe       argmax_n probe_mass[s][n]
//   likelihood  argmin_n prompt_nll[s][n]          ("prompt likelihood")
//   oracle      argmin_n continuation_nll[s][n]
//   auto        online, in arrival order (AutoPlacement::arrival_order: by default a seeded shuffle of the
//               sequences, as a router sees interleaved sessions; `file` = protocol order), as the router places
//               sessions: the metric is the probe
//               when the prompt is shorter than quality::kAutoProbeBelowTokens, else the prompt NLL without the
//               first quality::kAutoSkipPromptTokens targets (auto_nll; prompt_nll if absent); among the nodes
//               within the metric's margin of the best (AutoPlacement), the one that got the fewest sequences so
//               far wins (ties: the better metric, then the lowest index). Margin 0 = probe / likelihood.
//               Share cap F = AutoPlacement::node_share(nodes) (default min(1, kAutoMaxLoadFactor / nodes), see
//               share_cap.h; F = 1: off): once share_warmup_per_node x nodes sequences have
//               been placed, a node that would then hold more than F of the sequences placed so far is not
//               eligible; when the near-tie rule picks such a node, the best-metric eligible node takes the
//               sequence (none eligible, as when F < 1 / nodes: the least-loaded node, ties by metric).
//               The arrival order matters only through the loads: with F = 1 and margin 0 (no load-broken ties)
//               every sequence gets the same node in any order. choose_nodes returns the nodes in protocol order.
//   random      a uniformly random node: scored in expectation, not by sampling (see RandomScores)
// Ties go to the lowest node index, so results are deterministic.
// Perplexity of a placement = exp(mean over sequences of the continuation NLL on the chosen node).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace banyan {

// Row-major [sequences][nodes].
struct NodeMatrix {
  int64_t sequences = 0, nodes = 0;
  std::vector<double> values;

  NodeMatrix() = default;
  NodeMatrix(int64_t s, int64_t n) : sequences(s), nodes(n), values(size_t(s * n), 0.0) {}
  double& at(int64_t s, int64_t n) { return values[size_t(s * nodes + n)]; }
  double at(int64_t s, int64_t n) const { return values[size_t(s * nodes + n)]; }
};

struct PlacementInputs {
  NodeMatrix prompt_nll;        // restricted to each node, over t in [1, prompt_tokens)
  NodeMatrix continuation_nll;  // restricted to each node, over t in [prompt_tokens, n)
  NodeMatrix probe_mass;        // layer-0 unmasked top-k mass on the node's experts, mean over prompt tokens
  // The `auto` metric: prompt NLL over t in [1 + quality::kAutoSkipPromptTokens, prompt_tokens) (measure_quality
  // fills it). Empty (0 x 0): `auto` compares prompt_nll.
  NodeMatrix auto_nll;
  int prompt_tokens = 0;
  void validate() const;  // equal shapes (auto_nll may be empty), ≥ 1 sequence and node, finite values
};

enum class Policy { Random, Probe, Likelihood, Oracle, Auto };
std::optional<Policy> parse_policy(std::string_view name);
std::string_view policy_name(Policy p);
// Parses "random,probe,..." (order kept, duplicates removed); throws on an unknown name.
std::vector<Policy> parse_policy_list(std::string_view csv);

enum class ArrivalOrder { Shuffled, File };
std::optional<ArrivalOrder> parse_arrival_order(std::string_view name);
std::string_view arrival_order_name(ArrivalOrder o);
// The order in which `auto` places `sequences` sequences: File = 0, 1, ..., S-1; Shuffled = a Fisher-Yates shuffle
// driven by splitmix64(seed) (the same permutation on every platform and standard library). A permutation of
// [0, S).
std::vector<int64_t> arrival_permutation(int64_t sequences, ArrivalOrder order, uint64_t seed);

// Near-tie margins, share cap and arrival order of the `auto` policy (defaults: quality_protocol.h, where the
// choice is explained).
struct AutoPlacement {
  double nll_margin;    // nats per prompt token
  double probe_margin;  // probe mass
  // The node share cap: max_node_share when set (in (0, 1]; 1 = off), else min(1, max_load_factor / nodes).
  std::optional<double> max_node_share;
  double max_load_factor;      // > 0 (quality::kAutoMaxLoadFactor)
  int share_warmup_per_node;   // the cap applies from this many sequences per node on (kAutoShareWarmupPerNode)
  ArrivalOrder arrival_order = ArrivalOrder::Shuffled;
  uint64_t arrival_seed;       // quality::kArrivalSeed
  AutoPlacement();
  double node_share(int64_t nodes) const;  // the cap F in effect for this many nodes
};
// The node each sequence goes to (not for Random, which has no single choice).
std::vector<int> choose_nodes(Policy policy, const PlacementInputs& in, const AutoPlacement& auto_options = {});

// Random placement in expectation. The lab's "mean over nodes" admits two readings; both are computed:
//   ppl_mean_nll   = exp(mean_s mean_n continuation_nll[s][n])   (expected NLL of a random assignment)
//   ppl_mean_node  = mean_n exp(mean_s continuation_nll[s][n])   (mean of the nodes' ppl_if_all_sent_here)
struct RandomScores {
  double ppl_mean_nll = 0;
  double ppl_mean_node = 0;
};
RandomScores score_random(const NodeMatrix& continuation_nll);

struct PlacementScore {
  Policy policy = Policy::Oracle;
  double ppl = 0;
  double ppl_ratio = 0;          // ppl / full-model ppl
  double agree_with_oracle = 0;  // fraction of sequences placed on the oracle's node (random: 1/nodes expected)
  std::vector<double> node_load; // sequences per node (random: sequences/nodes each, in expectation)
  std::vector<int> choices;      // per sequence (empty for random)
};

enum class RandomDefinition { MeanNll, MeanNode };
std::string_view random_definition_name(RandomDefinition d);

PlacementScore score_placement(Policy policy, const PlacementInputs& in, double full_ppl,
                               RandomDefinition random_definition, const AutoPlacement& auto_options = {});

// exp(mean of the values): the protocol's perplexity of a list of per-sequence NLLs.
double perplexity(const std::vector<double>& nll);
// Per node: exp(mean_s continuation_nll[s][n]).
std::vector<double> ppl_if_all_sent_here(const NodeMatrix& continuation_nll);

}  // namespace banyan
