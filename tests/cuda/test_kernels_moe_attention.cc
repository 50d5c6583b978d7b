// The CUDA routed-expert and paged-attention kernels against their CPU reference ops (ops::moe_experts,
// ops::attention) on fresh random data: every case reports max |gpu − cpu| / max |cpu| and must stay under the
// tolerance. Outputs are poisoned (NaN) before each call, so an unwritten element fails; MoE is also run twice
// and must be bitwise identical (deterministic schedules). Needs a CUDA device: skips without one.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "cuda_test_util.h"
#include "runtime/ops/attention.h"
#include "runtime/ops/cuda/attention_cuda.h"
#include "runtime/ops/cuda/moe_cuda.h"
#include "runtime/ops/moe.h"

namespace banyan::ops {
namespace {

#define CUDA_OK(expr)                                                                  \
  do {                                                                                 \
    const cudaError_t err_ = (expr);                                                   \
    ASSERT_EQ(err_, cudaSuccess) << #expr << ": " << cudaGetErrorString(err_);         \
  } while (0)

using cuda_test::fill_uniform;
using cuda_test::have_device;
using cuda_test::moe_case;

// A device buffer that frees itself.
struct DeviceBuffer {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t n) : bytes(n) {
    if (cudaMalloc(&p, std::max<size_t>(n, 1)) != cudaSuccess) p = nullptr;
  }
  ~DeviceBuffer() {
    if (p) cudaFree(p);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

double rel_error(const std::vector<float>& got, const std::vector<float>& ref, size_t rows, size_t cols,
                 size_t ld_got, size_t ld_ref, bool* all_finite) {
  double max_ref = 0.0, max_err = 0.0;
  *all_finite = true;
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) {
      const float g = got[r * ld_got + c], f = ref[r * ld_ref + c];
      if (!std::isfinite(g)) *all_finite = false;
      max_ref = std::max(max_ref, double(std::fabs(f)));
      max_err = std::max(max_err, double(std::fabs(g - f)));
    }
  return max_ref > 0 ? max_err / max_ref : max_err;
}

// ---------------------------------------------------------------- MoE

struct MoeGeometry {
  int64_t E, H, I;
};

void to_bf16(const std::vector<float>& src, std::vector<uint16_t>& dst) {
  default_thread_pool().parallel_for(int64_t((src.size() + 65535) / 65536), [&](int64_t b, int64_t e) {
    for (size_t i = size_t(b) * 65536; i < std::min(src.size(), size_t(e) * 65536); ++i) dst[i] = f32_to_bf16(src[i]);
  });
}

// One expert stack on the host (f32 master copy, bf16 bits when asked) and on the device.
struct MoeStack {
  MoeGeometry g;
  DType dtype;
  std::vector<float> gate_up_f32, down_f32;  // [E, 2I, H], [E, H, I]
  std::vector<uint16_t> gate_up_bf16, down_bf16;
  std::unique_ptr<DeviceBuffer> d_gate_up, d_down;
  std::vector<ExpertWeights> views;  // CPU reference views over the same host data

  MoeStack(MoeGeometry geo, DType dt, uint64_t seed) : g(geo), dtype(dt) {
    const size_t n_gu = size_t(g.E * 2 * g.I * g.H), n_d = size_t(g.E * g.H * g.I);
    gate_up_f32.resize(n_gu);
    down_f32.resize(n_d);
    fill_uniform(gate_up_f32.data(), n_gu, 1.0f / std::sqrt(float(g.H)), seed);
    fill_uniform(down_f32.data(), n_d, 1.0f / std::sqrt(float(g.I)), seed + 1);
    const size_t es = dt == DType::BF16 ? 2 : 4;
    d_gate_up = std::make_unique<DeviceBuffer>(n_gu * es);
    d_down = std::make_unique<DeviceBuffer>(n_d * es);
    const void* gu_host = gate_up_f32.data();
    const void* d_host = down_f32.data();
    if (dt == DType::BF16) {
      gate_up_bf16.resize(n_gu);
      down_bf16.resize(n_d);
      to_bf16(gate_up_f32, gate_up_bf16);
      to_bf16(down_f32, down_bf16);
      gu_host = gate_up_bf16.data();
      d_host = down_bf16.data();
    }
    cudaMemcpy(d_gate_up->p, gu_host, n_gu * es, cudaMemcpyHostToDevice);
    cudaMemcpy(d_down->p, d_host, n_d * es, cudaMemcpyHostToDevice);
    const uint8_t* gu = static_cast<const uint8_t*>(gu_host);
    const uint8_t* dn = static_cast<const uint8_t*>(d_host);
    for (int64_t e = 0; e < g.E; ++e) {
      ExpertWeights w;
      w.gate = Matrix{dt, gu + size_t(e * 2 * g.I * g.H) * es, g.I, g.H};
      w.up = Matrix{dt, gu + size_t((e * 2 + 1) * g.I * g.H) * es, g.I, g.H};
      w.down = Matrix{dt, dn + size_t(e * g.H * g.I) * es, g.H, g.I};
      views.push_back(w);
    }
  }
};

constexpr double kMoeTolerance = 1e-4;  // of max |reference|; fp32 accumulation in a different order

void check_moe_case(MoeStack& s, int64_t n, int k, int64_t pool, uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << "moe " << dtype_name(s.dtype) << " E=" << s.g.E << " H=" << s.g.H
                                    << " I=" << s.g.I << " n=" << n << " k=" << k << " pool=" << pool);
  const int64_t H = s.g.H, ldx = H + 3, ldo = H + 5;
  const auto [x, ids, weights, ref] = moe_case(s.views, H, n, ldx, k, pool, seed);

  DeviceBuffer dx(x.size() * 4), dids(ids.size() * 4), dw(weights.size() * 4), dout(size_t(n * ldo) * 4);
  CUDA_OK(cudaMemcpy(dx.p, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(dids.p, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(dw.p, weights.data(), weights.size() * 4, cudaMemcpyHostToDevice));
  cuda::MoeWorkspace ws;
  ws.reserve(cuda::moe_workspace_bytes(n, k, H, s.g.I));
  std::vector<float> got[2];
  for (int rep = 0; rep < 2; ++rep) {
    CUDA_OK(cudaMemset(dout.p, 0xff, dout.bytes));  // NaN everywhere: unwritten outputs show
    if (s.dtype == DType::BF16) {
      cuda::ExpertStack<__nv_bfloat16> w{s.d_gate_up->as<__nv_bfloat16>(), s.d_down->as<__nv_bfloat16>(), s.g.E, H,
                                         s.g.I};
      cuda::moe_experts(w, dx.as<float>(), n, ldx, dids.as<int32_t>(), dw.as<float>(), k, dout.as<float>(), ldo, ws,
                        nullptr);
    } else {
      cuda::ExpertStack<float> w{s.d_gate_up->as<float>(), s.d_down->as<float>(), s.g.E, H, s.g.I};
      cuda::moe_experts(w, dx.as<float>(), n, ldx, dids.as<int32_t>(), dw.as<float>(), k, dout.as<float>(), ldo, ws,
                        nullptr);
    }
    CUDA_OK(cudaDeviceSynchronize());
    got[rep].resize(size_t(n * ldo));
    CUDA_OK(cudaMemcpy(got[rep].data(), dout.p, dout.bytes, cudaMemcpyDeviceToHost));
  }
  bool finite = false;
  const double err = rel_error(got[0], ref, size_t(n), size_t(H), size_t(ldo), size_t(H), &finite);
  std::printf("RESULT moe dtype=%s E=%lld H=%lld I=%lld n=%lld k=%d pool=%lld max_rel_err=%.3g\n",
              std::string(dtype_name(s.dtype)).c_str(), (long long)s.g.E, (long long)H, (long long)s.g.I,
              (long long)n, k, (long long)pool, err);
  EXPECT_TRUE(finite);
  EXPECT_LE(err, kMoeTolerance);
  bool same = true;
  for (int64_t t = 0; t < n; ++t)
    same = same && std::memcmp(got[0].data() + t * ldo, got[1].data() + t * ldo, size_t(H) * 4) == 0;
  EXPECT_TRUE(same) << "two runs differ";
}

class CudaMoe : public ::testing::TestWithParam<DType> {};

TEST_P(CudaMoe, QwenGeometryMatchesCpu) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  MoeStack s({128, 2048, 768}, GetParam(), 11);
  uint64_t seed = 100;
  for (int64_t n : {1, 7, 32, 300})
    for (int k : {1, 4, 8}) check_moe_case(s, n, k, 128, seed++);
  check_moe_case(s, 300, 8, 10, seed++);  // skewed: ~240 tokens per expert, many tiles per expert
  check_moe_case(s, 2, 8, 128, seed++);
}

TEST_P(CudaMoe, OddShapesMatchCpu) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  uint64_t seed = 500;
  for (MoeGeometry g : {MoeGeometry{5, 36, 20}, MoeGeometry{3, 13, 7}, MoeGeometry{9, 40, 24},
                        MoeGeometry{16, 264, 72}}) {
    MoeStack s(g, GetParam(), seed);
    for (int64_t n : {1, 2, 7, 33})
      for (int k : {1, 2, 3}) check_moe_case(s, n, std::min<int>(k, int(g.E)), g.E, seed++);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaMoe, ::testing::Values(DType::F32, DType::BF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// ---------------------------------------------------------------- attention

struct SeqSpec {
  int64_t start, n_new;
};

constexpr double kAttentionTolerance = 1e-4;  // of max |reference|

void check_attention_case(int64_t kv_heads, int64_t group, int64_t hd, DType dtype, const std::vector<SeqSpec>& seqs,
                          bool use_workspace, uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << "attention kv_heads=" << kv_heads << " group=" << group << " hd=" << hd
                                    << " " << dtype_name(dtype) << " items=" << seqs.size()
                                    << " ws=" << use_workspace);
  KvLayout layout;
  layout.num_layers = 2;
  layout.kv_heads = kv_heads;
  layout.head_dim = hd;
  layout.page_tokens = 16;
  layout.dtype = dtype;
  const int64_t layer = 1;
  AttentionShape shape;
  shape.num_heads = kv_heads * group;
  shape.num_kv_heads = kv_heads;
  shape.head_dim = hd;
  shape.scale = 1.0f / std::sqrt(float(hd));
  const int64_t qdim = shape.num_heads * hd, q_stride = qdim + 8, out_stride = qdim + 4;

  // Pages of every sequence come shuffled from one pool, filled with random K/V (also past each length).
  size_t total_pages = 0;
  int64_t rows = 0, max_new = 0, max_len = 0;
  for (const SeqSpec& s : seqs) {
    total_pages += size_t((s.start + s.n_new + layout.page_tokens - 1) / layout.page_tokens);
    rows += s.n_new;
    max_new = std::max(max_new, s.n_new);
    max_len = std::max(max_len, s.start + s.n_new);
  }
  const size_t page_bytes = layout.page_bytes();
  std::vector<uint8_t> pool(total_pages * page_bytes);
  {
    std::vector<float> tmp(pool.size() / layout.elem_size());
    fill_uniform(tmp.data(), tmp.size(), 2.0f, seed);
    if (dtype == DType::F32) std::memcpy(pool.data(), tmp.data(), pool.size());
    else
      for (size_t i = 0; i < tmp.size(); ++i) {
        const uint16_t b = f32_to_bf16(tmp[i]);
        std::memcpy(pool.data() + 2 * i, &b, 2);
      }
  }
  std::mt19937 rng{uint32_t(seed)};
  std::vector<size_t> perm(total_pages);
  std::iota(perm.begin(), perm.end(), size_t(0));
  std::shuffle(perm.begin(), perm.end(), rng);

  std::vector<float> q(size_t(rows * q_stride));
  fill_uniform(q.data(), q.size(), 1.0f, seed + 3);
  std::vector<float> ref(size_t(rows * qdim));

  DeviceBuffer dpool(pool.size());
  CUDA_OK(cudaMemcpy(dpool.p, pool.data(), pool.size(), cudaMemcpyHostToDevice));
  std::vector<std::vector<const uint8_t*>> host_tables(seqs.size());
  std::vector<const uint8_t*> dev_tables_flat;
  std::vector<size_t> table_offset;
  std::vector<AttentionSeq> ref_seqs;
  size_t next_page = 0;
  int64_t row = 0;
  for (const SeqSpec& s : seqs) {
    const size_t np = size_t((s.start + s.n_new + layout.page_tokens - 1) / layout.page_tokens);
    table_offset.push_back(dev_tables_flat.size());
    for (size_t i = 0; i < np; ++i) {
      const size_t pg = perm[next_page++];
      host_tables[ref_seqs.size()].push_back(pool.data() + pg * page_bytes);
      dev_tables_flat.push_back(dpool.as<uint8_t>() + pg * page_bytes);
    }
    AttentionSeq a;
    a.pages = host_tables[ref_seqs.size()].data();
    a.start = s.start;
    a.n_new = s.n_new;
    a.q = q.data() + row * q_stride;
    a.q_stride = q_stride;
    a.out = ref.data() + row * qdim;
    a.out_stride = qdim;
    ref_seqs.push_back(a);
    row += s.n_new;
  }
  OpContext ctx{&default_thread_pool()};
  attention(ctx, shape, layout, layer, ref_seqs);

  DeviceBuffer dtables(dev_tables_flat.size() * sizeof(void*));
  CUDA_OK(cudaMemcpy(dtables.p, dev_tables_flat.data(), dtables.bytes, cudaMemcpyHostToDevice));
  std::vector<cuda::AttentionItem> items;
  row = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    cuda::AttentionItem it;
    it.pages = dtables.as<const uint8_t*>() + table_offset[i];
    it.start = int32_t(seqs[i].start);
    it.n_new = int32_t(seqs[i].n_new);
    it.row_begin = int32_t(row);
    items.push_back(it);
    row += seqs[i].n_new;
  }
  DeviceBuffer ditems(items.size() * sizeof(cuda::AttentionItem)), dq(q.size() * 4),
      dout(size_t(rows * out_stride) * 4);
  CUDA_OK(cudaMemcpy(ditems.p, items.data(), ditems.bytes, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(dq.p, q.data(), dq.bytes, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemset(dout.p, 0xff, dout.bytes));
  cuda::AttentionWorkspace ws;
  const size_t ws_bytes =
      cuda::attention_workspace_bytes(shape, int(seqs.size()), int(max_new), int(max_len));
  if (use_workspace && ws_bytes > 0) ws.reserve(ws_bytes);
  cuda::paged_attention(shape, layout, layer, ditems.as<cuda::AttentionItem>(), int(seqs.size()), int(max_new),
                        int(max_len), dq.as<float>(), q_stride, dout.as<float>(), out_stride, nullptr,
                        use_workspace ? &ws : nullptr);
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<float> got(size_t(rows * out_stride));
  CUDA_OK(cudaMemcpy(got.data(), dout.p, dout.bytes, cudaMemcpyDeviceToHost));
  bool finite = false;
  const double err = rel_error(got, ref, size_t(rows), size_t(qdim), size_t(out_stride), size_t(qdim), &finite);
  std::printf("RESULT attention kv=%s kv_heads=%lld group=%lld hd=%lld items=%zu rows=%lld max_len=%lld "
              "split_ws=%zu max_rel_err=%.3g\n",
              std::string(dtype_name(dtype)).c_str(), (long long)kv_heads, (long long)group, (long long)hd,
              seqs.size(), (long long)rows, (long long)max_len, use_workspace ? ws_bytes : size_t(0), err);
  EXPECT_TRUE(finite);
  EXPECT_LE(err, kAttentionTolerance);
}

class CudaAttention : public ::testing::TestWithParam<DType> {};

TEST_P(CudaAttention, MixedDecodeAndPrefillMatchCpu) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  const std::vector<SeqSpec> mixed = {{4095, 1}, {17, 1}, {0, 70}, {500, 33}, {1000, 1}, {31, 16}, {0, 1}};
  const std::vector<SeqSpec> decode = {{4095, 1}, {2047, 1}, {100, 1}};
  uint64_t seed = 900;
  for (int64_t group : {1, 4, 8})
    for (int64_t hd : {48, 64, 128}) {
      check_attention_case(2, group, hd, GetParam(), mixed, true, seed++);
      check_attention_case(2, group, hd, GetParam(), decode, true, seed++);
      check_attention_case(2, group, hd, GetParam(), decode, false, seed++);
    }
}

TEST_P(CudaAttention, QwenDecodeBatchMatchesCpu) {
  if (!have_device()) GTEST_SKIP() << "no CUDA device";
  std::mt19937 rng(77);
  std::uniform_int_distribution<int64_t> len(1, 4095);
  std::vector<SeqSpec> batch;
  for (int i = 0; i < 32; ++i) batch.push_back({len(rng), 1});
  check_attention_case(4, 8, 128, GetParam(), batch, true, 1234);
  check_attention_case(4, 8, 128, GetParam(), {{0, 300}, {1200, 64}, {3000, 1}}, true, 1235);
  check_attention_case(4, 16, 64, GetParam(), {{0, 40}, {2000, 1}}, true, 1236);  // 16 heads per KV head
  check_attention_case(4, 16, 64, GetParam(), {{2000, 1}, {5, 1}}, true, 1237);  // decode, 16 per KV head
  check_attention_case(3, 6, 48, GetParam(), {{700, 1}, {3333, 1}, {0, 1}}, true, 1238);  // group not a power of 2
  check_attention_case(3, 6, 48, GetParam(), {{0, 50}, {3333, 1}}, false, 1239);
  check_attention_case(1, 2, 256, GetParam(), {{4000, 1}}, true, 1240);  // head_dim 256
  check_attention_case(1, 2, 256, GetParam(), {{0, 20}, {900, 3}}, true, 1241);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaAttention, ::testing::Values(DType::F32, DType::BF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace banyan::ops
