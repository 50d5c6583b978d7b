// `banyan synth`: a checkpoint of random weights for any supported config (see pack/synth.h).
#include <fmt/format.h>

#include "cli/command.h"
#include "core/error.h"
#include "pack/synth.h"

namespace banyan::cli {
namespace {

struct SynthArgs {
  std::string config, out, dtype = "bf16";
  uint64_t seed = 0;
  uint64_t max_shard_bytes = 4ull << 30;
};

int run_synth(const SynthArgs& a) {
  SynthOptions o;
  o.seed = a.seed;
  o.max_shard_bytes = a.max_shard_bytes;
  if (a.dtype == "bf16")
    o.dtype = DType::BF16;
  else if (a.dtype == "f16")
    o.dtype = DType::F16;
  else if (a.dtype == "f32")
    o.dtype = DType::F32;
  else
    fail("unknown --dtype '{}' (bf16, f16, f32)", a.dtype);
  SynthResult r = synth_checkpoint(a.config, a.out, o);
  fmt::print("{}\t{} tensors\t{} bytes\tlargest tensor {} bytes\t{} shard(s)\n", a.out, r.num_tensors,
             r.tensor_bytes, r.largest_tensor_bytes, r.shards);
  return 0;
}

RegisterCommand reg{{"synth", "Write a checkpoint of random weights for a config.json", [](CLI::App& sub) {
                       auto a = std::make_shared<SynthArgs>();
                       sub.add_option("--config", a->config, "A Hugging Face config.json")->required();
                       sub.add_option("--out", a->out, "Output model directory")->required();
                       sub.add_option("--seed", a->seed, "Random seed");
                       sub.add_option("--dtype", a->dtype, "bf16 | f16 | f32");
                       sub.add_option("--max-shard-bytes", a->max_shard_bytes, "Largest shard (default 4 GiB)");
                       return [a] { return run_synth(*a); };
                     }}};

}  // namespace
}  // namespace banyan::cli
