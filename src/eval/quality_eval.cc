#include "eval/quality_eval.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "eval/quality_protocol.h"
#include "format/safetensors.h"
#include "format/tokenizer/tokenizer.h"
#include "plan/calibrate.h"
#include "plan/progress.h"
#include "plan/profiles.h"

namespace banyan {

std::vector<std::vector<std::vector<int32_t>>> plan_node_experts(const Plan& plan, const ModelSpec& spec,
                                                                 const std::string& source_hash) {
  const std::vector<int> moe = spec.moe_layers();
  BANYAN_CHECK(plan.family.empty() || plan.family == family_name(spec.family),
               "plan {} is for a {} model, this model is {}", plan.id, plan.family, family_name(spec.family));
  BANYAN_CHECK(plan.num_experts == spec.num_experts, "plan {} has {} experts per layer, the model {}", plan.id,
               plan.num_experts, spec.num_experts);
  BANYAN_CHECK(plan.moe_layers == moe, "plan {} lists {} MoE layers that differ from the model's {}", plan.id,
               plan.moe_layers.size(), moe.size());
  BANYAN_CHECK(plan.source_sha256.empty() || source_hash.empty() || plan.source_sha256 == source_hash,
               "plan {} was made for checkpoint {} but this model's checkpoint is {}", plan.id, plan.source_sha256,
               source_hash);
  BANYAN_CHECK(!plan.nodes.empty(), "plan {} has no nodes", plan.id);
  std::vector<std::vector<std::vector<int32_t>>> out;
  for (const auto& node : plan.nodes) {
    BANYAN_CHECK(node.experts.size() == moe.size(), "plan {} node {}: {} expert lists for {} MoE layers", plan.id,
                 node.index, node.experts.size(), moe.size());
    std::vector<std::vector<int32_t>> lists;
    for (const auto& l : node.experts) lists.emplace_back(l.begin(), l.end());
    out.push_back(std::move(lists));
  }
  return out;
}

std::vector<std::vector<std::vector<int32_t>>> lab_replica_experts(const Plan& plan) {
  BANYAN_CHECK(plan.scheme == "contiguous", "lab replicas need a contiguous plan, plan {} is {}", plan.id,
               plan.scheme);
  const int64_t N = int64_t(plan.nodes.size()), E = plan.num_experts;
  BANYAN_CHECK(N >= 1 && E % N == 0, "plan {}: {} experts do not split into {} contiguous ranges", plan.id, E, N);
  std::vector<std::vector<std::vector<int32_t>>> out;
  for (int64_t g = 0; g < N; ++g) {
    const auto& node = plan.nodes[size_t(g)];
    std::vector<std::vector<int32_t>> layers;
    for (size_t l = 0; l < plan.moe_layers.size(); ++l) {
      std::vector<int32_t> set;
      for (int64_t e = g * E / N; e < (g + 1) * E / N; ++e) set.push_back(int32_t(e));
      if (l < node.replicated.size())
        for (int e : node.replicated[l])
          if (std::find(set.begin(), set.end(), e) == set.end()) set.push_back(e);
      std::sort(set.begin(), set.end());
      layers.push_back(std::move(set));
    }
    out.push_back(std::move(layers));
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

bool plan_needs_profiles(const PlanOptions& o) { return o.scheme != Scheme::Contiguous || o.replicate > 0; }

Plan obtain_plan(const QualityEvalConfig& c, const ModelSpec& spec, const Checkpoint& ckpt, Engine& engine,
                 const Tokenizer& tokenizer, std::map<std::string, double>& timing) {
  if (!c.plan_path.empty()) {
    BANYAN_CHECK(!c.plan_options, "give either a plan file or plan options (--nodes/--scheme), not both");
    return read_plan(c.plan_path);
  }
  BANYAN_CHECK(c.plan_options, "no plan: give --plan or --nodes and --scheme");
  PlanModel m;
  m.source_path = std::filesystem::absolute(c.model).string();
  m.source_sha256 = ckpt.source_hash();
  m.family = std::string(family_name(spec.family));
  m.num_layers = spec.num_layers;
  m.moe_layers = spec.moe_layers();
  m.num_experts = spec.num_experts;
  m.top_k = spec.top_k;
  std::optional<Profiles> profiles;
  std::string profiles_label;
  if (!c.profiles.empty()) {
    profiles = read_profiles(c.profiles);
    profiles_label = c.profiles.string();
  } else if (plan_needs_profiles(*c.plan_options)) {
    BANYAN_CHECK(!c.calib.empty(), "scheme {} with {} replicas needs calibration: give --profiles or --calib",
                 scheme_name(c.plan_options->scheme), c.plan_options->replicate);
    const auto t0 = Clock::now();
    // Protocol step 4: the same walk over the calibration corpus, 50 documents per domain.
    const std::vector<Document> docs = select_documents(c.calib, tokenizer, quality::kCalibrationPerDomain,
                                                        quality::kSequenceTokens);
    BANYAN_CHECK(!docs.empty(), "{}: no document gives {} tokens", c.calib.string(), quality::kSequenceTokens);
    CalibrateOptions co;
    co.batch = c.batch_items;
    co.output_norms = false;  // plans made here select by router probability; norms cost time
    std::unique_ptr<Progress> progress;
    if (c.progress) progress = std::make_unique<Progress>("calibrate", docs.size(), "docs");
    profiles = calibrate_documents(engine, docs, co, [&](int64_t done) {
      if (progress) progress->update(uint64_t(done));
    });
    if (progress) progress->finish();
    profiles->source_hash = ckpt.source_hash();
    profiles->model_path = m.source_path;
    profiles->corpus = std::filesystem::absolute(c.calib).string();
    profiles->per_domain = quality::kCalibrationPerDomain;
    profiles->seq_tokens = quality::kSequenceTokens;
    profiles_label = c.calib.string() + " (calibrated in-process)";
    timing["calibration_s"] = seconds_since(t0);
  }
  return make_plan(m, *c.plan_options, profiles ? &*profiles : nullptr, profiles_label);
}

}  // namespace

QualityEvalResult run_quality_eval(const QualityEvalConfig& c) {
  const auto t_start = Clock::now();
  std::map<std::string, double> timing;
  auto t0 = Clock::now();
  EngineOptions eo;
  eo.threads = c.threads;
  eo.expert_dtype = c.expert_dtype;
  // A batch of items of kSequenceTokens each is the most the cache ever holds; leave room for calibration too.
  std::unique_ptr<Engine> engine = Engine::load(c.model, eo);
  const ModelSpec& spec = engine->spec();
  Checkpoint ckpt(c.model);
  const Tokenizer tokenizer = Tokenizer::load(c.model);
  timing["load_s"] = seconds_since(t0);

  QualityEvalResult r;
  r.plan = obtain_plan(c, spec, ckpt, *engine, tokenizer, timing);
  auto node_experts = plan_node_experts(r.plan, spec, ckpt.source_hash());
  if (c.lab_replicas) node_experts = lab_replica_experts(r.plan);

  t0 = Clock::now();
  r.sequences = select_documents(c.heldout, tokenizer, c.per_domain, quality::kSequenceTokens);
  BANYAN_CHECK(!r.sequences.empty(), "{}: no document gives {} tokens", c.heldout.string(), quality::kSequenceTokens);
  timing["select_s"] = seconds_since(t0);
  {
    std::string counts;
    for (const auto& [d, n] : count_by_domain(r.sequences)) counts += fmt::format(" {} {}", d, n);
    spdlog::info("{} sequences of {} tokens from {}:{}", r.sequences.size(), quality::kSequenceTokens, c.heldout.string(), counts);
  }

  QualityMeasureOptions mo;
  mo.prompt_tokens = quality::kPromptTokens;
  mo.batch_items = c.batch_items;
  mo.top_k = c.top_k;
  if (!c.top_k && r.plan.node_top_k > 0 && r.plan.node_top_k != spec.top_k) mo.node_top_k = int(r.plan.node_top_k);
  mo.probe = c.probe_definition;
  mo.threads = c.threads;
  mo.keep_prompt_token_nll = c.keep_prompt_token_nll;
  std::unique_ptr<Progress> progress;
  if (c.progress) {
    progress = std::make_unique<Progress>("eval quality", uint64_t(r.sequences.size() * (node_experts.size() + 1)),
                                          "forwards");
    mo.progress = [&](int64_t done, int64_t) { progress->update(uint64_t(done)); };
  }
  t0 = Clock::now();
  r.measurements = measure_quality(*engine, r.sequences, node_experts, mo);
  if (progress) progress->finish();
  timing["measure_s"] = seconds_since(t0);

  r.report = build_quality_report(r.sequences, r.measurements, c.placements, c.random_definition,
                                  c.probe_definition, c.auto_placement);
  r.report.protocol = std::string(quality::kProtocolName);
  r.report.model = c.model.string();
  r.report.heldout = c.heldout.string();
  r.report.plan_id = r.plan.id;
  r.report.scheme = r.plan.scheme;
  r.report.experts_per_node = r.plan.experts_per_node;
  r.report.replicate = r.plan.replicate;
  r.report.node_top_k = r.measurements.node_top_k;
  r.report.per_domain = c.per_domain;
  r.report.expert_dtype = c.expert_dtype ? std::string(*c.expert_dtype == DType::F8_E4M3 ? "fp8" : "bf16") : "checkpoint";
  for (const auto& [k, v] : timing) r.report.timing[k] = v;
  r.report.timing["threads"] = double(c.threads > 0 ? c.threads : int(std::thread::hardware_concurrency()));
  r.report.timing["total_s"] = seconds_since(t_start);
  return r;
}

}  // namespace banyan
