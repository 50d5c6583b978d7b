// `banyan bench --device cuda[:i] (--dummy-weights --config CONFIG.json | --model DIR)`: decode and prefill speed
// of the CUDA engine against the memory-bandwidth roofline measured in the same run. Prints nothing; returns JSON.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/dtype.h"

namespace banyan {

struct CudaBenchOptions {
  std::string device = "cuda";
  std::filesystem::path config;         // --dummy-weights: a config.json (random weights on the device)
  std::filesystem::path model;          // otherwise: a model directory
  std::optional<int64_t> experts_per_node;  // dummy only: one node's share of the experts
  int context = 64;                     // tokens in each sequence before decode is timed
  int decode_steps = 64;                // timed decode steps per batch size
  int batch = 32;                       // concurrent sequences for the aggregate figure
  int prefill_tokens = 2048;
  std::optional<DType> expert_dtype;    // --expert-dtype bf16|fp8 (EngineOptions::expert_dtype); nullopt: the
                                        // checkpoint's (dummy weights: bf16)
};

// Errors in a build without CUDA.
nlohmann::json bench_cuda(const CudaBenchOptions& options);

}  // namespace banyan
