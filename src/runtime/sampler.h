// Token sampling from one position's logits: penalties, temperature, top-k, top-p, min-p, seeded draw,
// chosen-token logprob and top-n alternatives.
//
// Order of operations (vLLM / llama.cpp conventions, fixed and documented so results are reproducible):
//   1. penalties on a copy of the logits:
//        repetition (HF/llama.cpp): for every distinct token in prompt ∪ generated, a positive logit is divided by
//          the penalty and a negative one multiplied by it;
//        frequency and presence (OpenAI): for every distinct token generated so far (not the prompt),
//          logit -= count * frequency_penalty + presence_penalty;
//   2. temperature < 1e-5 (0 in practice) → greedy: argmax of the penalised logits (ties → lowest token id); steps 3–7 skipped;
//   3. logits / temperature;
//   4. top-k: keep the k highest logits (ties → lower token id first);
//   5. top-p: softmax over what is left; keep the smallest set of most probable tokens whose mass is ≥ top_p;
//   6. min-p: keep tokens whose probability is ≥ min_p × the highest probability;
//   7. draw one token from the kept tokens, proportionally to their probabilities: with u = uniform_for_step(seed,
//      i) and kept = Σ of the kept tokens' softmax numerators exp(scaled logit − best scaled logit) (fp32 values,
//      summed in double), walk the kept tokens in ASCENDING TOKEN ID, accumulating their numerators in double, and
//      take the first token whose cumulative sum exceeds u · kept (rounding past the end: the last kept token with a
//      non-zero numerator). The kept SET is what steps 3–6 fix; the walk order does not depend on how a backend
//      found it, so another backend (the CUDA sampler, runtime/ops/cuda/sampling_cuda.h) that finds the same set
//      draws the same token up to the summation order of these sums.
//
// Randomness: the draw for the i-th generated token is a pure function of (seed, i) (a counter-based hash,
// runtime/sampling_hash.h, shared with the CUDA sampler), so a request is reproducible whatever else is batched
// with it, and a forked or resumed sequence continues the same stream. No global state.
//
// Penalty history: besides (prompt, generated) spans, sample() takes the history as a sparse list of distinct
// tokens (token, occurrences in generated, in prompt), the form a device backend uploads (PenaltyHistory builds it
// incrementally); both give identical results.
//
// Logprobs follow OpenAI/vLLM's default: they are the log-softmax of the RAW model logits (before penalties,
// temperature and truncation), i.e. the log-probability under the model's own distribution. They are computed
// only when `logprobs` is set (the chosen token's logprob is NaN otherwise).
//
// A Sampler is only a scratch workspace (about 25 bytes per vocabulary entry): it holds no per-request state, so
// one Sampler per engine thread serves every sequence of a batch, each call with that sequence's params. After the
// first call for a vocabulary size, sample() does not allocate. Not thread-safe: one per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace banyan {

struct SamplingParams {
  float temperature = 1.0f;         // 0 (anything < 1e-5) = greedy
  int32_t top_k = 0;                // 0 or -1 = disabled
  float top_p = 1.0f;               // (0, 1]; 1 = disabled
  float min_p = 0.0f;               // [0, 1]; 0 = disabled
  float repetition_penalty = 1.0f;  // > 0; 1 = disabled
  float presence_penalty = 0.0f;    // [-2, 2]
  float frequency_penalty = 0.0f;   // [-2, 2]
  std::optional<uint64_t> seed;     // required by Sampler::sample(); with_seed() picks one when the request has none
  bool logprobs = false;            // return the chosen token's logprob
  int32_t top_logprobs = 0;         // [0, 20]: also return this many most likely tokens (needs logprobs)
};

// Throws banyan::Error naming the first bad field (the server maps it to HTTP 400).
void validate_sampling_params(const SamplingParams& params);

// Whether any penalty is on (else the penalty history is not read).
inline bool penalties_enabled(const SamplingParams& p) {
  return p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
}

// One distinct token of a sequence's history, for the penalties: occurrences among the generated tokens and
// whether it occurs in the prompt (the repetition penalty applies to a token with in_prompt or count > 0; frequency
// and presence to one with count > 0).
struct PenaltyEntry {
  int32_t token = 0;
  int32_t count = 0;
  int32_t in_prompt = 0;  // 0 or 1
};

// A request to sample one logits row inside an engine's forward pass (ForwardOutput::sampling, runtime/engine.h).
struct RowSampling {
  const SamplingParams* params = nullptr;  // nullptr: do not sample this row (its logits are returned)
  uint64_t step = 0;                       // draw index: the number of tokens the sequence has generated
  std::span<const PenaltyEntry> history;   // distinct tokens of prompt ∪ generated (read only if penalties are on)
  bool logits = false;                     // also return this row's (raw) logits, e.g. for logprobs
};

// Builds a sequence's sparse history incrementally: reset() with the prompt, add() each generated token. Entries
// are distinct tokens (prompt tokens first, in first-occurrence order).
// What is wrong with a sparse history, or nullopt: it must hold distinct tokens in [0, vocab) with counts ≥ 0.
// `seen` is a per-token scratch of `vocab` zeros, zero again on return (also when something is wrong).
std::optional<std::string> penalty_history_error(std::span<const PenaltyEntry> history, int64_t vocab,
                                                 std::vector<uint8_t>& seen);

class PenaltyHistory {
 public:
  void reset(std::span<const int32_t> prompt);
  void add(int32_t token);
  std::span<const PenaltyEntry> entries() const { return entries_; }

 private:
  std::vector<PenaltyEntry> entries_;
  std::unordered_map<int32_t, uint32_t> at_;  // token → index in entries_
};

// Returns params with a random seed (std::random_device) when they have none. Resolve once per request, so every
// step of that request draws from one reproducible stream (and the seed can be logged or returned).
SamplingParams with_seed(SamplingParams params);

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct SampleResult {
  int32_t token = 0;
  float logprob = 0.0f;                   // NaN unless params.logprobs
  std::vector<TokenLogprob> top_logprobs; // most likely first (ties → lower id); size = params.top_logprobs
};

// Log-softmax of raw logits: returns log p(token), and fills `top` with the `top_n` most likely tokens (best first,
// ties → lower id; cleared when top_n == 0). Reuses `top`'s storage. Also for prompt logprobs (echo, scoring).
float raw_logprobs(std::span<const float> logits, int32_t token, size_t top_n, std::vector<TokenLogprob>& top);

class Sampler {
 public:
  // Picks the next token of one sequence. `params` must be valid and carry a seed (else banyan::Error). `logits`
  // holds one fp32 value per vocabulary entry. `prompt` and `generated` are the sequence's tokens so far (prompt for
  // the repetition penalty only; generated for all penalties, and its length is the draw index). Token ids outside
  // the vocabulary in the history are an error. `out` is overwritten; its top_logprobs vector is reused, so a caller
  // that keeps `out` across calls never allocates.
  void sample(const SamplingParams& params, std::span<const float> logits, std::span<const int32_t> prompt,
              std::span<const int32_t> generated, SampleResult& out);

  SampleResult sample(const SamplingParams& params, std::span<const float> logits, std::span<const int32_t> prompt,
                      std::span<const int32_t> generated) {
    SampleResult out;
    sample(params, logits, prompt, generated, out);
    return out;
  }

  // The same with the history as a sparse list of distinct tokens (PenaltyEntry; duplicates and ids outside the
  // vocabulary are errors) and the draw index `step` (the number of tokens generated so far).
  void sample(const SamplingParams& params, std::span<const float> logits, std::span<const PenaltyEntry> history,
              uint64_t step, SampleResult& out);

  // The penalised logits of the last sample() call (step 1 above); exposed for tests and debugging.
  std::span<const float> penalized_logits() const { return work_logits_; }

  // The uniform number in [0, 1) used for the draw at index `step` of this seed (exposed for tests).
  static double uniform_for_step(uint64_t seed, uint64_t step);

 private:
  struct Candidate {
    float value;  // logit / temperature, then probability (unnormalised)
    int32_t token;
  };

  void begin(const SamplingParams& params, std::span<const float> logits);
  void finish(std::span<const float> logits, uint64_t step, SampleResult& out);
  void apply_penalties(std::span<const int32_t> prompt, std::span<const int32_t> generated);
  void apply_penalties(std::span<const PenaltyEntry> history);
  size_t order_kept_by_id(size_t n);
  int32_t pick_greedy() const;
  static bool candidate_ranks_before(const Candidate& a, const Candidate& b);
  int32_t pick_random(uint64_t step);
  size_t select_top_k(float inv_temperature);
  size_t keep_nucleus(size_t n, float max_scaled_logit, float inv_temperature, double total);

  const SamplingParams* params_ = nullptr;  // the current call's params
  std::vector<float> work_logits_;
  std::vector<Candidate> candidates_;
  std::vector<int32_t> counts_;   // per token: occurrences in `generated` (scratch, zero between calls)
  std::vector<uint8_t> seen_;     // per token: appears in prompt ∪ generated (scratch, zero between calls)
  std::vector<int32_t> touched_;  // tokens whose counts_/seen_ entries must be reset
  std::vector<float> dense_;      // per token: a kept numerator (scratch of the id-order draw, zero between calls)
};

}  // namespace banyan
