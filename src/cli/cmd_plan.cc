// `banyan plan`: writes plan.json (banyan-plan/1) for a model, a node count and a scheme (see plan/planner.h).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "cli/command.h"
#include "core/error.h"
#include "format/safetensors.h"
#include "model/model_spec.h"
#include "plan/planner.h"
#include "plan/profiles.h"

namespace banyan::cli {
namespace {

struct PlanArgs {
  std::string model, scheme = "contiguous", profiles, out, criterion = "probs";
  int nodes = 2;
  int64_t experts_per_node = 0, replicate = 0, node_top_k = 0;
  uint64_t seed = 0;
  int restarts = 10, refine = 0, soft_sets_rounds = 3;
  double soft_sets_beta = 0;
  bool balance = false, set_search = false, refine_unbalanced = false;
};

int run_plan(const PlanArgs& a) {
  auto scheme = parse_scheme(a.scheme);
  BANYAN_CHECK(scheme, "unknown --scheme '{}' (contiguous, clustered, budget, auto)", a.scheme);
  auto criterion = parse_criterion(a.criterion);
  BANYAN_CHECK(criterion, "unknown --criterion '{}' (probs, counts, topk_mass, out_norm)", a.criterion);
  const PlanModel m = load_plan_model(std::filesystem::absolute(a.model));
  PlanOptions o;
  o.nodes = a.nodes;
  o.scheme = *scheme;
  o.experts_per_node = a.experts_per_node;
  o.replicate = a.replicate;
  o.seed = a.seed;
  o.restarts = a.restarts;
  o.criterion = *criterion;
  o.balance = a.balance;
  o.node_top_k = a.node_top_k;
  o.refine = a.refine;
  o.set_search = a.set_search;
  o.refine_unbalanced = a.refine_unbalanced;
  o.soft_sets_beta = a.soft_sets_beta;
  o.soft_sets_rounds = a.soft_sets_rounds;
  std::optional<Profiles> profiles;
  if (!a.profiles.empty()) profiles = read_profiles(a.profiles);
  Plan plan = make_plan(m, o, profiles ? &*profiles : nullptr, a.profiles);
  write_plan(a.out, plan);
  spdlog::info("plan {}: scheme {}, criterion {}, {} experts/layer per node, {} experts per token on each node "
               "(model: {})",
               plan.id, plan.scheme, plan.criterion, plan.experts_per_node, plan.effective_node_top_k(), plan.top_k);
  for (const auto& n : plan.nodes) {
    if (n.quality)
      spdlog::info("{}: {} experts/layer, cluster {} ({} docs), predicted {} {:.4f} on its docs, {:.4f} on all",
                   n.name, plan.experts_per_node, n.cluster, n.quality->documents, n.quality->metric,
                   n.quality->on_cluster, n.quality->on_all);
    else
      spdlog::info("{}: {} experts/layer", n.name, plan.experts_per_node);
  }
  fmt::print("{}\n", a.out);
  return 0;
}

RegisterCommand reg{{"plan", "Plan which routed experts each node holds (writes plan.json)", [](CLI::App& sub) {
                       auto a = std::make_shared<PlanArgs>();
                       sub.add_option("--model", a->model, "Model directory (Hugging Face layout)")->required();
                       sub.add_option("--nodes", a->nodes, "Number of nodes")->required();
                       sub.add_option("--scheme", a->scheme, "contiguous | clustered | budget | auto")->required();
                       sub.add_option("--experts-per-node", a->experts_per_node,
                                      "Experts per node and layer (budget scheme; replicas count within)");
                       sub.add_option("--replicate", a->replicate,
                                      "Hot experts per layer added to every node (needs --profiles)");
                       sub.add_option("--profiles", a->profiles, "Calibration profiles from `banyan calibrate`");
                       sub.add_option("--criterion", a->criterion,
                                      "Expert selection criterion: probs | counts | topk_mass | out_norm");
                       sub.add_flag("--balance", a->balance,
                                    "Balanced session clusters (each at most ceil(docs / nodes) documents)");
                       sub.add_option("--node-top-k", a->node_top_k,
                                      "Experts per token on every node (bundle num_experts_per_tok; default: the "
                                      "model's, or under --scheme auto min(local, round(1.5 k)))");
                       sub.add_option("--refine", a->refine,
                                      "Rounds of alternating cluster / expert-set refinement (captured mass)");
                       sub.add_flag("--set-search", a->set_search,
                                    "Swap search over the final expert sets for log coverage (plan/set_search.h)");
                       sub.add_option("--soft-sets", a->soft_sets_beta,
                                      "Sharpness beta of soft document responsibilities for the final sets (0: off; "
                                      "under --scheme auto 0 = auto's rule: 20 at 4+ nodes of at most half the "
                                      "experts, no replicas)");
                       sub.add_option("--soft-sets-rounds", a->soft_sets_rounds,
                                      "Rounds of soft responsibilities (default 3)");
                       sub.add_flag("--refine-unbalanced", a->refine_unbalanced,
                                    "Refine without the balance cap (clusters may still start balanced; no effect "
                                    "unless refinement runs on balanced clusters: --refine and --balance, or auto)");
                       sub.add_option("--seed", a->seed, "k-means seed");
                       sub.add_option("--restarts", a->restarts, "k-means restarts");
                       sub.add_option("--out", a->out, "Output plan.json")->required();
                       return [a] { return run_plan(*a); };
                     }}};

}  // namespace
}  // namespace banyan::cli
