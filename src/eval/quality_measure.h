// The model runs behind a quality evaluation: per sequence one full-model forward (with a layer-0 router tap for
// the probe) and one forward per node restricted to that node's experts. Each forward covers the whole sequence
// (prompt + continuation), so one pass gives both the prompt NLL (likelihood placement) and the continuation NLL
// (scores and the oracle) for every placement policy. Items of several sequences and nodes are batched into one
// forward call; every sequence is freed right after its forward, so the KV cache never holds more than a batch.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "plan/corpus_walk.h"
#include "eval/placement.h"
#include "eval/token_nll.h"
#include "runtime/engine.h"

namespace banyan {

struct QualityMeasureOptions {
  int prompt_tokens = 64;
  int batch_items = 12;        // (sequence, node) forwards per engine call
  std::optional<int> top_k;    // overrides the config's top-k for the full model and every node
  int threads = 0;             // threads for scoring logits (≤ 0: hardware concurrency)
  // Called after every batch with (forwards done, forwards total).
  std::function<void(int64_t, int64_t)> progress;
};

struct QualityMeasurements {
  std::vector<SequenceNll> full;  // per sequence, the unrestricted model (at the top-k override if any)
  PlacementInputs restricted;     // per (sequence, node)
  int probe_layer = -1;           // decoder layer of the probe (the first MoE layer)
  int probe_top_k = 0;            // experts per token in the probe's unmasked top-k
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

}  // namespace banyan
