// Calibration: runs the full model over documents with router taps on every MoE layer and turns the taps into
// per-document profiles (plan/profiles.h): mean unmasked router probabilities, top-k selection counts, top-k
// router mass, and Σ router weight × ‖expert output‖.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "plan/corpus_walk.h"
#include "plan/profiles.h"
#include "runtime/engine.h"

namespace banyan {

struct CalibrateOptions {
  int batch = 8;                    // documents per forward call
  bool output_norms = true;         // fill out_norm (costs one norm per routed token)
};

// The engine device of `banyan calibrate --device` (EngineOptions::device): "cpu", "cuda" or "cuda:<index>", as
// serve's --device. Anything else is a banyan::Error naming the string, raised before the corpus is read. (Whether
// this build has CUDA, or the machine that device, is Engine::load's check.)
void check_calibrate_device(const std::string& device);

// Returns profiles for `docs` (in order); provenance fields (source hash, paths, caps) are left to the caller.
// `on_progress(documents done)` is called after each batch.
Profiles calibrate_documents(Engine& engine, const std::vector<Document>& docs, const CalibrateOptions& options,
                             const std::function<void(int64_t)>& on_progress = {});

}  // namespace banyan
