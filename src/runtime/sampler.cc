#include "runtime/sampler.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "runtime/sampling_hash.h"

namespace banyan {

namespace {

constexpr int32_t kMaxTopLogprobs = 20;  // OpenAI's limit
// Below this temperature the tempered distribution is a point mass in fp32 anyway (vLLM uses the same cut-off);
// treating it as greedy avoids logits / T overflowing to infinity.
constexpr float kGreedyBelowTemperature = 1e-5f;

// Higher value first; equal values → lower token id first, so every selection is deterministic.
bool ranks_before(float a_value, int32_t a_token, float b_value, int32_t b_token) {
  return a_value > b_value || (a_value == b_value && a_token < b_token);
}

// Step 1 for one token of the history: the repetition penalty when `repetition` (on, and the token is in prompt ∪
// generated), then frequency and presence for a token generated `count` > 0 times. The CUDA sampler evaluates the
// same expression with the same rounding (no fused multiply-add).
float penalized(float x, bool repetition, int32_t count, const SamplingParams& p) {
  if (repetition) x = x > 0.0f ? x / p.repetition_penalty : x * p.repetition_penalty;
  if (count > 0) x -= static_cast<float>(count) * p.frequency_penalty + p.presence_penalty;
  return x;
}

// Maximum of NaN-free values with independent accumulators: no loop-carried latency chain, vectorisable.
float max_value(std::span<const float> values) {
  constexpr size_t kLanes = 8;
  float lane[kLanes];
  std::fill(lane, lane + kLanes, -std::numeric_limits<float>::infinity());
  size_t i = 0;
  for (; i + kLanes <= values.size(); i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) lane[j] = lane[j] < values[i + j] ? values[i + j] : lane[j];
  for (; i < values.size(); ++i) lane[0] = lane[0] < values[i] ? values[i] : lane[0];
  return *std::max_element(lane, lane + kLanes);
}

}  // namespace

void validate_sampling_params(const SamplingParams& p) {
  BANYAN_CHECK(std::isfinite(p.temperature) && p.temperature >= 0.0f,
               "sampling: temperature must be a finite number >= 0, got {}", p.temperature);
  BANYAN_CHECK(p.top_k >= -1, "sampling: top_k must be >= 0 (0 or -1 disables it), got {}", p.top_k);
  BANYAN_CHECK(p.top_p > 0.0f && p.top_p <= 1.0f, "sampling: top_p must be in (0, 1], got {}", p.top_p);
  BANYAN_CHECK(p.min_p >= 0.0f && p.min_p <= 1.0f, "sampling: min_p must be in [0, 1], got {}", p.min_p);
  BANYAN_CHECK(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0.0f,
               "sampling: repetition_penalty must be > 0, got {}", p.repetition_penalty);
  BANYAN_CHECK(p.presence_penalty >= -2.0f && p.presence_penalty <= 2.0f,
               "sampling: presence_penalty must be in [-2, 2], got {}", p.presence_penalty);
  BANYAN_CHECK(p.frequency_penalty >= -2.0f && p.frequency_penalty <= 2.0f,
               "sampling: frequency_penalty must be in [-2, 2], got {}", p.frequency_penalty);
  BANYAN_CHECK(p.top_logprobs >= 0 && p.top_logprobs <= kMaxTopLogprobs,
               "sampling: top_logprobs must be in [0, {}], got {}", kMaxTopLogprobs, p.top_logprobs);
  BANYAN_CHECK(p.top_logprobs == 0 || p.logprobs, "sampling: top_logprobs ({}) needs logprobs enabled",
               p.top_logprobs);
}

SamplingParams with_seed(SamplingParams params) {
  if (!params.seed) {
    std::random_device device;
    params.seed = (uint64_t{device()} << 32) ^ device();
  }
  return params;
}

double Sampler::uniform_for_step(uint64_t seed, uint64_t step) { return sampling::uniform_for_step(seed, step); }

std::optional<std::string> penalty_history_error(std::span<const PenaltyEntry> history, int64_t vocab,
                                                 std::vector<uint8_t>& seen) {
  const char* bad = nullptr;
  size_t at = 0;
  for (; at < history.size() && !bad; ++at) {
    const PenaltyEntry& e = history[at];
    if (e.token < 0 || e.token >= vocab) bad = "outside the vocabulary";
    else if (e.count < 0) bad = "a negative count";
    else if (seen[size_t(e.token)]) bad = "a repeated token";
    else seen[size_t(e.token)] = 1;
  }
  for (size_t i = 0; i < at; ++i) {
    const int32_t t = history[i].token;
    if (t >= 0 && t < vocab) seen[size_t(t)] = 0;
  }
  if (!bad) return std::nullopt;
  const PenaltyEntry& e = history[at - 1];
  return fmt::format("penalty history entry #{} (token {}, count {}) is {}", at - 1, e.token, e.count, bad);
}

void PenaltyHistory::reset(std::span<const int32_t> prompt) {
  entries_.clear();
  at_.clear();
  for (int32_t t : prompt) {
    const auto [it, inserted] = at_.try_emplace(t, uint32_t(entries_.size()));
    if (inserted) entries_.push_back({t, 0, 1});
  }
}

void PenaltyHistory::add(int32_t token) {
  const auto [it, inserted] = at_.try_emplace(token, uint32_t(entries_.size()));
  if (inserted) entries_.push_back({token, 0, 0});
  ++entries_[it->second].count;
}

void Sampler::sample(const SamplingParams& params, std::span<const float> logits, std::span<const int32_t> prompt,
                     std::span<const int32_t> generated, SampleResult& out) {
  begin(params, logits);
  apply_penalties(prompt, generated);
  finish(logits, generated.size(), out);
}

void Sampler::sample(const SamplingParams& params, std::span<const float> logits,
                     std::span<const PenaltyEntry> history, uint64_t step, SampleResult& out) {
  begin(params, logits);
  apply_penalties(history);
  finish(logits, step, out);
}

void Sampler::begin(const SamplingParams& params, std::span<const float> logits) {
  validate_sampling_params(params);
  BANYAN_CHECK(params.seed.has_value(), "sampler: the sampling params carry no seed (pass them through with_seed)");
  params_ = &params;
  const size_t vocab = logits.size();
  BANYAN_CHECK(vocab > 0, "sampler: empty logits");
  BANYAN_CHECK(vocab <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
               "sampler: vocabulary of {} entries is too large", vocab);
  if (work_logits_.size() != vocab) {  // warm-up: size every scratch buffer once per vocabulary size
    work_logits_.resize(vocab);
    candidates_.resize(vocab);
    counts_.assign(vocab, 0);
    seen_.assign(vocab, 0);
    touched_.clear();
    touched_.reserve(vocab);
    dense_.assign(vocab, 0.0f);
  }
  // Branch-free scans; the offending token is looked up only on failure.
  constexpr float kInf = std::numeric_limits<float>::infinity();
  std::copy(logits.begin(), logits.end(), work_logits_.begin());
  // NaN or +inf, from the bits: integer tests vectorise where float compares against NaN may not.
  uint32_t bad = 0;
  for (float x : logits) {
    const auto bits = std::bit_cast<uint32_t>(x);
    bad |= static_cast<uint32_t>((bits & 0x7FFFFFFFu) > 0x7F800000u) | static_cast<uint32_t>(bits == 0x7F800000u);
  }
  if (bad) [[unlikely]] {
    for (size_t i = 0; i < vocab; ++i)
      if (std::isnan(logits[i]) || logits[i] == kInf) fail("sampler: logit of token {} is {}", i, logits[i]);
  }
  const float best = max_value(logits);
  BANYAN_CHECK(best != -kInf, "sampler: every logit is -inf; no token can be sampled");
}

void Sampler::finish(std::span<const float> logits, uint64_t step, SampleResult& out) {
  const SamplingParams& params = *params_;
  out.token = params_->temperature < kGreedyBelowTemperature ? pick_greedy() : pick_random(step);

  out.top_logprobs.clear();
  if (params_->logprobs) {
    if (out.top_logprobs.capacity() < kMaxTopLogprobs) out.top_logprobs.reserve(kMaxTopLogprobs);
    out.logprob = raw_logprobs(logits, out.token, static_cast<size_t>(params.top_logprobs), out.top_logprobs);
  } else {
    out.logprob = std::numeric_limits<float>::quiet_NaN();
  }
}

void Sampler::apply_penalties(std::span<const int32_t> prompt, std::span<const int32_t> generated) {
  const bool repetition = params_->repetition_penalty != 1.0f;
  const bool additive = params_->presence_penalty != 0.0f || params_->frequency_penalty != 0.0f;
  if (!repetition && !additive) return;
  const auto vocab = static_cast<int64_t>(work_logits_.size());
  auto note = [&](int32_t token, const char* where, size_t index) {
    if (token < 0 || token >= vocab) [[unlikely]] {
      // Leave the scratch arrays clean before reporting: the Sampler stays usable after an error.
      for (int32_t t : touched_) counts_[t] = 0, seen_[t] = 0;
      touched_.clear();
      fail("sampler: {} token #{} is {}, outside the vocabulary of {}", where, index, token, vocab);
    }
    if (!seen_[token]) {
      seen_[token] = 1;
      touched_.push_back(token);
    }
  };
  if (repetition) {
    for (size_t i = 0; i < prompt.size(); ++i) note(prompt[i], "prompt", i);
  }
  for (size_t i = 0; i < generated.size(); ++i) {
    note(generated[i], "generated", i);
    ++counts_[generated[i]];
  }
  for (int32_t t : touched_) {
    work_logits_[t] = penalized(work_logits_[t], repetition, counts_[t], *params_);
    counts_[t] = 0;
    seen_[t] = 0;
  }
  touched_.clear();
}

void Sampler::apply_penalties(std::span<const PenaltyEntry> history) {
  if (!penalties_enabled(*params_)) return;
  const bool repetition = params_->repetition_penalty != 1.0f;
  if (auto error = penalty_history_error(history, static_cast<int64_t>(work_logits_.size()), seen_))
    fail("sampler: {}", *error);
  for (const PenaltyEntry& e : history)
    work_logits_[e.token] =
        penalized(work_logits_[e.token], repetition && (e.in_prompt != 0 || e.count > 0), e.count, *params_);
}

int32_t Sampler::pick_greedy() const {
  // The first position holding the maximum is the lowest id among ties.
  const float best = max_value(work_logits_);
  return static_cast<int32_t>(std::find(work_logits_.begin(), work_logits_.end(), best) - work_logits_.begin());
}

bool Sampler::candidate_ranks_before(const Candidate& a, const Candidate& b) {
  return ranks_before(a.value, a.token, b.value, b.token);
}

// Fills candidates_[0, n) with the tempered logits of the k best tokens (or all tokens when top-k is off); returns n.
size_t Sampler::select_top_k(float inv_temperature) {
  const size_t vocab = work_logits_.size();
  const bool top_k_on = params_->top_k > 0 && static_cast<size_t>(params_->top_k) < vocab;
  const size_t k = top_k_on ? static_cast<size_t>(params_->top_k) : vocab;
  auto first = candidates_.begin();
  if (top_k_on && k * 16 <= vocab) {
    // Small k: one scan with a k-heap whose front is the worst kept token; most tokens cost one comparison.
    // Scanning ids upwards with a strict comparison keeps the lower id among equal logits.
    for (size_t i = 0; i < k; ++i) candidates_[i] = {work_logits_[i], static_cast<int32_t>(i)};
    std::make_heap(first, first + k, candidate_ranks_before);
    for (size_t i = k; i < vocab; ++i) {
      if (work_logits_[i] > candidates_[0].value) {
        std::pop_heap(first, first + k, candidate_ranks_before);
        candidates_[k - 1] = {work_logits_[i], static_cast<int32_t>(i)};
        std::push_heap(first, first + k, candidate_ranks_before);
      }
    }
    for (size_t i = 0; i < k; ++i) candidates_[i].value *= inv_temperature;
    return k;
  }
  for (size_t i = 0; i < vocab; ++i) candidates_[i] = {work_logits_[i] * inv_temperature, static_cast<int32_t>(i)};
  if (top_k_on) std::nth_element(first, first + k, first + vocab, candidate_ranks_before);
  return k;
}

// Top-p on candidates_[0, n) whose values are softmax numerators exp(scaled logit - max) summing to `total`:
// moves the smallest set of most probable tokens with mass >= top_p to the front and returns its size.
size_t Sampler::keep_nucleus(size_t n, float max_scaled_logit, float inv_temperature, double total) {
  // A histogram over the distance below the best logit (half-nat buckets) bounds the nucleus in one pass, so only
  // tokens that can be in it are partitioned and sorted, not the whole vocabulary.
  constexpr size_t kBuckets = 64;
  const auto bucket_of = [&](int32_t token) {
    const float below = max_scaled_logit - work_logits_[token] * inv_temperature;  // same expression as the fill
    return below < static_cast<float>(kBuckets) * 0.5f ? static_cast<size_t>(below * 2.0f) : kBuckets - 1;
  };
  std::array<double, kBuckets> mass{};
  for (size_t i = 0; i < n; ++i) mass[std::min(bucket_of(candidates_[i].token), kBuckets - 1)] += candidates_[i].value;
  const double target = static_cast<double>(params_->top_p) * total;
  size_t last_bucket = kBuckets - 1;
  double cumulative = 0.0;
  for (size_t b = 0; b < kBuckets; ++b) {
    if ((cumulative += mass[b]) >= target) {
      last_bucket = b;
      break;
    }
  }
  auto first = candidates_.begin();
  n = static_cast<size_t>(std::partition(first, first + n, [&](const Candidate& c) {
                            return std::min(bucket_of(c.token), kBuckets - 1) <= last_bucket;
                          }) - first);

  // Sort only as much of the head as the nucleus needs: grow the sorted prefix geometrically.
  double head_mass = 0.0;
  size_t sorted = 0;
  size_t end = std::min<size_t>(n, 64);
  while (true) {
    if (end < n) std::nth_element(first + sorted, first + end, first + n, candidate_ranks_before);
    std::sort(first + sorted, first + end, candidate_ranks_before);
    for (size_t i = sorted; i < end; ++i) {
      if ((head_mass += candidates_[i].value) >= target) return i + 1;
    }
    if (end == n) return n;  // rounding left the set just short of the target: keep all of it
    sorted = end;
    end = std::min(n, end * 4);
  }
}

int32_t Sampler::pick_random(uint64_t step) {
  const float inv_temperature = 1.0f / params_->temperature;
  size_t n = select_top_k(inv_temperature);
  const size_t n_top_k = n;

  // Softmax numerators relative to the best logit (which top-k always keeps), so the best has value 1.
  float max_value = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < n; ++i) max_value = std::max(max_value, candidates_[i].value);
  BANYAN_CHECK(std::isfinite(max_value), "sampler: the best logit is {} after penalties and temperature {}",
               max_value, params_->temperature);
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    candidates_[i].value = std::exp(candidates_[i].value - max_value);
    total += candidates_[i].value;
  }

  if (params_->top_p < 1.0f) n = keep_nucleus(n, max_value, inv_temperature, total);

  auto first = candidates_.begin();
  if (params_->min_p > 0.0f) {
    float best = 0.0f;
    for (size_t i = 0; i < n; ++i) best = std::max(best, candidates_[i].value);
    const float threshold = params_->min_p * best;
    n = static_cast<size_t>(
        std::remove_if(first, first + n, [&](const Candidate& c) { return c.value < threshold; }) - first);
  }

  // The kept set is fixed; the draw walks it in ascending token id (see the header). Without truncation by top-k
  // or top-p the candidates are still in id order (filled that way; min-p's remove_if keeps the order).
  const bool in_id_order = n_top_k == work_logits_.size() && params_->top_p >= 1.0f;
  if (!in_id_order) n = order_kept_by_id(n);

  double kept = 0.0;
  for (size_t i = 0; i < n; ++i) kept += candidates_[i].value;
  const double r = uniform_for_step(*params_->seed, step) * kept;
  double cumulative = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cumulative += candidates_[i].value;
    if (r < cumulative) return candidates_[i].token;
  }
  // r is < kept by construction; rounding can only leave us here at the very end. Take the last non-zero one.
  for (size_t i = n; i-- > 0;)
    if (candidates_[i].value > 0.0f) return candidates_[i].token;
  return candidates_[0].token;
}

// Puts candidates_[0, n) in ascending token id: a small set is sorted; a large one is scattered into the dense
// per-token scratch and read back in id order (tokens whose numerator is 0 are dropped: they can never be drawn,
// and adding 0 changes no sum).
size_t Sampler::order_kept_by_id(size_t n) {
  auto first = candidates_.begin();
  const size_t vocab = work_logits_.size();
  if (n * 16 <= vocab) {
    std::sort(first, first + n, [](const Candidate& a, const Candidate& b) { return a.token < b.token; });
    return n;
  }
  for (size_t i = 0; i < n; ++i) dense_[size_t(candidates_[i].token)] = candidates_[i].value;
  size_t m = 0;
  for (size_t t = 0; t < vocab; ++t) {
    if (dense_[t] > 0.0f) {
      candidates_[m++] = {dense_[t], static_cast<int32_t>(t)};
      dense_[t] = 0.0f;
    }
  }
  return m;  // ≥ 1: the best token's numerator is 1
}

float raw_logprobs(std::span<const float> logits, int32_t token, size_t top_n, std::vector<TokenLogprob>& top) {
  BANYAN_CHECK(token >= 0 && static_cast<size_t>(token) < logits.size(), "logprobs: token {} outside the vocabulary of {}",
               token, logits.size());
  const float max_logit = max_value(logits);
  BANYAN_CHECK(std::isfinite(max_logit), "logprobs: the largest logit is {}", max_logit);
  double sum = 0.0;
  for (float x : logits) sum += std::exp(x - max_logit);  // float exp, double sum: fast and accurate enough
  const double log_normaliser = max_logit + std::log(sum);

  // A heap of the best top_n seen so far whose front is the worst of them.
  top.clear();
  const auto better = [](const TokenLogprob& a, const TokenLogprob& b) {
    return ranks_before(a.logprob, a.token, b.logprob, b.token);
  };
  for (size_t i = 0; top_n > 0 && i < logits.size(); ++i) {
    const TokenLogprob entry{static_cast<int32_t>(i), logits[i]};
    if (top.size() < top_n) {
      top.push_back(entry);
      std::push_heap(top.begin(), top.end(), better);
    } else if (better(entry, top.front())) {
      std::pop_heap(top.begin(), top.end(), better);
      top.back() = entry;
      std::push_heap(top.begin(), top.end(), better);
    }
  }
  std::sort_heap(top.begin(), top.end(), better);  // best first
  for (auto& e : top) e.logprob = static_cast<float>(e.logprob - log_normaliser);
  return static_cast<float>(logits[token] - log_normaliser);
}

}  // namespace banyan
