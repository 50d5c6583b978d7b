// NLL bookkeeping of banyan-quality-v1 against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "eval/token_nll.h"

namespace banyan {
namespace {

TEST(TokenNll, UniformLogitsGiveLogVocab) {
  std::vector<float> logits(8192, 0.25f);
  EXPECT_NEAR(token_nll(logits, 17), std::log(8192.0), 1e-9);
}

TEST(TokenNll, HandComputedSoftmax) {
  // softmax([0, ln 3]) = [1/4, 3/4].
  std::vector<float> logits = {0.0f, float(std::log(3.0))};
  EXPECT_NEAR(token_nll(logits, 1), -std::log(0.75), 1e-7);
  EXPECT_NEAR(token_nll(logits, 0), -std::log(0.25), 1e-7);
}

TEST(TokenNll, LargeLogitsDoNotOverflow) {
  std::vector<float> logits = {1000.0f, 1000.0f, 0.0f};
  EXPECT_NEAR(token_nll(logits, 0), std::log(2.0), 1e-9);
}

TEST(TokenNll, RejectsOutOfRangeTargetAndNonFinite) {
  std::vector<float> logits = {0.0f, 1.0f};
  EXPECT_THROW(token_nll(logits, 2), Error);
  EXPECT_THROW(token_nll(logits, -1), Error);
  std::vector<float> bad = {0.0f, NAN};
  bad[0] = NAN;
  EXPECT_THROW(token_nll(bad, 0), Error);
}

TEST(SplitSequenceNll, PromptAndContinuationRanges) {
  // n = 6 tokens, prompt 3: prompt targets t = 1, 2 (entries 0, 1), continuation t = 3, 4, 5 (entries 2..4).
  std::vector<double> target = {1.0, 3.0, 10.0, 20.0, 30.0};
  SequenceNll r = split_sequence_nll(target, 3);
  EXPECT_DOUBLE_EQ(r.prompt, 2.0);
  EXPECT_DOUBLE_EQ(r.continuation, 20.0);
}

TEST(SplitSequenceNll, ProtocolSizes) {
  // 256 tokens, prompt 64: 63 prompt targets, 192 continuation targets.
  std::vector<double> target(255);
  for (size_t i = 0; i < target.size(); ++i) target[i] = i < 63 ? 1.0 : 2.0;
  SequenceNll r = split_sequence_nll(target, 64);
  EXPECT_DOUBLE_EQ(r.prompt, 1.0);
  EXPECT_DOUBLE_EQ(r.continuation, 2.0);
  target[62] = 64.0;  // the last prompt target (t = 63) moves only the prompt mean
  r = split_sequence_nll(target, 64);
  EXPECT_DOUBLE_EQ(r.prompt, 2.0);
  EXPECT_DOUBLE_EQ(r.continuation, 2.0);
}

TEST(SplitSequenceNll, RejectsBadPromptLengths) {
  std::vector<double> target(4, 1.0);
  EXPECT_THROW(split_sequence_nll(target, 5), Error);
  EXPECT_THROW(split_sequence_nll(target, 1), Error);
  EXPECT_THROW(split_sequence_nll(target, 3, -1), Error);
}

// prompt_tail leaves out the first `skip` prompt targets; with no more targets than that it keeps them all.
TEST(SplitSequenceNll, PromptTailSkipsTheFirstTargets) {
  // n = 7 tokens, prompt 5: prompt targets t = 1..4 (entries 0..3), continuation t = 5, 6.
  std::vector<double> target = {9.0, 5.0, 1.0, 3.0, 10.0, 20.0};
  EXPECT_DOUBLE_EQ(split_sequence_nll(target, 5).prompt_tail, 4.5);     // skip 0 = prompt
  EXPECT_DOUBLE_EQ(split_sequence_nll(target, 5, 1).prompt_tail, 3.0);  // t = 2..4
  SequenceNll r = split_sequence_nll(target, 5, 2);                     // t = 3, 4
  EXPECT_DOUBLE_EQ(r.prompt_tail, 2.0);
  EXPECT_DOUBLE_EQ(r.prompt, 4.5);
  EXPECT_DOUBLE_EQ(r.continuation, 15.0);
  EXPECT_DOUBLE_EQ(split_sequence_nll(target, 5, 3).prompt_tail, 3.0);  // t = 4
  EXPECT_DOUBLE_EQ(split_sequence_nll(target, 5, 4).prompt_tail, 4.5);  // nothing would be left: all of them
  EXPECT_DOUBLE_EQ(split_sequence_nll(target, 5, 9).prompt_tail, 4.5);
}

TEST(NextTokenNll, RowJPredictsTokenJPlusOne) {
  // vocab 3; rows put all mass (almost) on a chosen token.
  const int64_t V = 3;
  std::vector<int32_t> tokens = {0, 2, 1};
  std::vector<float> logits = {0, 0, 50,   // row 0 predicts tokens[1] = 2
                               0, 0, 0};   // row 1: uniform, predicts tokens[2] = 1
  auto nll = next_token_nll(logits, V, tokens);
  ASSERT_EQ(nll.size(), 2u);
  EXPECT_NEAR(nll[0], 0.0, 1e-9);
  EXPECT_NEAR(nll[1], std::log(3.0), 1e-9);
  EXPECT_THROW(next_token_nll(std::vector<float>(9), V, tokens), Error);  // one row too many
}

}  // namespace
}  // namespace banyan
