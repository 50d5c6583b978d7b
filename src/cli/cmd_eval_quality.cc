// `banyan eval quality`: protocol banyan-quality-v1 (../shared/eval/QUALITY.md) for one plan — full-model
// perplexity, every placement policy's perplexity, agreement with the oracle and load per node. See
// eval/quality_eval.h for what runs.
#include <fmt/format.h>

#include <fstream>
#include <memory>

#include "cli/eval_command.h"
#include "core/error.h"
#include "eval/quality_eval.h"
#include "eval/quality_protocol.h"
#include "runtime/engine.h"

namespace banyan::cli {
namespace {

struct QualityArgs {
  std::string model, plan, heldout, profiles, calib, scheme, json_out, random = "exp_mean_nll", probe = "local_topk";
  std::string placements = "random,probe,likelihood,oracle,auto";
  int nodes = 0, top_k = 0, threads = 0, batch = 12;
  int64_t experts_per_node = 0, replicate = 0, per_domain = quality::kHeldoutPerDomain;
  uint64_t seed = 0;
  bool lab_replicas = false;
  bool prompt_token_nll = false;
  std::string expert_dtype;
  std::string arrival_order = "shuffled";
  double max_node_share = 1;  // used when --max-node-share is given (max_node_share_given)
  bool max_node_share_given = false;
  AutoPlacement auto_placement;
};

RandomDefinition parse_random_definition(const std::string& s) {
  if (s == "exp_mean_nll") return RandomDefinition::MeanNll;
  if (s == "mean_node_ppl") return RandomDefinition::MeanNode;
  fail("unknown --random '{}' (exp_mean_nll, mean_node_ppl)", s);
}

int run_quality(const QualityArgs& a) {
  QualityEvalConfig c;
  c.model = a.model;
  c.heldout = a.heldout;
  c.plan_path = a.plan;
  BANYAN_CHECK(a.plan.empty() != (a.nodes == 0), "give either --plan or --nodes with --scheme");
  if (a.nodes > 0) {
    BANYAN_CHECK(!a.scheme.empty(), "--nodes needs --scheme (contiguous, clustered, budget)");
    auto scheme = parse_scheme(a.scheme);
    BANYAN_CHECK(scheme, "unknown --scheme '{}' (contiguous, clustered, budget, auto)", a.scheme);
    PlanOptions o;
    o.nodes = a.nodes;
    o.scheme = *scheme;
    o.experts_per_node = a.experts_per_node;
    o.replicate = a.replicate;
    o.seed = a.seed;
    c.plan_options = o;
  }
  BANYAN_CHECK(a.profiles.empty() || a.calib.empty(), "give --profiles or --calib, not both");
  c.profiles = a.profiles;
  c.calib = a.calib;
  c.placements = parse_policy_list(a.placements);
  if (a.top_k > 0) c.top_k = a.top_k;
  c.per_domain = a.per_domain;
  c.threads = a.threads;
  c.batch_items = a.batch;
  c.random_definition = parse_random_definition(a.random);
  c.lab_replicas = a.lab_replicas;
  c.keep_prompt_token_nll = a.prompt_token_nll;
  c.expert_dtype = parse_expert_dtype(a.expert_dtype);
  c.auto_placement = a.auto_placement;
  if (a.max_node_share_given) c.auto_placement.max_node_share = a.max_node_share;
  auto order = parse_arrival_order(a.arrival_order);
  BANYAN_CHECK(order, "unknown --arrival-order '{}' (shuffled, file)", a.arrival_order);
  c.auto_placement.arrival_order = *order;
  auto probe = parse_probe_definition(a.probe);
  BANYAN_CHECK(probe, "unknown --probe '{}' (topk_mass, topk_share, local_topk, router_mass)", a.probe);
  c.probe_definition = *probe;
  QualityEvalResult r = run_quality_eval(c);
  fmt::print("{}", format_quality_table(r.report));
  fmt::print("\ntime {:.1f} s (forward {:.1f} s, {:.0f} tokens/s)\n", r.report.timing["total_s"],
             r.report.timing["forward_s"], r.report.timing["tokens_per_s"]);
  if (!a.json_out.empty()) {
    std::ofstream f(a.json_out);
    BANYAN_CHECK(f, "cannot write {}", a.json_out);
    f << quality_report_to_json(r.report).dump(1) << "\n";
    BANYAN_CHECK(f.good(), "error writing {}", a.json_out);
  }
  return 0;
}

RegisterEvalCommand reg{{"quality", "Perplexity cost of a plan and its placements (protocol banyan-quality-v1)",
                         [](CLI::App& sub) {
                           auto a = std::make_shared<QualityArgs>();
                           sub.add_option("--model", a->model, "Model directory (Hugging Face layout)")->required();
                           sub.add_option("--plan", a->plan, "plan.json from `banyan plan`");
                           sub.add_option("--nodes", a->nodes, "Make a plan for this many nodes (instead of --plan)");
                           sub.add_option("--scheme", a->scheme, "contiguous | clustered | budget (with --nodes)");
                           sub.add_option("--experts-per-node", a->experts_per_node, "Experts per node (budget)");
                           sub.add_option("--replicate", a->replicate, "Hot experts per layer added to every node");
                           sub.add_option("--seed", a->seed, "k-means seed (clustered/budget)");
                           sub.add_option("--heldout", a->heldout, "Heldout corpus (.jsonl or .jsonl.xz)")->required();
                           sub.add_option("--profiles", a->profiles, "Calibration profiles (`banyan calibrate`)");
                           sub.add_option("--calib", a->calib, "Calibration corpus: calibrate here (50 per domain)");
                           sub.add_option("--placement", a->placements,
                                          "Comma-separated: random,probe,likelihood,oracle,auto");
                           sub.add_option("--top-k", a->top_k,
                                          "Override experts per token of the full model and every node (default: "
                                          "the config's for the full model, the plan's node_top_k for nodes)");
                           sub.add_option("--auto-margin", a->auto_placement.nll_margin,
                                          "auto placement: prompt-NLL near-tie margin, nats/token (least loaded "
                                          "near-tie wins; 0 = pure likelihood)");
                           auto* share = sub.add_option(
                               "--max-node-share", a->max_node_share,
                               "auto placement: once 4 x nodes sequences are placed, no node takes a sequence that "
                               "would give it more than this share of those placed so far (the best-NLL node under "
                               "it does); 1 = off. Default: min(1, --max-load-factor / nodes)");
                           share->check(CLI::Range(0.0, 1.0));
                           sub.add_option("--max-load-factor", a->auto_placement.max_load_factor,
                                          "auto placement: default share cap = this x the fair share 1 / nodes "
                                          "(1.6: 40 % at 4 nodes, 80 % at 2); --max-node-share overrides it")
                               ->default_val(quality::kAutoMaxLoadFactor)
                               ->check(CLI::PositiveNumber);
                           sub.add_option("--arrival-order", a->arrival_order,
                                          "auto placement: order the sequences arrive in: shuffled (default, seeded; "
                                          "as a router sees interleaved sessions) | file (protocol order, domains "
                                          "grouped); results stay in protocol order")
                               ->check(CLI::IsMember({"shuffled", "file"}));
                           sub.add_option("--arrival-seed", a->auto_placement.arrival_seed,
                                          "auto placement: seed of the shuffled arrival order")
                               ->default_val(quality::kArrivalSeed);
                           sub.add_option("--max-per-domain", a->per_domain, "Heldout sequences per domain");
                           sub.add_option("--random", a->random,
                                          "Random placement: exp_mean_nll (default) | mean_node_ppl");
                           sub.add_option("--probe", a->probe,
                                          "Probe score: local_topk (default, reproduces the lab) | topk_mass | topk_share | router_mass");
                           sub.add_flag("--lab-replicas", a->lab_replicas,
                                        "Contiguous + replicas as QUALITY.md: range ∪ hot experts, no fill");
                           sub.add_flag("--prompt-token-nll", a->prompt_token_nll,
                                        "JSON: every token's NLL per sequence and node (placement study)");
                           sub.add_option("--batch", a->batch, "(sequence, node) forwards per engine call");
                           sub.add_option("--threads", a->threads, "Threads (default: all cores)");
                           sub.add_option("--expert-dtype", a->expert_dtype,
                                          "Routed experts re-encoded at load: bf16 or fp8 (e4m3 + fp32 row scales, "
                                          "the values the CUDA fp8 kernels compute with); default: the checkpoint's")
                               ->check(CLI::IsMember({"bf16", "fp8"}));
                           sub.add_option("--json", a->json_out, "Write the full report as JSON");
                           return [a, share] {
                             a->max_node_share_given = share->count() > 0;
                             return run_quality(*a);
                           };
                         }}};

}  // namespace
}  // namespace banyan::cli
