// The model runs behind a quality evaluation: per sequence one full-model forward (with a layer-0 router tap for
// the probe) and one forward per node restricted to that node's experts. Each forward covers the whole sequence
// (prompt + continuation), so one pass gives both the prompt NLL (likelihood placement) and the continuation NLL
// (scores and the oracle) for every placement policy. Items of several sequences and nodes are batched into one
// forward call; every sequence is freed right after its forward, so the KV cache never holds more than a batch.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "plan/corpus_walk.h"
#include "eval/placement.h"
#include "eval/quality_protocol.h"
#include "eval/token_nll.h"
#include "runtime/engine.h"

namespace banyan {

// How the probe scores a node from the unmasked layer-0 router over the prompt tokens (per token, then averaged):
//   LocalTopk   Σ of the k largest probabilities among the node's experts (k = min(top-k, node's count)): the
//               top-k mass the node would route to if its experts kept their unmasked probabilities. Default:
//               the only one that reproduces the lab's probe column (2 contiguous nodes: 23.366 vs 23.37;
//               topk_mass gives 21.06, topk_share 20.74, router_mass 25.22).
//   TopkMass    Σ over the full model's top-k experts that the node holds of their probability
//   TopkShare   TopkMass / the full top-k mass of that token
//   RouterMass  Σ over all the node's experts of their probability
enum class ProbeDefinition { TopkMass, TopkShare, LocalTopk, RouterMass };
inline constexpr ProbeDefinition kAllProbeDefinitions[] = {ProbeDefinition::TopkMass, ProbeDefinition::TopkShare,
                                                          ProbeDefinition::LocalTopk, ProbeDefinition::RouterMass};
std::string_view probe_definition_name(ProbeDefinition d);
std::optional<ProbeDefinition> parse_probe_definition(std::string_view name);

struct QualityMeasureOptions {
  ProbeDefinition probe = ProbeDefinition::LocalTopk;
  int prompt_tokens = 64;
  int auto_skip_prompt_tokens = quality::kAutoSkipPromptTokens;  // restricted.auto_nll leaves these targets out
  int batch_items = 12;        // (sequence, node) forwards per engine call
  std::optional<int> top_k;       // overrides the config's top-k for the full model (and nodes, unless node_top_k)
  std::optional<int> node_top_k;  // overrides the top-k of every node (a plan's node_top_k)
  int threads = 0;             // threads for scoring logits (≤ 0: hardware concurrency)
  // Keep every prompt token's NLL (targets t = 1..prompt_tokens-1) of the full model and every node, and every
  // continuation token's NLL of every node, so placement rules that weigh prompt tokens differently (and how well
  // even a known continuation predicts the best node) can be studied offline without re-running the model.
  bool keep_prompt_token_nll = false;
  // Called after every batch with (forwards done, forwards total).
  std::function<void(int64_t, int64_t)> progress;
};

struct QualityMeasurements {
  std::vector<SequenceNll> full;  // per sequence, the unrestricted model (at the top-k override if any)
  PlacementInputs restricted;     // per (sequence, node)
  // Every probe definition's [sequence][node] scores, in kAllProbeDefinitions order (restricted.probe_mass is
  // the selected one), so a report can show how the choice of definition matters.
  std::vector<NodeMatrix> probe_variants;
  // With keep_prompt_token_nll: [sequence] the full model's and [sequence * nodes + node] each node's
  // per-token prompt NLL (prompt_tokens - 1 values each); empty otherwise.
  std::vector<std::vector<float>> full_prompt_token_nll;
  std::vector<std::vector<float>> prompt_token_nll;
  // With keep_prompt_token_nll: [sequence * nodes + node] each node's per-token continuation NLL (targets
  // t = prompt_tokens..n-1); empty otherwise.
  std::vector<std::vector<float>> continuation_token_nll;
  int auto_skip_prompt_tokens = 0;  // prompt targets restricted.auto_nll leaves out
  int probe_layer = -1;           // decoder layer of the probe (the first MoE layer)
  int probe_top_k = 0;            // experts per token in the probe's unmasked top-k
  int node_top_k = 0;             // experts per token the node runs were asked for (before min with local count)
  double forward_seconds = 0;     // inside Engine::forward
  double scoring_seconds = 0;     // log-softmax of the logits
  int64_t forwards = 0;
  int64_t tokens = 0;             // tokens run through the engine
};

// `node_experts[n][m]`: global expert ids node n holds in MoE layer m (MoE layers in model order).
QualityMeasurements measure_quality(Engine& engine, std::span<const Document> sequences,
                                    const std::vector<std::vector<std::vector<int32_t>>>& node_experts,
                                    const QualityMeasureOptions& options);

// Probe mass of one token: the sum of the unmasked probabilities of the chosen (top-k) experts that are in the
// node's set. `probs` [E], `ids` [k], `in_node` [E] (nonzero = held).
double captured_topk_mass(std::span<const float> probs, std::span<const int32_t> ids,
                          std::span<const uint8_t> in_node);

// One prompt token's score of a node under every probe definition (kAllProbeDefinitions order). `local_count` =
// the node's expert count in that layer; `scratch` is reused between calls.
std::array<double, 4> probe_token_scores(std::span<const float> probs, std::span<const int32_t> ids,
                                         std::span<const uint8_t> in_node, int local_count,
                                         std::vector<float>& scratch);

}  // namespace banyan
