// ops::cuda::moe_experts_with_norms (router taps with expert output norms) against the CPU reference
// ops::moe_experts: the combined output as moe_experts', and each assignment's squared output norm against the CPU
// op's own per-assignment rows (MoeScratch::expert_out, before the routing weight), then the per-expert sums the
// CUDA engine builds from them (Σ weight · √sumsq) against the CPU op's weighted_norm / token_count. fp32 and bf16
// experts, widths that take the 16-byte and the scalar loads, 1 to 40 tokens (every tile height of the grouped
// schedule; n ≤ 2 is where moe_experts would run the per-assignment one). Outputs are poisoned (NaN) first, so an
// unwritten element fails. Needs a CUDA device: skips without one.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "cuda_test_util.h"
#include "runtime/ops/cuda/moe_cuda.h"
#include "runtime/ops/moe.h"

namespace banyan::ops {
namespace {

using cuda_test::Dev;

class CudaMoeNorms : public cuda_test::StreamTest {};

// Expert stacks of E experts (hidden H, inter I) in the device layout ([E, 2I, H] gate then up rows, [E, H, I]),
// as fp32 or bf16 bits, with the CPU reference's views over the same host bytes.
struct Stacks {
  int64_t E, H, I;
  DType dtype;
  std::vector<float> gu_f32, down_f32;
  std::vector<uint16_t> gu_bf16, down_bf16;
  std::vector<ExpertWeights> views;

  Stacks(int64_t e, int64_t h, int64_t i, DType dt, uint64_t seed) : E(e), H(h), I(i), dtype(dt) {
    gu_f32.resize(size_t(E * 2 * I * H));
    down_f32.resize(size_t(E * H * I));
    cuda_test::fill_uniform(gu_f32.data(), gu_f32.size(), 1.0f / std::sqrt(float(H)), seed);
    cuda_test::fill_uniform(down_f32.data(), down_f32.size(), 1.0f / std::sqrt(float(I)), seed + 1);
    const uint8_t* gu = reinterpret_cast<const uint8_t*>(gu_f32.data());
    const uint8_t* dn = reinterpret_cast<const uint8_t*>(down_f32.data());
    size_t es = 4;
    if (dt == DType::BF16) {
      for (float v : gu_f32) gu_bf16.push_back(f32_to_bf16(v));
      for (float v : down_f32) down_bf16.push_back(f32_to_bf16(v));
      gu = reinterpret_cast<const uint8_t*>(gu_bf16.data());
      dn = reinterpret_cast<const uint8_t*>(down_bf16.data());
      es = 2;
    }
    for (int64_t x = 0; x < E; ++x) {
      ExpertWeights w;
      w.gate = Matrix{dt, gu + size_t(x * 2 * I * H) * es, I, H};
      w.up = Matrix{dt, gu + size_t((x * 2 + 1) * I * H) * es, I, H};
      w.down = Matrix{dt, dn + size_t(x * H * I) * es, H, I};
      views.push_back(w);
    }
  }
};

struct NormsResult {
  std::vector<float> out, sumsq;
};

template <class W>
NormsResult run_gpu(const Stacks& s, const Dev<float>& dx, int64_t n, int64_t ldx, const Dev<int32_t>& dids,
                    const Dev<float>& dw, int k, int64_t ldo, cudaStream_t stream) {
  const bool bf16 = s.dtype == DType::BF16;
  Dev<uint16_t> gu16(bf16 ? s.gu_bf16 : std::vector<uint16_t>{}), dn16(bf16 ? s.down_bf16 : std::vector<uint16_t>{});
  Dev<float> gu32(bf16 ? std::vector<float>{} : s.gu_f32), dn32(bf16 ? std::vector<float>{} : s.down_f32);
  cuda::ExpertStack<W> w;
  if constexpr (std::is_same_v<W, float>) {
    w.gate_up = gu32.p;
    w.down = dn32.p;
  } else {
    w.gate_up = reinterpret_cast<const W*>(gu16.p);
    w.down = reinterpret_cast<const W*>(dn16.p);
  }
  w.num_experts = s.E;
  w.hidden = s.H;
  w.inter = s.I;
  Dev<float> dout(size_t(n * ldo)), dss(size_t(n * k));
  dout.poison();
  dss.poison();
  cuda::MoeWorkspace ws;
  ws.reserve(cuda::moe_workspace_bytes(n, k, s.H, s.I));
  cuda::moe_experts_with_norms(w, dx.p, n, ldx, dids.p, dw.p, k, dout.p, ldo, dss.p, ws, stream);
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  return {dout.get(), dss.get()};
}

void check_case(const Stacks& s, int64_t n, int k, uint64_t seed, cudaStream_t stream) {
  SCOPED_TRACE(::testing::Message() << dtype_name(s.dtype) << " E=" << s.E << " H=" << s.H << " I=" << s.I
                                    << " n=" << n << " k=" << k);
  const int64_t H = s.H, ldx = H + 3, ldo = H + 5;
  const cuda_test::MoeCase c = cuda_test::moe_case(s.views, H, n, ldx, k, s.E, seed);
  // The CPU op again, keeping its per-assignment rows and its per-expert sums.
  OpContext ctx{&default_thread_pool()};
  MoeScratch scratch;
  std::vector<float> ref(size_t(n * H));
  std::vector<double> ref_norm(size_t(s.E), 0.0);
  std::vector<int64_t> ref_count(size_t(s.E), 0);
  moe_experts(ctx, c.x.data(), n, ldx, H, c.ids.data(), c.weights.data(), k, s.views, scratch, ref.data(), H,
              ref_norm.data(), ref_count.data());

  Dev<float> dx(c.x), dw(c.weights);
  Dev<int32_t> dids(c.ids);
  const NormsResult g = s.dtype == DType::BF16 ? run_gpu<__nv_bfloat16>(s, dx, n, ldx, dids, dw, k, ldo, stream)
                                               : run_gpu<float>(s, dx, n, ldx, dids, dw, k, ldo, stream);
  ASSERT_EQ(g.sumsq.size(), size_t(n * k));

  double max_ref = 0, worst = 0;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t o = 0; o < H; ++o) {
      const float v = g.out[size_t(t * ldo + o)];
      ASSERT_TRUE(std::isfinite(v)) << "out[" << t << ", " << o << "] not written";
      max_ref = std::max(max_ref, double(std::fabs(ref[size_t(t * H + o)])));
      worst = std::max(worst, std::fabs(double(v) - ref[size_t(t * H + o)]));
    }
  EXPECT_LE(worst, 1e-4 * max_ref) << "combined output";

  // Per assignment: the squared norm of the CPU's unweighted row (fp32 sums in another order, ~1e-6 relative;
  // 1e-3 allowed: a wrong row, a weighted row or a missing scale is off by far more).
  std::vector<double> norm(size_t(s.E), 0.0);
  std::vector<int64_t> count(size_t(s.E), 0);
  for (int64_t a = 0; a < n * k; ++a) {
    double want = 0;
    for (int64_t o = 0; o < H; ++o) {
      const double v = scratch.expert_out[size_t(a * H + o)];
      want += v * v;
    }
    const float got = g.sumsq[size_t(a)];
    ASSERT_TRUE(std::isfinite(got)) << "sumsq[" << a << "] not written";
    EXPECT_NEAR(got, want, 1e-3 * want + 1e-12) << "assignment " << a << " (expert " << c.ids[size_t(a)] << ")";
    norm[size_t(c.ids[size_t(a)])] += double(c.weights[size_t(a)]) * std::sqrt(double(got));
    ++count[size_t(c.ids[size_t(a)])];
  }
  EXPECT_EQ(count, ref_count);
  for (int64_t e = 0; e < s.E; ++e)
    EXPECT_NEAR(norm[size_t(e)], ref_norm[size_t(e)], 1e-3 * ref_norm[size_t(e)] + 1e-9) << "expert " << e;
}

TEST_F(CudaMoeNorms, MatchCpuReference) {
  for (DType dt : {DType::F32, DType::BF16}) {
    // H, I multiples of 8: 16-byte loads; 13 × 7: the scalar path.
    for (auto [H, I] : {std::pair<int64_t, int64_t>{64, 40}, {13, 7}}) {
      const Stacks s(8, H, I, dt, 1234 + uint64_t(H));
      uint64_t seed = 1;
      for (int64_t n : {1, 2, 5, 40})
        for (int k : {1, 2, 4}) check_case(s, n, k, seed++, stream_);
    }
  }
}

TEST_F(CudaMoeNorms, NullNormsIsAnError) {
  cuda::ExpertStack<float> w;
  Dev<float> dummy(16);
  w.gate_up = dummy.p;
  w.down = dummy.p;
  w.num_experts = 1;
  w.hidden = 2;
  w.inter = 2;
  Dev<int32_t> ids(std::vector<int32_t>{0});
  cuda::MoeWorkspace ws;
  ws.reserve(cuda::moe_workspace_bytes(1, 1, 2, 2));
  EXPECT_THROW(cuda::moe_experts_with_norms(w, dummy.p, 1, 2, ids.p, dummy.p, 1, dummy.p, 2, nullptr, ws, stream_),
               Error);
}

}  // namespace
}  // namespace banyan::ops
