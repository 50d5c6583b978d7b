// `banyan pack`: writes one bundle per node of a plan (see pack/bundle_writer.h).
#include <fmt/format.h>

#include "cli/command.h"
#include "core/error.h"
#include "pack/bundle_writer.h"
#include "pack/gguf/gguf_export.h"
#include "pack/gguf/gguf_pack.h"
#include "plan/plan_file.h"

namespace banyan::cli {
namespace {

struct PackArgs {
  std::string model, plan, out;
  uint64_t max_shard_bytes = 4ull << 30;
  std::vector<int> nodes;
  std::string format = "bundle", gguf_type = "f16";
};

int run_pack(const PackArgs& a) {
  Plan plan = read_plan(a.plan);
  PackOptions o;
  o.max_shard_bytes = a.max_shard_bytes;
  o.nodes = a.nodes;
  BANYAN_CHECK(a.format == "bundle" || a.format == "gguf" || a.format == "both",
               "pack: --format must be bundle, gguf or both, got '{}'", a.format);
  if (a.format != "bundle") {
    gguf::GgufPackOptions g{gguf::parse_export_type(a.gguf_type), a.format == "both"};
    for (const auto& n : gguf::pack_gguf(a.model, plan, a.out, o, g))
      fmt::print("{}\t{} experts/layer\t{} bytes\t{}\n", n.gguf.string(), n.bundle.local_experts, n.gguf_bytes,
                 a.format == "both" ? n.bundle.dir.string() : "(bundle removed)");
    return 0;
  }
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
                       sub.add_option("--format", a->format,
                                      "bundle (default) | gguf (OUT/node-i.gguf for llama.cpp) | both");
                       sub.add_option("--gguf-type", a->gguf_type,
                                      "GGUF weight type: f16 (default) | bf16 | f32 | q8_0");
                       return [a] { return run_pack(*a); };
                     }}};

}  // namespace
}  // namespace banyan::cli
