// Negative log-likelihood bookkeeping of the quality protocol: per-token NLL from logits rows, and a sequence's
// prompt / continuation means.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace banyan {

// −log softmax(logits)[target], computed in double (max-shifted log-sum-exp). Throws if target is out of range.
double token_nll(std::span<const float> logits, int32_t target);

// The two numbers the protocol keeps per (sequence, setting).
struct SequenceNll {
  double prompt = 0;        // mean of −log p(x_t | x_<t) over t in [1, prompt_tokens)
  double continuation = 0;  // mean over t in [prompt_tokens, n)
  // Mean over t in [1 + skip, prompt_tokens): the prompt without its first `skip` targets (split_sequence_nll's
  // skip_prompt_targets; all prompt targets when there are no more than skip).
  double prompt_tail = 0;
};

// `target_nll[t-1]` = −log p(x_t | x_<t) for t = 1..n-1 (n = sequence length, so target_nll has n-1 entries).
// Requires 2 ≤ prompt_tokens < n and skip_prompt_targets ≥ 0.
SequenceNll split_sequence_nll(std::span<const double> target_nll, int prompt_tokens, int skip_prompt_targets = 0);

// NLL of every target of a sequence from its logits rows: `logits` holds rows j = 0..n-2 (row j is the
// distribution after tokens[0..j], predicting tokens[j+1]), each `vocab` floats.
std::vector<double> next_token_nll(std::span<const float> logits, int64_t vocab, std::span<const int32_t> tokens);

}  // namespace banyan
