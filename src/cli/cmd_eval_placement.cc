// `banyan eval placement`: for a plan, the node each placement policy picks for every heldout sequence and the
// per-domain confusion against the oracle (eval/placement_report.h). Same runs as `eval quality`.
#include <fmt/format.h>

#include <fstream>
#include <memory>

#include "cli/eval_command.h"
#include "core/error.h"
#include "eval/placement_report.h"
#include "eval/quality_eval.h"
#include "eval/quality_protocol.h"

namespace banyan::cli {
namespace {

struct PlacementArgs {
  std::string model, plan, heldout, json_out, placements = "probe,likelihood,auto";
  int top_k = 0, threads = 0, batch = 12;
  int64_t per_domain = quality::kHeldoutPerDomain;
};

int run_placement(const PlacementArgs& a) {
  QualityEvalConfig c;
  c.model = a.model;
  c.heldout = a.heldout;
  c.plan_path = a.plan;
  c.placements = parse_policy_list(a.placements);
  if (a.top_k > 0) c.top_k = a.top_k;
  c.per_domain = a.per_domain;
  c.threads = a.threads;
  c.batch_items = a.batch;
  QualityEvalResult r = run_quality_eval(c);
  PlacementTable t = build_placement_table(r.sequences, r.measurements.restricted, c.placements);
  fmt::print("{}\n", format_placement_table(t));
  fmt::print("plan {}: full ppl {:.3f}", r.plan.id, r.report.full_ppl);
  for (const auto& p : r.report.placements) fmt::print(", {} {:.3f}", policy_name(p.policy), p.ppl);
  fmt::print("\n");
  if (!a.json_out.empty()) {
    nlohmann::json j = placement_table_to_json(t);
    j["plan_id"] = r.plan.id;
    j["full_ppl"] = r.report.full_ppl;
    nlohmann::json ppl = nlohmann::json::object();
    for (const auto& p : r.report.placements) ppl[std::string(policy_name(p.policy))] = p.ppl;
    j["ppl"] = ppl;
    std::ofstream f(a.json_out);
    BANYAN_CHECK(f, "cannot write {}", a.json_out);
    f << j.dump(1) << "\n";
    BANYAN_CHECK(f.good(), "error writing {}", a.json_out);
  }
  return 0;
}

RegisterEvalCommand reg{{"placement", "Which node each placement policy picks per heldout sequence, vs the oracle",
                         [](CLI::App& sub) {
                           auto a = std::make_shared<PlacementArgs>();
                           sub.add_option("--model", a->model, "Model directory (Hugging Face layout)")->required();
                           sub.add_option("--plan", a->plan, "plan.json from `banyan plan`")->required();
                           sub.add_option("--heldout", a->heldout, "Heldout corpus (.jsonl or .jsonl.xz)")->required();
                           sub.add_option("--placement", a->placements, "Comma-separated: probe,likelihood,auto");
                           sub.add_option("--top-k", a->top_k,
                                          "Override experts per token of the full model and every node (default: "
                                          "the config's for the full model, the plan's node_top_k for nodes)");
                           sub.add_option("--max-per-domain", a->per_domain, "Heldout sequences per domain");
                           sub.add_option("--batch", a->batch, "(sequence, node) forwards per engine call");
                           sub.add_option("--threads", a->threads, "Threads (default: all cores)");
                           sub.add_option("--json", a->json_out, "Write the per-sequence choices and confusion as JSON");
                           return [a] { return run_placement(*a); };
                         }}};

}  // namespace
}  // namespace banyan::cli
