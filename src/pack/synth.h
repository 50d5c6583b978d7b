// Synthetic checkpoints: random weights for any supported config, in the family's Hugging Face naming, written
// streaming (any size, constant memory). For pack's bounded-memory proof and for benchmarks.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "format/safetensors.h"
#include "model/model_spec.h"

namespace banyan {

// Every tensor a Hugging Face checkpoint of `spec` holds (per-expert layout), in model order. Each name is
// checked with classify_tensor, so synthesised checkpoints are what the rest of banyan expects.
std::vector<TensorSpec> synth_tensor_specs(const ModelSpec& spec, DType dtype);

struct SynthOptions {
  uint64_t seed = 0;
  DType dtype = DType::BF16;
  uint64_t max_shard_bytes = 4ull << 30;
};

struct SynthResult {
  uint64_t tensor_bytes = 0;
  uint64_t largest_tensor_bytes = 0;
  size_t num_tensors = 0;
  size_t shards = 0;
};

// Writes OUT/config.json (the given config, dtype field set to `dtype`) and the weights: norms are 1, every other
// tensor uniform with standard deviation 0.02, from a per-tensor stream seeded by (seed, tensor name).
SynthResult synth_checkpoint(const std::filesystem::path& config_path, const std::filesystem::path& out_dir,
                             const SynthOptions& options);

}  // namespace banyan
