// `banyan pack`: writes one bundle per node of a plan (see pack/bundle_writer.h).
#include <fmt/format.h>

#include "cli/command.h"
#include "pack/bundle_writer.h"
#include "plan/plan_file.h"

namespace banyan::cli {
namespace {

struct PackArgs {
  std::string model, plan, out;
  uint64_t max_shard_bytes = 4ull << 30;
  std::vector<int> nodes;
};

int run_pack(const PackArgs& a) {
  Plan plan = read_plan(a.plan);
  PackOptions o;
  o.max_shard_bytes = a.max_shard_bytes;
  o.nodes = a.nodes;
  for (const auto& n : pack_bundles(a.model, plan, a.out, o))
    fmt::print("{}\t{} experts/layer\t{} bytes\t{} shard(s)\n", n.dir.string(), n.local_experts, n.tensor_bytes,
               n.shards);
  return 0;
}

RegisterCommand reg{{"pack", "Write per-node bundles (smaller valid checkpoints) for a plan", [](CLI::App& sub) {
                       auto a = std::make_shared<PackArgs>();
                       sub.add_option("--model", a->model, "Source model directory")->required();
                       sub.add_option("--plan", a->plan, "plan.json from `banyan plan`")->required();
                       sub.add_option("--out", a->out, "Output directory (gets node-0 ... node-N-1)")->required();
                       sub.add_option("--max-shard-bytes", a->max_shard_bytes,
                                      "Largest safetensors shard of a bundle (default 4 GiB)");
                       sub.add_option("--node", a->nodes, "Only these node indices (repeatable)");
                       return [a] { return run_pack(*a); };
                     }}};

}  // namespace
}  // namespace banyan::cli
