// The result of `banyan eval quality`: scores of every placement policy against the full model, per node numbers,
// provenance and timing; as JSON (stable keys, see quality_report_to_json) and as a human table.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/domain_counts.h"
#include "plan/corpus_walk.h"
#include "eval/placement.h"
#include "eval/quality_measure.h"

namespace banyan {

struct QualityReport {
  // Provenance.
  std::string protocol;
  std::string model;
  std::string heldout;
  std::string plan_id;
  std::string scheme;
  int64_t nodes = 0;
  int64_t experts_per_node = 0;
  int64_t replicate = 0;
  int top_k = 0;        // experts per token of the full model (config or override)
  int node_top_k = 0;   // experts per token asked of every node (plan's node_top_k or override; min with local)
  int prompt_tokens = 0;
  int64_t per_domain = 0;
  std::string expert_dtype = "checkpoint";  // routed experts as evaluated: the checkpoint's, or re-encoded (fp8, bf16)

  int64_t num_sequences = 0;
  std::map<std::string, int64_t> domain_counts;
  double full_ppl = 0;
  std::map<std::string, double> full_ppl_by_domain;

  RandomScores random;                 // both readings of "random = mean over nodes"
  RandomDefinition random_definition;  // the one reported as placements.random.ppl
  std::vector<PlacementScore> placements;
  AutoPlacement auto_placement;        // margins the auto policy used
  int auto_skip_prompt_tokens = 0;     // prompt targets the auto policy's NLL left out
  std::string probe_definition;              // the one placements.probe uses
  std::map<std::string, PlacementScore> probe_variants;  // probe placement under every definition
  std::vector<double> ppl_if_all_sent_here;  // per node
  std::vector<double> captured_mass;         // per node: mean over sequences of the probe mass

  // Per sequence (for the JSON's "sequences" array).
  std::vector<std::string> seq_domain;
  std::vector<size_t> seq_line;
  std::vector<SequenceNll> seq_full;
  PlacementInputs restricted;
  std::map<std::string, NodeMatrix> seq_probe_variants;
  // Per-token prompt NLLs when the measurement kept them (QualityMeasurements), else empty.
  std::vector<std::vector<float>> seq_full_prompt_token_nll;
  std::vector<std::vector<float>> seq_prompt_token_nll;        // [sequence * nodes + node]
  std::vector<std::vector<float>> seq_continuation_token_nll;  // [sequence * nodes + node]

  std::map<std::string, double> timing;  // seconds
};

// Scores every policy in `policies` (oracle is always computed; it is what the others are compared to).
QualityReport build_quality_report(const std::vector<Document>& sequences, const QualityMeasurements& m,
                                   const std::vector<Policy>& policies, RandomDefinition random_definition,
                                   ProbeDefinition probe_definition = ProbeDefinition::LocalTopk,
                                   const AutoPlacement& auto_placement = {});

nlohmann::json quality_report_to_json(const QualityReport& r);
std::string format_quality_table(const QualityReport& r);

}  // namespace banyan
