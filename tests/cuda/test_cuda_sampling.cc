// Sampling on the device (runtime/ops/cuda/sampling_cuda.h) against the CPU Sampler (the reference): the shared
// uniform hash bit for bit; penalised logits exactly; greedy exactly; random draws over a grid of (logits, params,
// seed) cases, at least 99 % equal tokens (summation order differs, so a token at a rounding boundary may differ:
// every disagreement is printed); and the engine's ForwardOutput::sampling path on a fixture model (tokens equal
// the CPU Sampler's on the returned logits, logits returned only for the rows that ask). Needs a CUDA device.
//
// Run: test_cuda_engine --gtest_filter='CudaSampling*'
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda_test_util.h"
#include "runtime/engine.h"
#include "runtime/ops/cuda/sampling_cuda.h"
#include "runtime/random_tokens.h"
#include "runtime/sampler.h"
#include "test_paths.h"

using namespace banyan;
using cuda_test::Dev;

namespace {

// Logits of one test row: random normal (scale 3), peaked (a few tokens far above a scale-1 background) or flat
// (scale 0.3: large nuclei).
enum class Kind { Random, Peaked, Flat };
const char* kind_name(Kind k) { return k == Kind::Random ? "random" : k == Kind::Peaked ? "peaked" : "flat"; }

std::vector<float> make_logits(Kind kind, size_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, kind == Kind::Random ? 3.0f : kind == Kind::Peaked ? 1.0f : 0.3f);
  std::vector<float> v(vocab);
  for (auto& x : v) x = normal(rng);
  if (kind == Kind::Peaked) {
    std::uniform_int_distribution<size_t> tok(0, vocab - 1);
    std::uniform_real_distribution<float> lift(6.0f, 12.0f);
    for (int i = 0; i < 8; ++i) v[tok(rng)] += lift(rng);
  }
  return v;
}

struct RowCase {
  Kind kind;
  SamplingParams params;
  uint64_t step;
  std::vector<PenaltyEntry> history;
  std::string label;
};

std::string describe(const SamplingParams& p) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "T %.2f top_k %d top_p %.2f min_p %.2f rep %.2f pres %.2f freq %.2f seed %llu",
                double(p.temperature), p.top_k, double(p.top_p), double(p.min_p), double(p.repetition_penalty),
                double(p.presence_penalty), double(p.frequency_penalty), (unsigned long long)p.seed.value_or(0));
  return buf;
}

// The grid: kinds × top_k {vocab (0), 1, 40} × top_p {1, 0.9, 0.5} × min_p {0, 0.1} × penalties {off, on} ×
// temperature {0, 0.7, 1.5}, two (seed, step) draws each.
std::vector<RowCase> make_cases(size_t vocab) {
  std::vector<RowCase> cases;
  uint64_t seed = 1;
  for (Kind kind : {Kind::Random, Kind::Peaked, Kind::Flat})
    for (int32_t top_k : {0, 1, 40})
      for (float top_p : {1.0f, 0.9f, 0.5f})
        for (float min_p : {0.0f, 0.1f})
          for (bool penalties : {false, true})
            for (float temperature : {0.0f, 0.7f, 1.5f})
              for (int draw = 0; draw < 2; ++draw) {
                RowCase c;
                c.kind = kind;
                c.params.temperature = temperature;
                c.params.top_k = top_k;
                c.params.top_p = top_p;
                c.params.min_p = min_p;
                c.params.seed = seed * 0x9E3779B97F4A7C15ull;
                c.step = uint64_t(draw * 37 + seed % 5);
                if (penalties) {
                  c.params.repetition_penalty = 1.3f;
                  c.params.presence_penalty = 0.5f;
                  c.params.frequency_penalty = 0.25f;
                  std::mt19937 rng{uint32_t(seed)};
                  std::uniform_int_distribution<int32_t> tok(0, int32_t(vocab) - 1);
                  std::vector<int32_t> prompt(40), generated(c.step);
                  for (auto& t : prompt) t = tok(rng);
                  for (auto& t : generated) t = prompt[size_t(tok(rng)) % prompt.size()];  // repeats
                  PenaltyHistory h;
                  h.reset(prompt);
                  for (int32_t t : generated) h.add(t);
                  c.history.assign(h.entries().begin(), h.entries().end());
                }
                c.label = std::string(kind_name(kind)) + " " + describe(c.params) + " step " + std::to_string(c.step);
                cases.push_back(std::move(c));
                ++seed;
              }
  return cases;
}

// Skips without a device; owns stream_.
class CudaSampling : public cuda_test::StreamTest {};

}  // namespace

TEST_F(CudaSampling, UniformHashEqualsCpu) {
  std::vector<uint64_t> seeds, steps;
  std::mt19937_64 rng(3);
  for (uint64_t s : {uint64_t(0), uint64_t(1), ~uint64_t(0), uint64_t(1) << 63})
    for (uint64_t t : {uint64_t(0), uint64_t(1), uint64_t(4095), ~uint64_t(0)}) {
      seeds.push_back(s);
      steps.push_back(t);
    }
  for (int i = 0; i < 4000; ++i) {
    seeds.push_back(rng());
    steps.push_back(rng() % 100000);
  }
  const size_t n = seeds.size();
  Dev<uint64_t> d_seeds(n), d_steps(n);
  Dev<double> d_out(n);
  d_seeds.put(seeds.data(), n);
  d_steps.put(steps.data(), n);
  ops::cuda::uniform_for_steps(d_seeds.p, d_steps.p, int(n), d_out.p, stream_);
  ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
  const auto got = d_out.get(0, n);
  int bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const double want = Sampler::uniform_for_step(seeds[i], steps[i]);
    if (got[i] != want && bad++ < 10)
      ADD_FAILURE() << "uniform(" << seeds[i] << ", " << steps[i] << "): device " << got[i] << " cpu " << want;
  }
  EXPECT_EQ(bad, 0);
}

TEST_F(CudaSampling, AgreesWithCpuSampler) {
  int total = 0, equal = 0, greedy_total = 0, greedy_equal = 0;
  for (size_t vocab : {size_t(151936), size_t(1000), size_t(50257)}) {
    const auto cases = make_cases(vocab);
    constexpr size_t kBatch = 48;
    Dev<float> d_logits(kBatch * vocab);
    for (size_t at = 0; at < cases.size(); at += kBatch) {
      const size_t n = std::min(kBatch, cases.size() - at);
      std::vector<std::vector<float>> logits(n);
      std::vector<RowSampling> req(n);
      for (size_t i = 0; i < n; ++i) {
        const RowCase& c = cases[at + i];
        logits[i] = make_logits(c.kind, vocab, uint32_t(at + i + vocab));
        d_logits.put(logits[i].data(), vocab, i * vocab);
        req[i].params = &c.params;
        req[i].step = c.step;
        req[i].history = c.history;
      }
      ops::cuda::RowSampler sampler;
      std::vector<int32_t> tokens;
      sampler.sample(d_logits.p, int64_t(vocab), req, tokens, stream_);
      ASSERT_EQ(tokens.size(), n);
      Sampler cpu;
      SampleResult want;
      for (size_t i = 0; i < n; ++i) {
        const RowCase& c = cases[at + i];
        cpu.sample(c.params, logits[i], c.history, c.step, want);
        // The device penalised the row in place: it must equal the CPU's penalised logits exactly.
        const auto pen = d_logits.get(i * vocab, vocab);
        size_t pen_bad = 0;
        for (size_t t = 0; t < vocab; ++t) pen_bad += pen[t] != cpu.penalized_logits()[t];
        EXPECT_EQ(pen_bad, 0u) << "penalised logits differ (vocab " << vocab << "): " << c.label;
        const bool greedy = c.params.temperature < 1e-5f || c.params.top_k == 1;
        ++total;
        greedy_total += greedy;
        if (tokens[i] == want.token) {
          ++equal;
          greedy_equal += greedy;
        } else {
          const auto& pl = cpu.penalized_logits();
          auto lg = [&](int32_t t) { return t >= 0 && size_t(t) < vocab ? pl[size_t(t)] : NAN; };
          std::printf("DISAGREE vocab %zu %s: cpu %d (penalised logit %.7g) gpu %d (%.7g)\n", vocab,
                      c.label.c_str(), want.token, double(lg(want.token)), tokens[i], double(lg(tokens[i])));
        }
      }
    }
  }
  std::printf("CudaSampling.AgreesWithCpuSampler: %d / %d tokens equal (%.3f %%); greedy %d / %d\n", equal, total,
              100.0 * equal / std::max(total, 1), greedy_equal, greedy_total);
  EXPECT_EQ(greedy_equal, greedy_total);
  EXPECT_GE(double(equal), 0.99 * double(total));
}

TEST_F(CudaSampling, DrawFrequenciesFollowTheKeptDistribution) {
  // Many steps of one row: the device's empirical frequencies over a small vocabulary match the softmax of the
  // top-k set (statistical check, independent of the CPU implementation).
  const size_t vocab = 64, draws = 4096;
  std::vector<float> logits(vocab);
  for (size_t t = 0; t < vocab; ++t) logits[t] = float(std::sin(double(t))) * 2.0f;
  SamplingParams p;
  p.seed = 99;
  p.temperature = 0.8f;
  p.top_k = 10;
  std::vector<RowSampling> req(draws);
  Dev<float> d_logits(draws * vocab);
  for (size_t i = 0; i < draws; ++i) {
    d_logits.put(logits.data(), vocab, i * vocab);
    req[i].params = &p;
    req[i].step = i;
  }
  ops::cuda::RowSampler sampler;
  std::vector<int32_t> tokens;
  sampler.sample(d_logits.p, int64_t(vocab), req, tokens, stream_);
  std::vector<int32_t> order(vocab);
  for (size_t t = 0; t < vocab; ++t) order[t] = int32_t(t);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
  std::vector<double> prob(vocab, 0.0);
  double sum = 0;
  for (int i = 0; i < 10; ++i) sum += prob[size_t(order[size_t(i)])] = std::exp((logits[size_t(order[size_t(i)])] - logits[size_t(order[0])]) / 0.8);
  std::vector<int> count(vocab, 0);
  for (int32_t t : tokens) {
    ASSERT_TRUE(t >= 0 && size_t(t) < vocab);
    ++count[size_t(t)];
  }
  for (size_t t = 0; t < vocab; ++t) {
    const double q = prob[t] / sum, f = double(count[t]) / double(draws);
    if (q == 0) EXPECT_EQ(count[t], 0) << "token " << t << " is outside the top-k";
    else EXPECT_NEAR(f, q, 5 * std::sqrt(q * (1 - q) / double(draws)) + 1e-3) << "token " << t;
  }
}

TEST_F(CudaSampling, BadRowsAreErrors) {
  const size_t vocab = 300;
  std::vector<float> logits(2 * vocab, 0.5f);
  logits[vocab + 7] = NAN;
  Dev<float> d(2 * vocab);
  d.put(logits.data(), logits.size());
  SamplingParams p;
  p.seed = 1;
  std::vector<RowSampling> req(2);
  req[0].params = &p;
  req[1].params = &p;
  ops::cuda::RowSampler sampler;
  std::vector<int32_t> tokens;
  EXPECT_THROW(sampler.sample(d.p, int64_t(vocab), req, tokens, stream_), Error);
  req[1].params = nullptr;  // the NaN row is not sampled
  sampler.sample(d.p, int64_t(vocab), req, tokens, stream_);
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_GE(tokens[0], 0);
  EXPECT_EQ(tokens[1], -1);
}

// The engine path: one forward of a batch whose rows are sampled on the device, some also returning logits; the
// token of each such row equals the CPU Sampler's on the returned (raw) logits; rows without params keep their
// logits; then a few decode steps feeding the sampled tokens back (device → ids only).
// Both modes of EngineOptions::device_sampling: on the device, and the default (logits downloaded, CPU Sampler).
class CudaEngineSampling : public cuda_test::StreamTest, public ::testing::WithParamInterface<bool> {};

TEST_P(CudaEngineSampling, SampledRowsMatchTheCpuSampler) {
  const auto dir = test::fixtures_dir() / "models" / "qwen3_moe";
  EngineOptions opt;
  opt.threads = 4;
  opt.kv_cache_bytes = size_t(64) << 20;
  opt.device = "cuda";
  opt.device_sampling = GetParam();
  auto gpu = Engine::load(dir, opt);
  const int64_t V = gpu->spec().vocab_size;
  std::vector<SamplingParams> params(4);
  params[0].temperature = 0.0f;
  params[1].temperature = 0.8f;
  params[1].top_p = 0.95f;
  params[2].temperature = 1.2f;
  params[2].top_k = 20;
  params[2].repetition_penalty = 1.2f;
  params[2].frequency_penalty = 0.3f;
  params[3].temperature = 0.7f;
  params[3].min_p = 0.05f;
  for (size_t i = 0; i < params.size(); ++i) params[i].seed = 1000 + i;
  std::vector<BatchItem> batch;
  std::vector<PenaltyHistory> hist(params.size());
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < params.size(); ++i) {
    prompts.push_back(random_token_ids(5 + i * 3, V, uint32_t(40 + i)));
    hist[i].reset(prompts.back());
    batch.push_back({gpu->create_sequence(), prompts.back(), LogitsRequest::last(), nullptr, nullptr});
  }
  // A fifth item whose row is not sampled: its logits come back.
  batch.push_back({gpu->create_sequence(), random_token_ids(4, V, 77), LogitsRequest::last(), nullptr, nullptr});
  ForwardOutput out;
  Sampler cpu;
  SampleResult want;
  for (int step = 0; step < 6; ++step) {
    out.sampling.assign(batch.size(), RowSampling{});
    for (size_t i = 0; i < params.size(); ++i) {
      out.sampling[i].params = &params[i];
      out.sampling[i].step = uint64_t(step);
      out.sampling[i].history = hist[i].entries();
      out.sampling[i].logits = step % 2 == 0;  // even steps: also return the logits to check against the CPU
    }
    gpu->forward(batch, out);
    ASSERT_EQ(out.sampled.size(), batch.size());
    EXPECT_EQ(out.sampled.back(), -1);
    EXPECT_TRUE(std::isfinite(out.row(batch.size() - 1, 0)[0]));
    for (size_t i = 0; i < params.size(); ++i) {
      const int32_t got = out.sampled[i];
      ASSERT_TRUE(got >= 0 && got < V) << "item " << i << " step " << step;
      if (step % 2 == 0) {
        cpu.sample(params[i], out.row(i, 0), hist[i].entries(), uint64_t(step), want);
        EXPECT_EQ(got, want.token) << "item " << i << " step " << step << " " << describe(params[i]);
      }
      hist[i].add(got);
      batch[i].tokens = {got};
    }
    batch.back().tokens = {int32_t(step + 1)};
  }
  for (auto& b : batch) gpu->free_sequence(b.seq);
}
INSTANTIATE_TEST_SUITE_P(Modes, CudaEngineSampling, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "OnDevice" : "OnHost"; });
