// FP8 (e4m3 + fp32 row scales) routed experts on the GPU (--expert-dtype fp8) against the CPU reference on the
// same quantised weights:
//  - kernels: ops::cuda::moe_experts<__nv_fp8_e4m3> vs ops::moe_experts over fp8_round_trip'd fp32 experts (the
//    values the fp8 bytes × scales stand for), decode path (n 1, 2) and grouped (n 8, 32, 64), k 8, at the
//    Qwen3-30B-A3B widths, a small multiple-of-16 shape and one that is not (264 / 72: the scalar fallback).
//    Outputs are poisoned (NaN) before each call; two runs must be bitwise equal.
//  - engine: the CUDA engine with fp8 experts vs the CPU engine with fp8 experts (EngineOptions::expert_dtype,
//    which holds the same dequantised values) on fixtures: logits (prefill, decode), greedy tokens and router
//    taps' expert output norms; and a
//    dummy-weight engine with fp8 experts (DeviceWeights::random) decoding batches 1 and 8 to finite logits.
// Each failure names the case (shape, n, path) and prints the error; every case prints a RESULT line.
#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "cuda_test_util.h"
#include "runtime/engine.h"
#include "runtime/ops/cuda/moe_cuda.h"
#include "runtime/ops/fp8.h"
#include "runtime/ops/moe.h"
#include "runtime/random_tokens.h"
#include "test_paths.h"

namespace banyan::ops {
namespace {

namespace fs = std::filesystem;

#define FP8_CUDA_OK(expr)                                                              \
  do {                                                                                 \
    const cudaError_t err_ = (expr);                                                   \
    ASSERT_EQ(err_, cudaSuccess) << #expr << ": " << cudaGetErrorString(err_);         \
  } while (0)

using namespace cuda_test;

struct Geometry {
  int64_t E, H, I;
};

// One expert stack: fp8 codes + scales on the device (quantised by ops::quantize_rows_e4m3, as the upload does)
// and the CPU reference's fp32 views of the dequantised values.
struct Fp8Stack {
  Geometry g;
  std::vector<float> ref_gate_up, ref_down;  // dequantised [E, 2I, H], [E, H, I]
  std::unique_ptr<Dev<uint8_t>> d_gate_up, d_down;
  std::unique_ptr<Dev<float>> d_gate_up_scale, d_down_scale;
  std::vector<ExpertWeights> views;

  Fp8Stack(Geometry geo, uint64_t seed) : g(geo) {
    const int64_t E = g.E, H = g.H, I = g.I;
    std::vector<float> gu(size_t(E * 2 * I * H)), dn(size_t(E * H * I));
    fill_uniform(gu.data(), gu.size(), 1.0f / std::sqrt(float(H)), seed);
    fill_uniform(dn.data(), dn.size(), 1.0f / std::sqrt(float(I)), seed + 1);
    // A few rows with a large outlier and one all-zero row: scales differ a lot between rows.
    for (int64_t e = 0; e < E; e += 3) gu[size_t((e * 2 * I + 1) * H + 3)] = 0.75f;
    std::fill(dn.begin() + H * I, dn.begin() + H * I + I, 0.0f);  // expert 1's down row 0 (every case has E ≥ 2)
    std::vector<uint8_t> q_gu(gu.size()), q_dn(dn.size());
    std::vector<float> s_gu(size_t(E * 2 * I)), s_dn(size_t(E * H));
    default_thread_pool().parallel_for(E, [&](int64_t b, int64_t end) {
      for (int64_t e = b; e < end; ++e) {
        // gate and up rows of expert e are contiguous ([2I, H]): one call covers both, as the upload's two do.
        quantize_rows_e4m3(Matrix{DType::F32, gu.data() + e * 2 * I * H, 2 * I, H}, q_gu.data() + e * 2 * I * H,
                           s_gu.data() + e * 2 * I);
        quantize_rows_e4m3(Matrix{DType::F32, dn.data() + e * H * I, H, I}, q_dn.data() + e * H * I,
                           s_dn.data() + e * H);
      }
    });
    ref_gate_up.resize(gu.size());
    ref_down.resize(dn.size());
    for (int64_t r = 0; r < E * 2 * I; ++r)
      dequantize_row_e4m3(q_gu.data() + r * H, s_gu[size_t(r)], H, ref_gate_up.data() + r * H);
    for (int64_t r = 0; r < E * H; ++r)
      dequantize_row_e4m3(q_dn.data() + r * I, s_dn[size_t(r)], I, ref_down.data() + r * I);
    d_gate_up = std::make_unique<Dev<uint8_t>>(q_gu);
    d_down = std::make_unique<Dev<uint8_t>>(q_dn);
    d_gate_up_scale = std::make_unique<Dev<float>>(s_gu);
    d_down_scale = std::make_unique<Dev<float>>(s_dn);
    for (int64_t e = 0; e < E; ++e) {
      ExpertWeights w;
      w.gate = Matrix{DType::F32, ref_gate_up.data() + e * 2 * I * H, I, H};
      w.up = Matrix{DType::F32, ref_gate_up.data() + (e * 2 + 1) * I * H, I, H};
      w.down = Matrix{DType::F32, ref_down.data() + e * H * I, H, I};
      views.push_back(w);
    }
  }
  cuda::ExpertStack<__nv_fp8_e4m3> stack() const {
    cuda::ExpertStack<__nv_fp8_e4m3> s;
    s.gate_up = reinterpret_cast<const __nv_fp8_e4m3*>(d_gate_up->p);
    s.down = reinterpret_cast<const __nv_fp8_e4m3*>(d_down->p);
    s.num_experts = g.E;
    s.hidden = g.H;
    s.inter = g.I;
    s.gate_up_scale = d_gate_up_scale->p;
    s.down_scale = d_down_scale->p;
    return s;
  }
};

constexpr double kTolerance = 1e-4;  // of max |reference|: same weights, fp32 sums in another order

void check_case(const Fp8Stack& s, int64_t n, int k, uint64_t seed) {
  const int64_t H = s.g.H, ldx = H + 3, ldo = H + 5;
  const char* path = n <= 2 ? "decode (per assignment)" : "grouped";
  const bool vec = H % 16 == 0 && s.g.I % 16 == 0;
  SCOPED_TRACE(::testing::Message() << "fp8 moe E=" << s.g.E << " H=" << H << " I=" << s.g.I << " n=" << n
                                    << " k=" << k << " path=" << path << (vec ? " 16-byte loads" : " scalar fallback"));
  const auto [x, ids, weights, ref] = moe_case(s.views, H, n, ldx, k, s.g.E, seed);

  Dev<float> dx(x), dw(weights), dout(size_t(n * ldo));
  Dev<int32_t> dids(ids);
  ASSERT_TRUE(dx.p && dw.p && dout.p && dids.p) << "cudaMalloc failed";
  cuda::MoeWorkspace ws;
  ws.reserve(cuda::moe_workspace_bytes(n, k, H, s.g.I));
  std::vector<float> got[2];
  for (int rep = 0; rep < 2; ++rep) {
    FP8_CUDA_OK(cudaMemset(dout.p, 0xff, dout.n * sizeof(float)));  // NaN: unwritten outputs show
    cuda::moe_experts(s.stack(), dx.p, n, ldx, dids.p, dw.p, k, dout.p, ldo, ws, nullptr);
    FP8_CUDA_OK(cudaDeviceSynchronize());
    got[rep].resize(dout.n);
    FP8_CUDA_OK(cudaMemcpy(got[rep].data(), dout.p, dout.n * sizeof(float), cudaMemcpyDeviceToHost));
  }
  double max_ref = 0, max_err = 0;
  int64_t first_bad = -1;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t o = 0; o < H; ++o) {
      const float g = got[0][size_t(t * ldo + o)], f = ref[size_t(t * H + o)];
      if (!std::isfinite(g) && first_bad < 0) first_bad = t * H + o;
      max_ref = std::max(max_ref, double(std::fabs(f)));
      max_err = std::max(max_err, double(std::fabs(g - f)));
    }
  const double rel = max_ref > 0 ? max_err / max_ref : max_err;
  std::printf("RESULT fp8 moe E=%lld H=%lld I=%lld n=%lld k=%d path=%s%s max_rel_err=%.3g\n", (long long)s.g.E,
              (long long)H, (long long)s.g.I, (long long)n, k, path, vec ? "" : " (scalar)", rel);
  EXPECT_EQ(first_bad, -1) << "output element (token " << first_bad / H << ", row " << first_bad % H
                           << ") not written or not finite";
  EXPECT_LE(rel, kTolerance) << "max |gpu - cpu| " << max_err << " vs max |cpu| " << max_ref;
  EXPECT_GT(max_ref, 0.0) << "reference is all zero: the case tests nothing";
  bool same = true;
  for (int64_t t = 0; t < n; ++t)
    same = same && std::memcmp(got[0].data() + t * ldo, got[1].data() + t * ldo, size_t(H) * 4) == 0;
  EXPECT_TRUE(same) << "two runs differ";
}

TEST(CudaFp8Moe, QwenGeometryMatchesCpuReference) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  const Fp8Stack s({128, 2048, 768}, 11);
  uint64_t seed = 100;
  for (int64_t n : {1, 2, 8, 32, 64}) check_case(s, n, 8, seed++);
}

TEST(CudaFp8Moe, SmallShapesMatchCpuReference) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  uint64_t seed = 500;
  // 256/128: 16-byte loads; 264/72 (multiples of 8, not 16): the scalar fallback; 48/16: one chunk per lane or less.
  for (Geometry g : {Geometry{16, 256, 128}, Geometry{16, 264, 72}, Geometry{12, 48, 16}}) {
    const Fp8Stack s(g, seed);
    for (int64_t n : {1, 2, 8, 32, 64}) check_case(s, n, 8, seed++);
  }
}

TEST(CudaFp8Moe, MissingScalesAreAnError) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  const Fp8Stack s({4, 32, 16}, 3);
  auto st = s.stack();
  st.down_scale = nullptr;
  Dev<float> dx(size_t(32)), dw(size_t(2)), dout(size_t(32));
  Dev<int32_t> dids(std::vector<int32_t>{0, 1});
  cuda::MoeWorkspace ws;
  ws.reserve(cuda::moe_workspace_bytes(1, 2, 32, 16));
  EXPECT_THROW(cuda::moe_experts(st, dx.p, 1, 32, dids.p, dw.p, 2, dout.p, 32, ws, nullptr), Error);
}

// ---------------------------------------------------------------- engine

void expect_near(std::span<const float> got, std::span<const float> want, float tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const float scale = tol * std::max(max_abs(want), 1e-6f);
  float worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::isfinite(got[i]) ? std::fabs(got[i] - want[i]) : INFINITY);
  std::printf("RESULT fp8 engine %s max_abs_diff=%.3g max_ref=%.3g\n", what.c_str(), worst, max_abs(want));
  EXPECT_LE(worst, scale) << what << ": max |diff| " << worst << " vs max|ref| " << max_abs(want);
}

using EngineCase = ModelCase;

// The same checkpoint with fp8 experts on the CPU engine (dequantised, the reference) and on the CUDA engine.
std::pair<std::unique_ptr<Engine>, std::unique_ptr<Engine>> fp8_engine_pair(const std::filesystem::path& dir) {
  EngineOptions opt;
  opt.threads = 4;
  opt.kv_cache_bytes = size_t(64) << 20;
  opt.expert_dtype = DType::F8_E4M3;
  auto cpu = Engine::load(dir, opt);
  opt.device = "cuda";
  return {std::move(cpu), Engine::load(dir, opt)};
}

class CudaFp8Engine : public ::testing::TestWithParam<EngineCase> {};

// CPU engine (fp8 experts dequantised to fp32) vs CUDA engine (fp8 bytes + scales, the fp8 kernels).
TEST_P(CudaFp8Engine, MatchesCpuEngineWithTheSameExperts) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  const EngineCase& c = GetParam();
  auto [cpu, gpu] = fp8_engine_pair(c.dir);
  const int64_t V = cpu->spec().vocab_size;
  // Prefill of 24 (grouped MoE path), all rows.
  const auto ids = random_token_ids(40, V, 7);
  {
    SeqId a = cpu->create_sequence(), b = gpu->create_sequence();
    const std::vector<int32_t> p(ids.begin(), ids.begin() + 24);
    expect_near(step(*gpu, b, p, LogitsRequest::all()), step(*cpu, a, p, LogitsRequest::all()), c.tol,
                c.name + " prefill 24");
    // Decode steps (per-assignment MoE path; graph replay after the first).
    for (size_t t = 24; t < 32; ++t)
      expect_near(step(*gpu, b, {ids[t]}), step(*cpu, a, {ids[t]}), c.tol, c.name + " decode at " + std::to_string(t));
    cpu->free_sequence(a);
    gpu->free_sequence(b);
  }
  const auto prompt = random_token_ids(6, V, 11);
  EXPECT_EQ(greedy(*gpu, prompt, 16, true), greedy(*cpu, prompt, 16, false)) << c.name << ": greedy tokens differ";
  // A batch of 8 decode steps (grouped path, graph bucket 8) against each sequence alone on the CPU.
  std::vector<SeqId> sg, sc;
  for (int i = 0; i < 8; ++i) {
    const auto p = random_token_ids(size_t(3 + i), V, uint32_t(60 + i));
    sg.push_back(gpu->create_sequence());
    sc.push_back(cpu->create_sequence());
    step(*gpu, sg.back(), p);
    step(*cpu, sc.back(), p);
  }
  for (int t = 0; t < 3; ++t) {
    const auto next = random_token_ids(8, V, uint32_t(90 + t));
    const auto lg = step_batch(*gpu, sg, next), lc = step_batch(*cpu, sc, next);
    expect_near(lg, lc, c.tol, c.name + " batch 8 step " + std::to_string(t));
  }
}

// Router taps with expert output norms through the fp8 experts (their down rows' scales are in each assignment's
// output before its norm is taken): a prefill of 16 and a one-token prefill, against the CPU fp8 engine.
TEST_P(CudaFp8Engine, ExpertOutputNormsMatchCpu) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  const EngineCase& c = GetParam();
  auto [cpu, gpu] = fp8_engine_pair(c.dir);
  for (size_t n : {1, 16}) {
    const auto ids = random_token_ids(n, cpu->spec().vocab_size, uint32_t(30 + n));
    RouterTapRequest tg = norm_taps(), tc = norm_taps();
    for (auto [e, t] : {std::pair<Engine*, RouterTapRequest*>{gpu.get(), &tg}, {cpu.get(), &tc}}) {
      SeqId s = e->create_sequence();
      BatchItem item{s, ids, LogitsRequest::last(), nullptr, t};
      ForwardOutput out;
      e->forward(std::span<BatchItem>(&item, 1), out);
      e->free_sequence(s);
    }
    compare_norm_taps(tg, tc, cpu->spec().num_experts, c.tol, c.name + " fp8 norms, " + std::to_string(n) + " tokens");
  }
}

// The fp8 engine really differs from the unquantised one (the option is not ignored on the device).
TEST_P(CudaFp8Engine, DiffersFromUnquantisedExperts) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  const EngineCase& c = GetParam();
  EngineOptions opt;
  opt.threads = 4;
  opt.kv_cache_bytes = size_t(64) << 20;
  opt.device = "cuda";
  auto plain = Engine::load(c.dir, opt);
  opt.expert_dtype = DType::F8_E4M3;
  auto fp8 = Engine::load(c.dir, opt);
  const auto ids = random_token_ids(12, plain->spec().vocab_size, 5);
  SeqId a = plain->create_sequence(), b = fp8->create_sequence();
  const auto la = step(*plain, a, ids, LogitsRequest::all()), lb = step(*fp8, b, ids, LogitsRequest::all());
  float worst = 0;
  for (size_t i = 0; i < la.size(); ++i) worst = std::max(worst, std::fabs(la[i] - lb[i]));
  std::printf("RESULT fp8 engine %s fp8 vs unquantised max_abs_diff=%.3g max_ref=%.3g\n", c.name.c_str(), worst,
              max_abs(la));
  EXPECT_GT(worst, 0.0f) << "fp8 experts gave the unquantised logits: the option was ignored";
  // Loose: fp8 moves a logit by up to ~19 % of max |logit| on the CPU (demo model, routing flips).
  EXPECT_LT(worst, 0.5f * max_abs(la));
}

std::vector<EngineCase> engine_cases() {
  const fs::path f = test::fixtures_dir() / "models";
  return with_demo_model(
      {{"qwen3_moe", f / "qwen3_moe", 1e-4f}, {"mixtral", f / "mixtral", 1e-4f}, {"qwen2_moe", f / "qwen2_moe", 1e-4f}},
      test::source_dir());
}

INSTANTIATE_TEST_SUITE_P(Models, CudaFp8Engine, ::testing::ValuesIn(engine_cases()),
                         [](const auto& info) { return info.param.name; });

// Dummy weights with fp8 experts (DeviceWeights::random): decode batches 1 and 8 (per-assignment and grouped
// paths, graphs) give finite logits; the fixture's geometry, so it is quick.
TEST(CudaFp8Dummy, DecodesToFiniteLogits) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  EngineOptions opt;
  opt.device = "cuda";
  opt.kv_cache_bytes = size_t(64) << 20;
  opt.expert_dtype = DType::F8_E4M3;
  auto e = Engine::load_dummy(test::fixtures_dir() / "models" / "qwen3_moe" / "config.json", opt);
  const int64_t V = e->spec().vocab_size;
  for (int batch : {1, 8}) {
    std::vector<BatchItem> items;
    for (int i = 0; i < batch; ++i) {
      items.push_back({e->create_sequence(), random_token_ids(5, V, uint32_t(i + 1)), LogitsRequest::last(), nullptr,
                       nullptr});
      ForwardOutput out;
      e->forward(std::span<BatchItem>(&items.back(), 1), out);
      items.back().tokens = {1};
    }
    for (int s = 0; s < 4; ++s) {
      ForwardOutput out;
      e->forward(items, out);
      ASSERT_EQ(out.logits.size(), size_t(batch * V));
      for (float v : out.logits) ASSERT_TRUE(std::isfinite(v)) << "batch " << batch << " step " << s;
      for (int i = 0; i < batch; ++i) {
        auto row = out.row(size_t(i), 0);
        items[size_t(i)].tokens = {int32_t(std::max_element(row.begin(), row.end()) - row.begin())};
      }
    }
    for (auto& it : items) e->free_sequence(it.seq);
  }
}

}  // namespace
}  // namespace banyan::ops
