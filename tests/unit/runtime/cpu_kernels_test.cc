// CPU kernels beyond ops_test.cc: attention against a naive double loop over the shapes its register tiles
// special-case (decode and multi-block prefill, head sizes off the SIMD width, groups 1..4, fp32 and bf16 caches),
// and the decode path's promise that warm ops do not allocate: a counting global operator new sees zero heap
// allocations in a repeated decode-shaped step of every parallel op.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "test_paths.h"
#include "runtime/engine.h"
#include "runtime/ops/attention.h"
#include "runtime/ops/embedding.h"
#include "runtime/ops/matmul.h"
#include "runtime/ops/moe.h"
#include "runtime/ops/rmsnorm.h"
#include "runtime/ops/router.h"

namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace

// Counting replacements of the global allocation functions (the array and nothrow forms forward to these).
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace banyan;
using namespace banyan::ops;

namespace {

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A paged cache for one layer-set, filled with K/V [total, kv_dim] (pages in reverse order).
struct PagedKv {
  KvLayout lay;
  std::vector<std::vector<uint8_t>> storage;
  std::vector<const uint8_t*> table;

  PagedKv(KvLayout l, int64_t layer, int64_t total, const std::vector<float>& k, const std::vector<float>& v) : lay(l) {
    const int64_t n_pages = (total + lay.page_tokens - 1) / lay.page_tokens;
    storage.assign(size_t(n_pages), std::vector<uint8_t>(lay.page_bytes(), 0xff));
    for (int64_t p = 0; p < n_pages; ++p) table.push_back(storage[size_t(n_pages - 1 - p)].data());
    for (int64_t j = 0; j < total; ++j)
      for (int vv = 0; vv < 2; ++vv) {
        uint8_t* dst = const_cast<uint8_t*>(table[size_t(j / lay.page_tokens)]) + lay.offset(layer, vv, j % lay.page_tokens);
        const float* src = (vv ? v : k).data() + j * lay.kv_dim();
        for (int64_t d = 0; d < lay.kv_dim(); ++d) {
          if (lay.dtype == DType::F32) reinterpret_cast<float*>(dst)[d] = src[d];
          else reinterpret_cast<uint16_t*>(dst)[d] = f32_to_bf16(src[d]);
        }
      }
  }
};

std::vector<float> naive_attention(const std::vector<float>& q, int64_t n_new, int64_t start, const std::vector<float>& k,
                                   const std::vector<float>& v, const AttentionShape& sh) {
  const int64_t hd = sh.head_dim, group = sh.num_heads / sh.num_kv_heads, kvd = sh.num_kv_heads * hd;
  std::vector<float> out(size_t(n_new * sh.num_heads * hd));
  for (int64_t t = 0; t < n_new; ++t)
    for (int64_t h = 0; h < sh.num_heads; ++h) {
      const int64_t kh = h / group, len = start + t + 1;
      std::vector<double> sc(static_cast<size_t>(len));
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < len; ++j) {
        double s = 0;
        for (int64_t d = 0; d < hd; ++d) s += double(q[size_t((t * sh.num_heads + h) * hd + d)]) * k[size_t(j * kvd + kh * hd + d)];
        mx = std::max(mx, sc[size_t(j)] = s * sh.scale);
      }
      for (auto& s : sc) sum += (s = std::exp(s - mx));
      for (int64_t d = 0; d < hd; ++d) {
        double o = 0;
        for (int64_t j = 0; j < len; ++j) o += sc[size_t(j)] / sum * v[size_t(j * kvd + kh * hd + d)];
        out[size_t((t * sh.num_heads + h) * hd + d)] = float(o);
      }
    }
  return out;
}

std::vector<float> round_bf16(std::vector<float> v) {
  for (auto& x : v) x = bf16_to_f32(f32_to_bf16(x));
  return v;
}

struct AttnCase {
  int64_t heads, kv_heads, hd, start, n_new;
};

TEST(CpuKernels, AttentionMatchesNaiveAcrossTileShapes) {
  ThreadPool pool(2);
  const OpContext serial{}, parallel{&pool, 0};
  const AttnCase cases[] = {
      {4, 2, 48, 40, 1},   // decode, GQA 2 (tiny-qwen3moe's shape)
      {4, 2, 32, 0, 37},   // prefill over three query blocks
      {8, 2, 72, 5, 19},   // group 4, head dims spill into a second 4-vector chunk
      {3, 3, 20, 9, 2},    // no grouping, a partial vector
      {6, 2, 136, 3, 3},   // odd row count (6 rows → tiles of 4 and 2), long heads
      {5, 1, 7, 30, 1},    // head smaller than one vector, 5 rows on one KV head
  };
  for (const AttnCase& c : cases)
    for (DType kvt : {DType::F32, DType::BF16}) {
      const AttentionShape sh{c.heads, c.kv_heads, c.hd, 1.0f / std::sqrt(float(c.hd))};
      const KvLayout lay{2, c.kv_heads, c.hd, 8, kvt};
      const int64_t total = c.start + c.n_new, layer = 1;
      auto k = random_vec(size_t(total * lay.kv_dim()), 1), v = random_vec(size_t(total * lay.kv_dim()), 2);
      if (kvt == DType::BF16) k = round_bf16(k), v = round_bf16(v);
      const auto q = random_vec(size_t(c.n_new * c.heads * c.hd), 3);
      PagedKv kv(lay, layer, total, k, v);
      const auto want = naive_attention(q, c.n_new, c.start, k, v, sh);
      for (const OpContext* ctx : {&serial, &parallel}) {
        std::vector<float> out(want.size(), 7.0f);
        const AttentionSeq s{kv.table.data(), c.start, c.n_new, q.data(), c.heads * c.hd, out.data(), c.heads * c.hd};
        attention(*ctx, sh, lay, layer, std::span<const AttentionSeq>(&s, 1));
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_NEAR(out[i], want[i], 2e-6f * (1.0f + std::fabs(want[i])))
              << "heads " << c.heads << "/" << c.kv_heads << " hd " << c.hd << " start " << c.start << " new "
              << c.n_new << (kvt == DType::F32 ? " f32" : " bf16") << " at " << i;
      }
    }
}

// One decode-shaped step (batch of 3 sequences, one token each) through every op the engine runs per layer.
TEST(CpuKernels, WarmDecodeStepOfEveryOpDoesNotAllocate) {
  ThreadPool pool(2);
  const OpContext ctx{&pool, 0};  // the pool for every op, so the parallel dispatch is exercised too
  const int64_t H = 64, V = 50, E = 16, I = 24, n = 3, heads = 4, kv_heads = 2, hd = 16;
  const int k = 4;
  auto to_bf16 = [](const std::vector<float>& f) {
    std::vector<uint16_t> b(f.size());
    for (size_t i = 0; i < f.size(); ++i) b[i] = f32_to_bf16(f[i]);
    return b;
  };
  const auto embed = to_bf16(random_vec(size_t(V * H), 1)), wq = to_bf16(random_vec(size_t(H * H), 2));
  const auto router = random_vec(size_t(E * H), 3), norm = random_vec(size_t(H), 4);
  std::vector<std::vector<uint16_t>> ew;
  std::vector<ExpertWeights> experts;
  for (int64_t e = 0; e < E; ++e)
    for (int m = 0; m < 3; ++m) ew.push_back(to_bf16(random_vec(size_t(I * H), uint32_t(10 + 3 * e + m))));
  for (int64_t e = 0; e < E; ++e)
    experts.push_back({Matrix{DType::BF16, ew[size_t(3 * e)].data(), I, H}, Matrix{DType::BF16, ew[size_t(3 * e + 1)].data(), I, H},
                       Matrix{DType::BF16, ew[size_t(3 * e + 2)].data(), H, I}});
  const KvLayout lay{1, kv_heads, hd, 16, DType::BF16};
  const auto kk = random_vec(size_t(40 * lay.kv_dim()), 5), vv = random_vec(size_t(40 * lay.kv_dim()), 6);
  std::vector<PagedKv> caches;
  for (int64_t s = 0; s < n; ++s) caches.emplace_back(lay, 0, 40, kk, vv);

  const std::vector<int32_t> ids = {3, 17, 42};
  std::vector<float> x(size_t(n * H)), h(size_t(n * H)), q(size_t(n * H)), attn(size_t(n * H)), logits(size_t(n * E));
  std::vector<float> probs(size_t(n * E)), weights(size_t(n * k)), out(size_t(n * H));
  std::vector<int32_t> chosen(size_t(n * k));
  std::vector<AttentionSeq> seqs;
  for (int64_t s = 0; s < n; ++s)
    seqs.push_back({caches[size_t(s)].table.data(), 39, 1, q.data() + s * H, H, attn.data() + s * H, H});
  MoeScratch scratch;
  auto step = [&] {
    embedding(ctx, Matrix{DType::BF16, embed.data(), V, H}, ids.data(), n, x.data());
    rmsnorm(ctx, x.data(), n, H, H, norm.data(), 1e-6f, h.data());
    matmul(ctx, h.data(), n, H, Matrix{DType::BF16, wq.data(), H, H}, q.data(), H);
    attention(ctx, AttentionShape{heads, kv_heads, hd, 0.25f}, lay, 0, seqs);
    matmul(ctx, h.data(), n, H, Matrix{DType::F32, router.data(), E, H}, logits.data(), E);
    router_topk(ctx, RouterConfig{E, k, true}, logits.data(), n, nullptr, probs.data(), chosen.data(), weights.data());
    moe_experts(ctx, h.data(), n, H, H, chosen.data(), weights.data(), k, experts, scratch, out.data(), H);
  };
  step();
  step();  // warm: thread-local and scratch buffers have grown on every thread
  const int64_t before = g_allocations.load();
  for (int i = 0; i < 5; ++i) step();
  EXPECT_EQ(g_allocations.load() - before, 0) << "heap allocations in 5 warm decode steps";
}

// The whole engine's decode step, not just its ops: a warm batch of 3 sequences decoding inside one KV page
// (lengths 20..27 with 16-token pages, so no new page is needed) makes no heap allocation.
TEST(CpuKernels, WarmEngineDecodeStepDoesNotAllocate) {
  EngineOptions o;
  o.threads = 2;
  o.kv_cache_bytes = size_t(8) << 20;
  auto engine = Engine::load(test::fixtures_dir() / "models" / "qwen3_moe", o);
  std::vector<BatchItem> batch(3);
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].seq = engine->create_sequence();
    for (int t = 0; t < 20; ++t) batch[i].tokens.push_back(int32_t(1 + (7 * t + int(i)) % 50));
  }
  ForwardOutput out;
  engine->forward(batch, out);  // prefill to length 20
  for (auto& it : batch) it.tokens.resize(1);
  auto step = [&] {
    for (size_t i = 0; i < batch.size(); ++i) batch[i].tokens[0] = int32_t(2 + i);
    engine->forward(batch, out);
  };
  step();
  step();  // warm
  const int64_t before = g_allocations.load();
  for (int i = 0; i < 5; ++i) step();
  EXPECT_EQ(g_allocations.load() - before, 0) << "heap allocations in 5 warm engine decode steps";
  EXPECT_EQ(engine->sequence_length(batch[0].seq), 27);
}

}  // namespace
