#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"

using namespace banyan;

namespace {

const std::vector<int32_t> kNoTokens;

// One sequence's view: its params and a Sampler workspace (the engine shares one workspace across sequences).
struct Seq {
  explicit Seq(SamplingParams p) : params(p) {}
  SamplingParams params;
  Sampler workspace;
  void sample(std::span<const float> logits, std::span<const int32_t> prompt, std::span<const int32_t> generated,
              SampleResult& out) {
    workspace.sample(params, logits, prompt, generated, out);
  }
  SampleResult sample(std::span<const float> logits, std::span<const int32_t> prompt,
                      std::span<const int32_t> generated) {
    return workspace.sample(params, logits, prompt, generated);
  }
  std::span<const float> penalized_logits() const { return workspace.penalized_logits(); }
};

std::vector<float> random_logits(size_t vocab, uint32_t seed, float scale = 3.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(vocab);
  for (auto& x : logits) x = normal(rng);
  return logits;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature = 1.0) {
  double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp((logits[i] - max) / temperature);
  for (auto& x : p) x /= sum;
  return p;
}

// Draws `draws` tokens with one seed: the draw index is the length of `generated` (penalties off, so its contents
// do not matter). Returns counts per token.
std::map<int32_t, int> draw_counts(Seq& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int32_t> generated(draws, 0);
  std::map<int32_t, int> counts;
  SampleResult result;
  for (int i = 0; i < draws; ++i) {
    sampler.sample(logits, kNoTokens, std::span(generated).first(i), result);
    ++counts[result.token];
  }
  return counts;
}

// Deterministic seed, so a tolerance of ~5 standard deviations is generous yet still catches wrong distributions.
void expect_frequencies(const std::map<int32_t, int>& counts, const std::vector<double>& expected, int draws) {
  for (size_t t = 0; t < expected.size(); ++t) {
    const double p = expected[t];
    const auto it = counts.find(static_cast<int32_t>(t));
    const double f = it == counts.end() ? 0.0 : static_cast<double>(it->second) / draws;
    if (p == 0.0) {
      EXPECT_EQ(f, 0.0) << "token " << t << " must never be drawn";
    } else {
      EXPECT_NEAR(f, p, 5.0 * std::sqrt(p * (1 - p) / draws) + 1e-3) << "token " << t;
    }
  }
}

std::vector<float> logits_of_probs(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(p > 0 ? static_cast<float>(std::log(p)) : -INFINITY);
  return logits;
}

SamplingParams seeded(uint64_t seed, float temperature = 1.0f) {
  SamplingParams p;
  p.seed = seed;
  p.temperature = temperature;
  return p;
}

}  // namespace

TEST(Sampler, GreedyPicksArgmaxAndLowestIdOnTies) {
  std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
  Seq sampler(seeded(7, 0.0f));
  EXPECT_EQ(sampler.sample(logits, kNoTokens, kNoTokens).token, 1);
  auto big = random_logits(151936, 3);
  const auto argmax = std::max_element(big.begin(), big.end()) - big.begin();
  EXPECT_EQ(sampler.sample(big, kNoTokens, kNoTokens).token, argmax);
}

TEST(Sampler, TopKOneEqualsGreedy) {
  for (uint32_t trial = 0; trial < 20; ++trial) {
    auto logits = random_logits(5000, trial);
    Seq greedy(seeded(trial, 0.0f));
    SamplingParams p = seeded(1000 + trial, 1.5f);
    p.top_k = 1;
    Seq top1(p);
    EXPECT_EQ(top1.sample(logits, kNoTokens, kNoTokens).token, greedy.sample(logits, kNoTokens, kNoTokens).token);
  }
}

TEST(Sampler, FrequenciesMatchSoftmaxWithTemperature) {
  const auto logits = random_logits(8, 11, 1.0f);
  const int draws = 10000;
  Seq sampler(seeded(42, 0.7f));
  expect_frequencies(draw_counts(sampler, logits, draws), softmax(logits, 0.7), draws);
}

TEST(Sampler, TopKRenormalisesOverTheKBest) {
  const std::vector<double> probs = {0.1, 0.3, 0.05, 0.25, 0.2, 0.1};
  SamplingParams p = seeded(5);
  p.top_k = 3;
  Seq sampler(p);
  const int draws = 10000;
  expect_frequencies(draw_counts(sampler, logits_of_probs(probs), draws), {0, 0.3 / 0.75, 0, 0.25 / 0.75, 0.2 / 0.75, 0},
                     draws);
}

TEST(Sampler, TopPKeepsTheMinimalNucleus) {
  // Sorted: 0.5 (id 3), 0.2 (id 0), 0.15 (id 4), 0.1 (id 1), 0.05 (id 2).
  const std::vector<double> probs = {0.2, 0.1, 0.05, 0.5, 0.15};
  const int draws = 10000;
  {
    SamplingParams p = seeded(9);
    p.top_p = 0.69f;  // 0.5 + 0.2 reaches it
    Seq sampler(p);
    expect_frequencies(draw_counts(sampler, logits_of_probs(probs), draws), {0.2 / 0.7, 0, 0, 0.5 / 0.7, 0}, draws);
  }
  {
    SamplingParams p = seeded(10);
    p.top_p = 0.71f;  // needs the third token
    Seq sampler(p);
    expect_frequencies(draw_counts(sampler, logits_of_probs(probs), draws),
                       {0.2 / 0.85, 0, 0, 0.5 / 0.85, 0.15 / 0.85}, draws);
  }
  {
    SamplingParams p = seeded(11);
    p.top_p = 0.3f;  // the best token alone
    Seq sampler(p);
    expect_frequencies(draw_counts(sampler, logits_of_probs(probs), 200), {0, 0, 0, 1, 0}, 200);
  }
}

TEST(Sampler, TopPCutsInsideABandOfSimilarProbabilities) {
  // Probabilities within a fraction of a nat of each other: the cut must fall between individual tokens.
  const std::vector<double> probs = {0.19, 0.22, 0.18, 0.2, 0.21};
  const int draws = 10000;
  SamplingParams p = seeded(31);
  p.top_p = 0.42f;  // 0.22 + 0.21
  Seq two(p);
  expect_frequencies(draw_counts(two, logits_of_probs(probs), draws), {0, 0.22 / 0.43, 0, 0, 0.21 / 0.43}, draws);
  p.top_p = 0.44f;  // + 0.2
  Seq three(p);
  expect_frequencies(draw_counts(three, logits_of_probs(probs), draws), {0, 0.22 / 0.63, 0, 0.2 / 0.63, 0.21 / 0.63},
                     draws);
}

TEST(Sampler, TopPOnALargeVocabularyDrawsOnlyFromTheNucleus) {
  // A nucleus of a few hundred tokens out of 152k exercises the incremental partial sort past its first block.
  const size_t vocab = 151936;
  auto logits = random_logits(vocab, 17, 1.0f);
  for (size_t i = 0; i < 700; ++i) logits[(i * 7919) % vocab] += 9.0f;
  const auto probs = softmax(logits);
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return probs[a] > probs[b]; });
  const float top_p = 0.8f;
  std::set<int32_t> nucleus;
  double mass = 0;
  for (int32_t t : order) {
    nucleus.insert(t);
    if ((mass += probs[t]) >= top_p) break;
  }
  ASSERT_GT(nucleus.size(), 64u);
  ASSERT_LT(nucleus.size(), 700u);
  SamplingParams p = seeded(3);
  p.top_p = top_p;
  Seq sampler(p);
  const auto counts = draw_counts(sampler, logits, 400);
  for (const auto& [token, n] : counts) EXPECT_TRUE(nucleus.count(token)) << "token " << token << " outside the nucleus";
  EXPECT_GT(counts.size(), nucleus.size() / 4);  // draws spread over the nucleus, not just its head
}

TEST(Sampler, MinPDropsTokensBelowTheThreshold) {
  const std::vector<double> probs = {0.1, 0.4, 0.2, 0.3};
  const int draws = 10000;
  {
    SamplingParams p = seeded(21);
    p.min_p = 0.45f;  // threshold 0.18: keeps 0.4, 0.3, 0.2
    Seq sampler(p);
    expect_frequencies(draw_counts(sampler, logits_of_probs(probs), draws), {0, 0.4 / 0.9, 0.2 / 0.9, 0.3 / 0.9}, draws);
  }
  {
    SamplingParams p = seeded(22);
    p.min_p = 0.55f;  // threshold 0.22: keeps 0.4, 0.3
    Seq sampler(p);
    expect_frequencies(draw_counts(sampler, logits_of_probs(probs), draws), {0, 0.4 / 0.7, 0, 0.3 / 0.7}, draws);
  }
}

TEST(Sampler, MaskedTokensAreNeverDrawn) {
  std::vector<float> logits = {-INFINITY, 0.0f, -INFINITY, 0.0f};
  Seq sampler(seeded(1, 2.0f));
  expect_frequencies(draw_counts(sampler, logits, 2000), {0, 0.5, 0, 0.5}, 2000);
}

TEST(Sampler, PenaltiesChangeLogitsAsComputedByHand) {
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 1.0f};
  const std::vector<int32_t> prompt = {0, 1, 0};
  const std::vector<int32_t> generated = {3, 3, 1, 5};
  SamplingParams p = seeded(1, 0.0f);
  p.repetition_penalty = 1.5f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  Seq sampler(p);
  sampler.sample(logits, prompt, generated);
  const std::vector<float> expected = {
      2.0f / 1.5f,                // prompt only: repetition penalty, no presence/frequency
      -1.0f * 1.5f - 0.25f - 0.5f,  // negative: multiplied; generated once
      0.5f,                       // untouched
      3.0f / 1.5f - 2 * 0.25f - 0.5f,  // generated twice
      -2.0f,                      // untouched
      1.0f / 1.5f - 0.25f - 0.5f,  // generated once
  };
  const auto got = sampler.penalized_logits();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_FLOAT_EQ(got[i], expected[i]) << "token " << i;

  // The scratch state is reset between calls: no history → no change.
  sampler.sample(logits, kNoTokens, kNoTokens);
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_EQ(sampler.penalized_logits()[i], logits[i]);
}

TEST(Sampler, PenaltiesSteerGreedyChoice) {
  const std::vector<float> logits = {1.0f, 0.9f};
  SamplingParams p = seeded(1, 0.0f);
  p.frequency_penalty = 0.2f;
  Seq sampler(p);
  EXPECT_EQ(sampler.sample(logits, kNoTokens, kNoTokens).token, 0);
  EXPECT_EQ(sampler.sample(logits, kNoTokens, std::vector<int32_t>{0}).token, 1);
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedsDiffer) {
  const auto logits = random_logits(1000, 5, 0.5f);
  auto run = [&](uint64_t seed) {
    SamplingParams p = seeded(seed, 1.0f);
    p.top_p = 0.95f;
    p.top_k = 200;
    p.presence_penalty = 0.3f;
    Seq sampler(p);
    std::vector<int32_t> generated;
    for (int i = 0; i < 64; ++i) generated.push_back(sampler.sample(logits, kNoTokens, generated).token);
    return generated;
  };
  EXPECT_EQ(run(123), run(123));
  EXPECT_NE(run(123), run(124));
  EXPECT_NE(Sampler::uniform_for_step(1, 0), Sampler::uniform_for_step(1, 1));
  EXPECT_NE(Sampler::uniform_for_step(1, 0), Sampler::uniform_for_step(2, 0));
}

TEST(Sampler, SeedsAreRequiredAndWithSeedPicksOne) {
  const std::vector<float> logits = {0.0f, 1.0f};
  Sampler workspace;
  EXPECT_THROW(workspace.sample(SamplingParams{}, logits, kNoTokens, kNoTokens), Error);
  const auto a = with_seed(SamplingParams{}), b = with_seed(SamplingParams{});
  ASSERT_TRUE(a.seed && b.seed);
  EXPECT_NE(*a.seed, *b.seed);
  EXPECT_EQ(*with_seed(seeded(77)).seed, 77u);
  EXPECT_NO_THROW(workspace.sample(a, logits, kNoTokens, kNoTokens));
}

TEST(Sampler, OneWorkspaceServesInterleavedSequences) {
  // A batch shares one workspace: interleaving two sequences' calls gives each the same tokens as running alone.
  const auto logits = random_logits(2000, 12, 1.0f);
  SamplingParams pa = seeded(1), pb = seeded(2);
  pa.top_p = 0.9f;
  pb.frequency_penalty = 0.5f;
  pb.top_k = 100;
  auto alone = [&](const SamplingParams& p) {
    Seq seq(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 30; ++i) out.push_back(seq.sample(logits, kNoTokens, out).token);
    return out;
  };
  Sampler shared;
  std::vector<int32_t> a, b;
  for (int i = 0; i < 30; ++i) {
    a.push_back(shared.sample(pa, logits, kNoTokens, a).token);
    b.push_back(shared.sample(pb, logits, std::vector<int32_t>{5, 6}, b).token);
  }
  EXPECT_EQ(a, alone(pa));
  EXPECT_EQ(b, alone(pb));  // b's prompt only feeds the repetition penalty, which is off here
}

TEST(Sampler, LogprobsAreRawModelLogSoftmaxWithSortedAlternatives) {
  const std::vector<float> logits = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
  SamplingParams p = seeded(8, 0.3f);
  p.repetition_penalty = 2.0f;  // penalties and temperature must not change reported logprobs
  p.logprobs = true;
  p.top_logprobs = 3;
  Seq sampler(p);
  const auto result = sampler.sample(logits, std::vector<int32_t>{1}, kNoTokens);
  const auto probs = softmax(logits);
  EXPECT_NEAR(result.logprob, std::log(probs[result.token]), 1e-5);
  ASSERT_EQ(result.top_logprobs.size(), 3u);
  EXPECT_EQ(result.top_logprobs[0].token, 1);  // tie with 3 → lower id first
  EXPECT_EQ(result.top_logprobs[1].token, 3);
  EXPECT_EQ(result.top_logprobs[2].token, 0);
  for (const auto& e : result.top_logprobs) EXPECT_NEAR(e.logprob, std::log(probs[e.token]), 1e-5);

  SamplingParams q = seeded(8);
  Seq plain(q);
  EXPECT_TRUE(std::isnan(plain.sample(logits, kNoTokens, kNoTokens).logprob));
  EXPECT_TRUE(plain.sample(logits, kNoTokens, kNoTokens).top_logprobs.empty());
}

TEST(Sampler, ReusedResultDoesNotReallocate) {
  const auto logits = random_logits(32000, 9);
  SamplingParams p = seeded(4);
  p.logprobs = true;
  p.top_logprobs = 5;
  Seq sampler(p);
  SampleResult result;
  sampler.sample(logits, kNoTokens, kNoTokens, result);
  const auto* top_data = result.top_logprobs.data();
  const auto* work_data = sampler.penalized_logits().data();
  for (int i = 0; i < 10; ++i) sampler.sample(logits, kNoTokens, kNoTokens, result);
  EXPECT_EQ(result.top_logprobs.data(), top_data);
  EXPECT_EQ(sampler.penalized_logits().data(), work_data);
}

TEST(Sampler, RejectsBadParametersAndInputs) {
  auto bad = [](auto mutate) {
    SamplingParams p;
    mutate(p);
    EXPECT_THROW(validate_sampling_params(p), Error);
  };
  bad([](SamplingParams& p) { p.temperature = -0.1f; });
  bad([](SamplingParams& p) { p.temperature = NAN; });
  bad([](SamplingParams& p) { p.top_k = -2; });
  bad([](SamplingParams& p) { p.top_p = 0.0f; });
  bad([](SamplingParams& p) { p.top_p = 1.5f; });
  bad([](SamplingParams& p) { p.min_p = -0.5f; });
  bad([](SamplingParams& p) { p.repetition_penalty = 0.0f; });
  bad([](SamplingParams& p) { p.presence_penalty = 2.5f; });
  bad([](SamplingParams& p) { p.frequency_penalty = -3.0f; });
  bad([](SamplingParams& p) { p.top_logprobs = 21; });
  bad([](SamplingParams& p) { p.top_logprobs = 2; });  // without logprobs
  EXPECT_NO_THROW(validate_sampling_params(SamplingParams{}));

  SamplingParams p = seeded(1);
  p.repetition_penalty = 1.2f;
  Seq sampler(p);
  EXPECT_THROW(sampler.sample(std::vector<float>{}, kNoTokens, kNoTokens), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{0.0f, NAN}, kNoTokens, kNoTokens), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{-INFINITY, -INFINITY}, kNoTokens, kNoTokens), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{0.0f, 1.0f}, std::vector<int32_t>{0, 2}, kNoTokens), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{0.0f, 1.0f}, kNoTokens, std::vector<int32_t>{-1}), Error);
  // Still usable, with clean scratch state, after an error.
  sampler.sample(std::vector<float>{0.0f, 1.0f}, kNoTokens, kNoTokens);
  EXPECT_EQ(sampler.penalized_logits()[0], 0.0f);
  EXPECT_EQ(sampler.penalized_logits()[1], 1.0f);
}

TEST(Sampler, RawLogprobsByHand) {
  // Four equal logits: each has log(1/4); the top two are the two lowest ids.
  std::vector<TokenLogprob> top;
  EXPECT_NEAR(raw_logprobs(std::vector<float>{7.0f, 7.0f, 7.0f, 7.0f}, 2, 2, top), std::log(0.25), 1e-6);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].token, 0);
  EXPECT_EQ(top[1].token, 1);
  // log-softmax([0, ln 3]) = [ln 1/4, ln 3/4]; a masked token has -inf.
  const std::vector<float> logits = {0.0f, static_cast<float>(std::log(3.0)), -INFINITY};
  EXPECT_NEAR(raw_logprobs(logits, 0, 5, top), std::log(0.25), 1e-6);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].token, 1);
  EXPECT_NEAR(top[0].logprob, std::log(0.75), 1e-6);
  EXPECT_EQ(top[2].logprob, -INFINITY);
  raw_logprobs(logits, 1, 0, top);
  EXPECT_TRUE(top.empty());
  EXPECT_THROW(raw_logprobs(logits, 3, 0, top), Error);
}

namespace {

// The documented semantics written out plainly (full sorts, no shortcuts): penalties off, steps 3–7 on `logits`
// with the draw walking the kept set in ascending token id. Returns the token.
int32_t reference_draw(const std::vector<float>& logits, const SamplingParams& p, uint64_t step) {
  const size_t vocab = logits.size();
  const float inv_t = 1.0f / p.temperature;
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::sort(order.begin(), order.end(), by_logit);
  const size_t k = p.top_k > 0 && size_t(p.top_k) < vocab ? size_t(p.top_k) : vocab;
  order.resize(k);
  float best = -INFINITY;
  for (int32_t t : order) best = std::max(best, logits[t] * inv_t);
  std::vector<float> value(vocab, 0.0f);
  double total = 0;
  for (int32_t t : order) total += value[t] = std::exp(logits[t] * inv_t - best);
  if (p.top_p < 1.0f) {
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return value[a] > value[b] || (value[a] == value[b] && a < b); });
    double mass = 0;
    size_t n = 0;
    while (n < order.size()) {
      mass += value[order[n++]];
      if (mass >= double(p.top_p) * total) break;
    }
    order.resize(n);
  }
  std::vector<int32_t> kept;
  for (int32_t t : order)
    if (value[t] >= p.min_p * 1.0f) kept.push_back(t);
  std::sort(kept.begin(), kept.end());
  double sum = 0;
  for (int32_t t : kept) sum += value[t];
  const double r = Sampler::uniform_for_step(*p.seed, step) * sum;
  double cumulative = 0;
  for (int32_t t : kept)
    if (r < (cumulative += value[t])) return t;
  return kept.back();
}

}  // namespace

TEST(Sampler, DrawWalksTheKeptSetInTokenIdOrder) {
  // Every truncation path of the Sampler (top-k heap and nth_element, the nucleus histogram, min-p, the sort and
  // dense reorderings) against the plain reference, with the same uniforms: the tokens must be identical.
  struct Case {
    int32_t top_k;
    float top_p, min_p, temperature;
  };
  const std::vector<Case> cases = {{0, 1.0f, 0.0f, 1.0f},   {40, 1.0f, 0.0f, 0.7f},  {0, 0.9f, 0.0f, 1.0f},
                                   {0, 0.5f, 0.1f, 1.5f},   {40, 0.9f, 0.1f, 0.7f},  {1, 1.0f, 0.0f, 1.0f},
                                   {5000, 0.95f, 0.0f, 1.0f}, {0, 1.0f, 0.1f, 0.7f}, {2000, 1.0f, 0.0f, 1.5f},
                                   {0, 0.999f, 0.0f, 1.5f}};
  int checked = 0;
  for (size_t vocab : {size_t(1000), size_t(32000)}) {
    for (uint32_t trial = 0; trial < 6; ++trial) {
      auto logits = random_logits(vocab, 100 + trial, trial % 2 ? 1.0f : 4.0f);
      for (const Case& c : cases) {
        SamplingParams p = seeded(trial * 31 + 7, c.temperature);
        p.top_k = c.top_k;
        p.top_p = c.top_p;
        p.min_p = c.min_p;
        Sampler sampler;
        for (uint64_t step = 0; step < 4; ++step) {
          const std::vector<PenaltyEntry> none;
          SampleResult got;
          sampler.sample(p, logits, none, step, got);
          ASSERT_EQ(got.token, reference_draw(logits, p, step))
              << "vocab " << vocab << " trial " << trial << " top_k " << c.top_k << " top_p " << c.top_p
              << " min_p " << c.min_p << " T " << c.temperature << " step " << step;
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * 6 * 10 * 4);
}

TEST(Sampler, SparseHistoryGivesTheSameResultAsSpans) {
  std::mt19937 rng(5);
  const size_t vocab = 3000;
  for (int trial = 0; trial < 40; ++trial) {
    const auto logits = random_logits(vocab, 200 + trial, 2.0f);
    std::uniform_int_distribution<int32_t> token(0, 60);  // a small range: many repeats
    std::vector<int32_t> prompt(size_t(trial % 7) * 5), generated(size_t(trial % 5) * 6);
    for (auto& t : prompt) t = token(rng);
    for (auto& t : generated) t = token(rng);
    SamplingParams p = seeded(uint64_t(trial), trial % 3 == 0 ? 0.0f : 0.8f);
    p.repetition_penalty = trial % 2 ? 1.3f : 1.0f;
    p.presence_penalty = trial % 4 < 2 ? 0.4f : 0.0f;
    p.frequency_penalty = trial % 3 ? -0.3f : 0.2f;
    p.top_p = 0.9f;
    PenaltyHistory history;
    history.reset(prompt);
    for (int32_t t : generated) history.add(t);
    Sampler a, b;
    SampleResult ra, rb;
    a.sample(p, logits, prompt, generated, ra);
    b.sample(p, logits, history.entries(), generated.size(), rb);
    EXPECT_EQ(ra.token, rb.token) << "trial " << trial;
    for (size_t i = 0; i < vocab; ++i)
      ASSERT_EQ(a.penalized_logits()[i], b.penalized_logits()[i]) << "trial " << trial << " token " << i;
  }
  // Bad lists are errors and leave the workspace usable.
  SamplingParams p = seeded(1);
  p.presence_penalty = 0.5f;
  Sampler s;
  SampleResult r;
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  EXPECT_THROW(s.sample(p, logits, std::vector<PenaltyEntry>{{1, 1, 0}, {1, 2, 0}}, 0, r), Error);
  EXPECT_THROW(s.sample(p, logits, std::vector<PenaltyEntry>{{3, 1, 0}}, 0, r), Error);
  EXPECT_THROW(s.sample(p, logits, std::vector<PenaltyEntry>{{0, -1, 0}}, 0, r), Error);
  s.sample(p, logits, std::vector<PenaltyEntry>{{1, 1, 0}}, 0, r);
  EXPECT_EQ(s.penalized_logits()[1], 0.5f);
}
