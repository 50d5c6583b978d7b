// `banyan eval quality` as a library call: load the model, get the plan (a plan.json, or one made here from
// --nodes/--scheme with calibration profiles), select the heldout sequences (protocol step 1), run the full
// model and every node (quality_measure.h), score the placements (placement.h) and build the report.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "core/dtype.h"
#include "eval/domain_counts.h"
#include "plan/corpus_walk.h"
#include "eval/placement.h"
#include "eval/quality_measure.h"
#include "eval/quality_report.h"
#include "plan/plan_file.h"
#include "plan/planner.h"

namespace banyan {

struct QualityEvalConfig {
  std::filesystem::path model;
  std::filesystem::path heldout;
  // The plan: read from plan_path when set, else made with plan_options (profiles from `profiles`, or computed
  // from the `calib` corpus with the protocol's calibration walk when a scheme or replicas need them).
  std::filesystem::path plan_path;
  std::optional<PlanOptions> plan_options;
  std::filesystem::path profiles;
  std::filesystem::path calib;
  std::vector<Policy> placements = {Policy::Random, Policy::Probe, Policy::Likelihood, Policy::Oracle, Policy::Auto};
  // Experts per token: top_k overrides the full model and every node; without it the full model runs at the
  // config's k and the nodes at the plan's node_top_k (what their bundles would do).
  std::optional<int> top_k;
  int64_t per_domain = 40;
  int threads = 0;
  int batch_items = 12;
  RandomDefinition random_definition = RandomDefinition::MeanNll;
  AutoPlacement auto_placement;
  ProbeDefinition probe_definition = ProbeDefinition::LocalTopk;
  // The lab's replicas (QUALITY.md): node g = its contiguous range ∪ the hot experts, WITHOUT the planner's fill
  // to equal counts (which a bundle needs, a run-time restriction does not). Contiguous plans only.
  bool lab_replicas = false;
  bool progress = true;  // progress lines on stderr
  bool keep_prompt_token_nll = false;  // per-token prompt and continuation NLLs in the report (QualityMeasureOptions)
  std::optional<DType> expert_dtype;   // routed experts re-encoded at load (EngineOptions::expert_dtype), e.g. fp8
};

struct QualityEvalResult {
  Plan plan;
  std::vector<Document> sequences;
  QualityMeasurements measurements;
  QualityReport report;
};

QualityEvalResult run_quality_eval(const QualityEvalConfig& config);

// The per-node, per-MoE-layer expert lists of a plan, after checking the plan fits the model (family, layers,
// expert count, and source hash when both are known).
std::vector<std::vector<std::vector<int32_t>>> plan_node_experts(const Plan& plan, const ModelSpec& spec,
                                                                 const std::string& source_hash);

// Per node and MoE layer: the contiguous range of a contiguous plan plus the node's replicated experts (sorted).
std::vector<std::vector<std::vector<int32_t>>> lab_replica_experts(const Plan& plan);

}  // namespace banyan
