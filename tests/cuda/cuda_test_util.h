// Helpers shared by the GPU tests in tests/cuda (test_cuda_*.cc in test_cuda_engine, test_kernels_moe_attention.cc
// in test_kernels_cuda): each was once copied into several of those files. Header-only; test code only.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "runtime/engine.h"
#include "runtime/ops/moe.h"

namespace banyan::cuda_test {

// Every GPU test skips on a machine without a CUDA device (CI builds these binaries but has no GPU).
inline bool have_device() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// A device array of `n` T (a copy of a host vector, or uninitialised) that frees itself, so a failed check cannot
// leak device memory. A failed cudaMalloc is a test failure and leaves p null.
template <class T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) {
    const cudaError_t err = cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T));
    EXPECT_EQ(err, cudaSuccess);
    if (err != cudaSuccess) p = nullptr;
  }
  explicit Dev(const std::vector<T>& v) : Dev(v.size()) {
    if (p) {
      EXPECT_EQ(cudaMemcpy(p, v.data(), n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    }
  }
  ~Dev() {
    if (p) cudaFree(p);
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  // Uploads `count` elements to [at, at + count).
  void put(const T* src, size_t count, size_t at = 0) {
    ASSERT_EQ(cudaMemcpy(p + at, src, count * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  // Downloads [at, at + count), or the whole array.
  std::vector<T> get(size_t at, size_t count) const {
    std::vector<T> v(count);
    EXPECT_EQ(cudaMemcpy(v.data(), p + at, count * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }
  std::vector<T> get() const { return get(0, n); }
  void poison() { EXPECT_EQ(cudaMemset(p, 0xff, n * sizeof(T)), cudaSuccess); }  // NaN for floats, -1 for ints
};

// A fixture for op tests: skips without a device and owns a stream for the ops to run on.
class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_device()) GTEST_SKIP() << "no CUDA device";
    ASSERT_EQ(cudaStreamCreate(&stream_), cudaSuccess);
  }
  void TearDown() override {
    if (stream_) cudaStreamDestroy(stream_);
  }
  cudaStream_t stream_ = nullptr;
};

// Uniform [-a, a) (xorshift per 64 Ki block, threads over blocks): expert stacks at the 30B widths run to gigabytes,
// where std::mt19937 would dominate the test.
inline void fill_uniform(float* dst, size_t n, float a, uint64_t seed) {
  default_thread_pool().parallel_for(int64_t((n + 65535) / 65536), [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      uint64_t s = seed * 0x9E3779B97F4A7C15ull + uint64_t(blk) * 0xD1B54A32D192ED03ull + 1;
      const size_t lo = size_t(blk) * 65536, hi = std::min(n, lo + 65536);
      for (size_t i = lo; i < hi; ++i) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        dst[i] = (float(s >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * a;
      }
    }
  });
}

// Router-like ids for the MoE kernels: k distinct experts per token, drawn from the first `pool` experts.
inline std::vector<int32_t> random_ids(int64_t n, int k, int64_t pool, std::mt19937& rng) {
  std::vector<int32_t> ids(size_t(n * k));
  std::vector<int32_t> perm(static_cast<size_t>(pool));
  for (int64_t t = 0; t < n; ++t) {
    std::iota(perm.begin(), perm.end(), 0);
    for (int j = 0; j < k; ++j) {
      std::uniform_int_distribution<int64_t> pick(j, pool - 1);
      std::swap(perm[size_t(j)], perm[size_t(pick(rng))]);
      ids[size_t(t * k + j)] = perm[size_t(j)];
    }
  }
  return ids;
}

// One MoE kernel case, as both kernel tests draw it (so a seed gives the same case everywhere): x [n rows, ldx
// apart] uniform in [-1, 1), router-like ids over the first `pool` experts, weights uniform in [0, 1), and the CPU
// reference output [n, H] of ops::moe_experts over `views`.
struct MoeCase {
  std::vector<float> x;
  std::vector<int32_t> ids;
  std::vector<float> weights, ref;
};
inline MoeCase moe_case(std::span<const ops::ExpertWeights> views, int64_t H, int64_t n, int64_t ldx, int k,
                        int64_t pool, uint64_t seed) {
  MoeCase c;
  std::mt19937 rng{uint32_t(seed)};
  c.x.resize(size_t(n * ldx));
  fill_uniform(c.x.data(), c.x.size(), 1.0f, seed + 7);
  c.ids = random_ids(n, k, pool, rng);
  c.weights.resize(size_t(n * k));
  std::uniform_real_distribution<float> uw(0.0f, 1.0f);
  for (float& w : c.weights) w = uw(rng);
  ops::OpContext ctx{&default_thread_pool()};
  ops::MoeScratch scratch;
  c.ref.resize(size_t(n * H));
  ops::moe_experts(ctx, c.x.data(), n, ldx, H, c.ids.data(), c.weights.data(), k, views, scratch, c.ref.data(), H);
  return c;
}

// A model an engine test runs on, with its logit tolerance relative to the reference's max |logit|.
struct ModelCase {
  std::string name;
  std::filesystem::path dir;  // the engine test's packed bundle: empty, written by the suite
  float tol;
};

// The engine tests' fixture cases plus the bf16 demo model (tolerance 1e-2) where its weights are present under
// source_dir (they are not committed).
inline std::vector<ModelCase> with_demo_model(std::vector<ModelCase> c, const std::filesystem::path& source_dir) {
  const std::filesystem::path demo = source_dir / "models" / "demo";
  if (std::filesystem::exists(demo / "model.safetensors")) c.push_back({"demo_bf16", demo, 1e-2f});
  return c;
}

// The scale of the engine tests' tolerances: max |v| over a row of logits or weights.
inline float max_abs(std::span<const float> v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

// Engine tests compare the CUDA engine with the CPU one step by step: one forward of `ids` on sequence s; returns
// the requested logits (the last row by default).
inline std::vector<float> step(Engine& e, SeqId s, std::vector<int32_t> ids,
                               LogitsRequest req = LogitsRequest::last()) {
  BatchItem item{s, std::move(ids), std::move(req), nullptr, nullptr};
  ForwardOutput out;
  e.forward(std::span<BatchItem>(&item, 1), out);
  return out.logits;
}

// One decode step of a batch: token next[i] on sequence seqs[i], in one forward; the last-row logits of each item.
inline std::vector<float> step_batch(Engine& e, const std::vector<SeqId>& seqs, const std::vector<int32_t>& next) {
  std::vector<BatchItem> batch;
  for (size_t i = 0; i < seqs.size(); ++i) batch.push_back({seqs[i], {next[i]}, LogitsRequest::last(), nullptr, nullptr});
  ForwardOutput out;
  e.forward(batch, out);
  return out.logits;
}

// Greedy decode of n tokens after `prompt` on a fresh sequence: the CPU engine from downloaded logits, the device
// through argmax_only (so both greedy paths are compared).
inline std::vector<int32_t> greedy(Engine& e, const std::vector<int32_t>& prompt, int n, bool argmax_only) {
  SeqId s = e.create_sequence();
  std::vector<int32_t> next = prompt, got;
  for (int i = 0; i < n; ++i) {
    BatchItem item{s, next, LogitsRequest::last(), nullptr, nullptr};
    ForwardOutput out;
    out.argmax_only = argmax_only;
    e.forward(std::span<BatchItem>(&item, 1), out);
    int32_t id;
    if (argmax_only) {
      id = out.argmax.at(0);
    } else {
      auto row = out.row(0, 0);
      id = int32_t(std::max_element(row.begin(), row.end()) - row.begin());
    }
    got.push_back(id);
    next = {id};
  }
  e.free_sequence(s);
  return got;
}

// Router taps with expert output norms (RouterTapRequest::expert_output_norms), the CUDA engine's against the CPU
// engine's (test_cuda_engine.cc, "router taps with expert output norms", says why the comparison has this shape).
//
// One layer: checks the GPU tap's own consistency (counts equal its ids' histogram, norms finite, ≥ 0 and zero
// exactly for unrouted experts) and compares it with the CPU tap: experts routed the same tokens on both must have
// equal counts and norms within rtol; returns the number of experts skipped because their tokens differ.
inline int compare_norm_tap(const RouterTap& g, const RouterTap& c, int64_t E, double rtol, const std::string& what) {
  SCOPED_TRACE(what + ", layer " + std::to_string(c.layer));
  EXPECT_EQ(g.layer, c.layer);
  EXPECT_EQ(g.k, c.k);
  if (g.weighted_output_norm.size() != size_t(E) || g.token_count.size() != size_t(E) ||
      c.weighted_output_norm.size() != size_t(E) || c.token_count.size() != size_t(E) || g.k != c.k ||
      g.ids.size() != c.ids.size() || g.k <= 0) {
    ADD_FAILURE() << "norm taps of " << g.weighted_output_norm.size() << " / " << c.weighted_output_norm.size()
                  << " experts, counts of " << g.token_count.size() << " / " << c.token_count.size() << ", k " << g.k
                  << " / " << c.k << ", expected " << E;
    return int(E);
  }
  const int k = g.k;
  const int64_t T = int64_t(g.ids.size()) / k;
  std::vector<int64_t> hist(size_t(E), 0);
  std::vector<std::vector<uint8_t>> in_g(size_t(E), std::vector<uint8_t>(size_t(T), 0)), in_c = in_g;
  for (int64_t t = 0; t < T; ++t)
    for (int j = 0; j < k; ++j) {
      const int32_t eg = g.ids[size_t(t * k + j)], ec = c.ids[size_t(t * k + j)];
      EXPECT_TRUE(eg >= 0 && eg < E) << eg;
      if (eg < 0 || eg >= E || ec < 0 || ec >= E) continue;
      ++hist[size_t(eg)];
      in_g[size_t(eg)][size_t(t)] = 1;
      in_c[size_t(ec)][size_t(t)] = 1;
    }
  double max_ref = 0;
  for (double v : c.weighted_output_norm) max_ref = std::max(max_ref, v);
  int skipped = 0;
  for (int64_t e = 0; e < E; ++e) {
    const double gn = g.weighted_output_norm[size_t(e)], cn = c.weighted_output_norm[size_t(e)];
    EXPECT_EQ(g.token_count[size_t(e)], hist[size_t(e)]) << "expert " << e << ": count vs the tap's own ids";
    EXPECT_TRUE(std::isfinite(gn) && gn >= 0) << "expert " << e << ": " << gn;
    if (hist[size_t(e)] == 0) {
      EXPECT_EQ(gn, 0.0) << "expert " << e << " was not routed to";
    }
    if (in_g[size_t(e)] != in_c[size_t(e)]) {
      ++skipped;
      continue;
    }
    EXPECT_EQ(g.token_count[size_t(e)], c.token_count[size_t(e)]) << "expert " << e;
    EXPECT_LE(std::fabs(gn - cn), rtol * std::max(cn, 1e-3 * max_ref))
        << "expert " << e << ": weighted output norm " << gn << " vs cpu " << cn;
  }
  return skipped;
}

// Every layer of two requests, at 10 × the model's logit tolerance `tol`; experts skipped for near-ties are allowed
// only on a bf16 model (tol ≥ 1e-3), and at most a tenth of the routed (layer, expert) pairs.
inline void compare_norm_taps(const RouterTapRequest& g, const RouterTapRequest& c, int64_t E, float tol,
                              const std::string& what) {
  ASSERT_EQ(g.taps.size(), c.taps.size()) << what;
  ASSERT_FALSE(c.taps.empty()) << what;
  int skipped = 0, routed = 0;
  for (size_t i = 0; i < c.taps.size(); ++i) {
    skipped += compare_norm_tap(g.taps[i], c.taps[i], E, 10.0 * tol, what);
    for (int64_t n : c.taps[i].token_count) routed += n > 0;
  }
  if (tol < 1e-3f) {
    EXPECT_EQ(skipped, 0) << what << ": experts routed differently on an fp32 model";
  } else {
    EXPECT_LE(skipped * 10, std::max(routed, 10)) << what << ": " << skipped << " of " << routed << " differ";
  }
}

// A tap request with expert output norms on `layers` (empty: every MoE layer).
inline RouterTapRequest norm_taps(std::vector<int> layers = {}) {
  RouterTapRequest t;
  t.layers = std::move(layers);
  t.expert_output_norms = true;
  return t;
}

}  // namespace banyan::cuda_test
