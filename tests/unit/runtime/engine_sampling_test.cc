// ForwardOutput::sampling on the CPU engine (the reference for device engines): sampled tokens equal the CPU
// Sampler's on the row's logits, rows without params keep their logits, bad requests fail before any sequence
// changes.
#include <gtest/gtest.h>

#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/random_tokens.h"
#include "test_paths.h"

using namespace banyan;

TEST(EngineSampling, CpuEngineSamplesRequestedRows) {
  EngineOptions opt;
  opt.threads = 2;
  opt.kv_cache_bytes = size_t(16) << 20;
  auto e = Engine::load(test::fixtures_dir() / "models" / "qwen3_moe", opt);
  const int64_t V = e->spec().vocab_size;
  SamplingParams greedy, hot;
  greedy.temperature = 0.0f;
  greedy.seed = 1;
  hot.temperature = 1.3f;
  hot.top_p = 0.9f;
  hot.presence_penalty = 0.7f;
  hot.seed = 2;
  const auto p0 = random_token_ids(6, V, 1), p1 = random_token_ids(9, V, 2), p2 = random_token_ids(3, V, 3);
  PenaltyHistory h1;
  h1.reset(p1);
  h1.add(p1[0]);
  std::vector<BatchItem> batch{{e->create_sequence(), p0, LogitsRequest::last(), nullptr, nullptr},
                               {e->create_sequence(), p1, LogitsRequest::last(), nullptr, nullptr},
                               {e->create_sequence(), p2, LogitsRequest::all(), nullptr, nullptr}};
  ForwardOutput out;
  out.sampling.resize(5);  // rows: item 0, item 1, item 2 × 3
  out.sampling[0].params = &greedy;
  out.sampling[1] = {&hot, 1, h1.entries(), true};
  out.sampling[4] = {&hot, 0, {}, false};

  // A bad history fails the call before anything changes.
  const std::vector<PenaltyEntry> dup{{5, 1, 0}, {5, 1, 1}};
  out.sampling[4].history = dup;
  EXPECT_THROW(e->forward(batch, out), Error);
  for (const auto& b : batch) EXPECT_EQ(e->sequence_length(b.seq), 0);
  out.sampling[4].history = {};
  out.sampling.resize(4);  // one request short of the rows
  EXPECT_THROW(e->forward(batch, out), Error);
  out.sampling.resize(5);
  out.sampling[4] = {&hot, 0, {}, false};

  e->forward(batch, out);
  ASSERT_EQ(out.sampled.size(), 5u);
  Sampler cpu;
  SampleResult want;
  cpu.sample(greedy, out.row(0, 0), std::span<const PenaltyEntry>{}, 0, want);
  EXPECT_EQ(out.sampled[0], want.token);
  cpu.sample(hot, out.row(1, 0), h1.entries(), 1, want);
  EXPECT_EQ(out.sampled[1], want.token);
  cpu.sample(hot, out.row(2, 2), std::span<const PenaltyEntry>{}, 0, want);
  EXPECT_EQ(out.sampled[4], want.token);
  EXPECT_EQ(out.sampled[2], -1);
  EXPECT_EQ(out.sampled[3], -1);
  EXPECT_TRUE(out.returns_logits(1) && out.returns_logits(2) && !out.returns_logits(0) && !out.returns_logits(4));
  for (const auto& b : batch) e->free_sequence(b.seq);
}
