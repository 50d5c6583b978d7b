// Token sampling on the device: the twin of the CPU Sampler (runtime/sampler.h), whose header defines the order of
// operations. Per row, one block of threads works on the device logits: penalties from the sparse history;
// temperature < 1e-5 → argmax (lowest id on ties); else logits / temperature, the kept set = top-k (ties → lower
// id) ∩ nucleus (top-p over the top-k set's softmax, by probability then lower id) ∩ min-p, each found as a
// threshold on (value, id) keys by a radix select (8-bit digits, warp-aggregated shared-memory histograms of counts
// and softmax mass; the logits are re-read from L2 in every pass, nothing per token is stored), then the draw in
// ascending token id with the CPU's uniform (runtime/sampling_hash.h).
//
// Agreement with the CPU: the kept set and the draw are defined identically; the sums (softmax total, bin masses,
// cumulative mass) are summed in another order and expf may differ from the CPU's by an ulp, so a token whose
// cumulative mass lies within rounding of a boundary (the nucleus cut, the drawn point) can differ. Greedy and the
// penalties are exact.
// Only included from .cu files (the CUDA build).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/sampler.h"

namespace banyan::ops::cuda {

// One row to sample, as the kernel reads it (built by RowSampler from a RowSampling).
struct SampleRow {
  int32_t row = 0;            // logits row
  int32_t top_k = 0;          // ≤ 0 or ≥ vocab: off
  float temperature = 1.0f;   // < 1e-5: greedy
  float top_p = 1.0f, min_p = 0.0f;
  float repetition_penalty = 1.0f, presence_penalty = 0.0f, frequency_penalty = 0.0f;
  int32_t history_begin = 0, history_count = 0;  // entries of the history array (0 when penalties are off)
  uint64_t seed = 0, step = 0;
};

// Samples `n` rows of `logits` [*, vocab] (device; the sampled rows are modified in place by the penalties):
// tokens[i] = the token of rows[i], or -1 when that row has a NaN or +inf logit or no finite one after the
// penalties. rows, history and tokens are device pointers. No host synchronisation.
void sample_rows(float* logits, int64_t vocab, const SampleRow* rows, int n, const PenaltyEntry* history,
                 int32_t* tokens, cudaStream_t stream);

// Owns the staging of sample_rows for an engine: uploads the requests (params and histories, one copy), samples,
// downloads the tokens.
class RowSampler {
 public:
  RowSampler() = default;
  ~RowSampler();
  RowSampler(const RowSampler&) = delete;
  RowSampler& operator=(const RowSampler&) = delete;

  // logits [requests.size(), vocab] on the device. tokens ← one per request: the sampled token, -1 for requests
  // without params. Synchronises `stream`; throws banyan::Error naming a row that could not be sampled (NaN or +inf
  // logit, or none finite). The caller has validated the params (seeds) and histories (Engine::forward does).
  void sample(float* logits, int64_t vocab, std::span<const RowSampling> requests, std::vector<int32_t>& tokens,
              cudaStream_t stream);

 private:
  void grow(size_t bytes, cudaStream_t stream);
  uint8_t* host_ = nullptr;  // pinned
  uint8_t* dev_ = nullptr;
  size_t bytes_ = 0;
  std::vector<int32_t> rows_of_;  // per sampled row: its request index
};

// out[i] = sampling::uniform_for_step(seeds[i], steps[i]) computed on the device (device pointers; tests compare it
// with the CPU's).
void uniform_for_steps(const uint64_t* seeds, const uint64_t* steps, int n, double* out, cudaStream_t stream);

}  // namespace banyan::ops::cuda
