#include "eval/token_nll.h"

#include <cmath>

#include "core/error.h"

namespace banyan {

double token_nll(std::span<const float> logits, int32_t target) {
  BANYAN_CHECK(target >= 0 && size_t(target) < logits.size(), "token id {} outside the vocabulary of {} logits",
               target, logits.size());
  float mx = logits[0];
  for (float v : logits) mx = v > mx ? v : mx;
  BANYAN_CHECK(std::isfinite(mx), "non-finite logits (max {})", mx);
  // Float exponentials (vectorisable), summed in double: the sum of 8k terms in float would lose ~1e-4.
  double sum = 0;
  for (float v : logits) sum += double(std::exp(v - mx));
  return std::log(sum) - double(logits[size_t(target)] - mx);
}

SequenceNll split_sequence_nll(std::span<const double> target_nll, int prompt_tokens, int skip_prompt_targets) {
  const int64_t n = int64_t(target_nll.size()) + 1;
  BANYAN_CHECK(prompt_tokens >= 2 && prompt_tokens < n,
               "prompt of {} tokens needs a sequence longer than it (got {} tokens) and at least 2 tokens",
               prompt_tokens, n);
  BANYAN_CHECK(skip_prompt_targets >= 0, "cannot skip {} prompt targets", skip_prompt_targets);
  SequenceNll r;
  // Targets t = 1..prompt_tokens-1 are entries 0..prompt_tokens-2.
  for (int64_t t = 1; t < prompt_tokens; ++t) r.prompt += target_nll[size_t(t - 1)];
  r.prompt /= double(prompt_tokens - 1);
  const int64_t first = prompt_tokens - 1 > skip_prompt_targets ? 1 + skip_prompt_targets : 1;
  for (int64_t t = first; t < prompt_tokens; ++t) r.prompt_tail += target_nll[size_t(t - 1)];
  r.prompt_tail /= double(prompt_tokens - first);
  for (int64_t t = prompt_tokens; t < n; ++t) r.continuation += target_nll[size_t(t - 1)];
  r.continuation /= double(n - prompt_tokens);
  return r;
}

std::vector<double> next_token_nll(std::span<const float> logits, int64_t vocab, std::span<const int32_t> tokens) {
  BANYAN_CHECK(tokens.size() >= 2, "a sequence needs at least 2 tokens to score, got {}", tokens.size());
  const size_t rows = tokens.size() - 1;
  BANYAN_CHECK(vocab > 0 && logits.size() == rows * size_t(vocab),
               "expected {} logits rows of {} for {} tokens, got {} floats", rows, vocab, tokens.size(),
               logits.size());
  std::vector<double> out(rows);
  for (size_t j = 0; j < rows; ++j) out[j] = token_nll(logits.subspan(j * size_t(vocab), size_t(vocab)), tokens[j + 1]);
  return out;
}

}  // namespace banyan
