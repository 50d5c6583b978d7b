// Every CPU op against a naive loop written here (double accumulation), on random data with awkward sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "runtime/ops/attention.h"
#include "runtime/ops/embedding.h"
#include "runtime/ops/matmul.h"
#include "runtime/ops/moe.h"
#include "runtime/ops/rmsnorm.h"
#include "runtime/ops/rope.h"
#include "runtime/ops/router.h"

using namespace banyan;
using namespace banyan::ops;

namespace {

std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = f32_to_bf16(v[i]);
  return out;
}
std::vector<float> round_bf16(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = bf16_to_f32(f32_to_bf16(v[i]));
  return out;
}

// Naive y = x · Wᵀ in double.
std::vector<float> naive_matmul(const std::vector<float>& x, int64_t n, const std::vector<float>& w, int64_t m,
                                int64_t k) {
  std::vector<float> y(size_t(n * m));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double s = 0;
      for (int64_t q = 0; q < k; ++q) s += double(x[size_t(i * k + q)]) * w[size_t(j * k + q)];
      y[size_t(i * m + j)] = float(s);
    }
  return y;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float tol, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * (1.0f + std::fabs(b[i]))) << what << " at " << i;
}

struct Contexts {
  ThreadPool pool{2};
  OpContext serial{};
  OpContext parallel{&pool, 0};  // force the pool even for tiny work
};

}  // namespace

TEST(Ops, MatmulF32AndBf16MatchNaiveLoopsForAwkwardSizes) {
  Contexts c;
  for (auto [n, m, k] : {std::tuple{1, 1, 1}, {1, 7, 13}, {3, 5, 16}, {5, 9, 33}, {17, 130, 192}, {64, 32, 32},
                         {70, 11, 200}}) {
    auto x = random_vec(size_t(n * k), 1);
    auto w = random_vec(size_t(m * k), 2);
    auto wb = to_bf16(w);
    auto want_f32 = naive_matmul(x, n, w, m, k);
    auto want_bf16 = naive_matmul(x, n, round_bf16(w), m, k);
    for (const OpContext* ctx : {&c.serial, &c.parallel}) {
      std::vector<float> y(size_t(n * m), -1.0f);
      matmul(*ctx, x.data(), n, k, Matrix{DType::F32, w.data(), m, k}, y.data(), m);
      expect_close(y, want_f32, 1e-5f, "f32");
      matmul(*ctx, x.data(), n, k, Matrix{DType::BF16, wb.data(), m, k}, y.data(), m);
      expect_close(y, want_bf16, 1e-5f, "bf16");
    }
  }
}

TEST(Ops, MatmulHonoursStridesAndF16) {
  const int64_t n = 6, m = 10, k = 24, ldx = 30, ldy = 13;
  auto x = random_vec(size_t(n * ldx), 3);
  auto w = random_vec(size_t(m * k), 4);
  std::vector<uint16_t> wh(w.size());
  std::vector<float> wr(w.size());
  for (size_t i = 0; i < w.size(); ++i) wr[i] = f16_to_f32(wh[i] = f32_to_f16(w[i]));
  std::vector<float> xc(size_t(n * k));
  for (int64_t i = 0; i < n; ++i) std::copy_n(x.data() + i * ldx, k, xc.data() + i * k);
  auto want = naive_matmul(xc, n, wr, m, k);
  std::vector<float> y(size_t(n * ldy), 123.0f);
  matmul(OpContext{}, x.data(), n, ldx, Matrix{DType::F16, wh.data(), m, k}, y.data(), ldy);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m; ++j) EXPECT_NEAR(y[size_t(i * ldy + j)], want[size_t(i * m + j)], 1e-4f);
    for (int64_t j = m; j < ldy; ++j) EXPECT_EQ(y[size_t(i * ldy + j)], 123.0f) << "wrote past m";
  }
}

TEST(Ops, EmbeddingGathersRowsAndRejectsBadIds) {
  auto table = random_vec(50 * 8, 5);
  auto tb = to_bf16(table);
  std::vector<int32_t> ids = {3, 0, 49, 3};
  std::vector<float> out(ids.size() * 8);
  embedding(OpContext{}, Matrix{DType::BF16, tb.data(), 50, 8}, ids.data(), 4, out.data());
  for (size_t i = 0; i < ids.size(); ++i)
    for (int j = 0; j < 8; ++j) EXPECT_EQ(out[i * 8 + j], bf16_to_f32(tb[size_t(ids[i]) * 8 + j]));
  ids[1] = 50;
  EXPECT_THROW(embedding(OpContext{}, Matrix{DType::BF16, tb.data(), 50, 8}, ids.data(), 4, out.data()), Error);
}

TEST(Ops, RmsNormMatchesFormula) {
  const int64_t n = 5, dim = 37;
  auto x = random_vec(size_t(n * dim), 6);
  auto w = random_vec(size_t(dim), 7);
  std::vector<float> out(x.size());
  rmsnorm(OpContext{}, x.data(), n, dim, dim, w.data(), 1e-6f, out.data());
  for (int64_t i = 0; i < n; ++i) {
    double ss = 0;
    for (int64_t j = 0; j < dim; ++j) ss += double(x[size_t(i * dim + j)]) * x[size_t(i * dim + j)];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-6);
    for (int64_t j = 0; j < dim; ++j) EXPECT_NEAR(out[size_t(i * dim + j)], w[size_t(j)] * x[size_t(i * dim + j)] * inv, 1e-5);
  }
}

TEST(Ops, RopeDefaultRotatesPairsByPositionTimesFrequency) {
  RopeSpec spec;
  spec.theta = 10000.0;
  const int64_t hd = 8, heads = 2;
  auto t = make_rope_table(spec, hd);
  ASSERT_EQ(t.inv_freq.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(t.inv_freq[size_t(i)], std::pow(10000.0, -2.0 * i / hd), 1e-7);
  std::vector<int64_t> pos = {0, 5, 1000};
  std::vector<float> c(3 * 4), s(3 * 4);
  rope_cos_sin(t, pos.data(), 3, c.data(), s.data());
  auto x = random_vec(size_t(3 * heads * hd), 8);
  auto y = x;
  rope_apply(t, y.data(), 3, heads * hd, heads, hd, c.data(), s.data());
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t j = 0; j < 4; ++j) {
        const double ang = double(pos[size_t(i)]) * t.inv_freq[size_t(j)];
        const float a = x[size_t(i * heads * hd + h * hd + j)], b = x[size_t(i * heads * hd + h * hd + j + 4)];
        EXPECT_NEAR(y[size_t(i * heads * hd + h * hd + j)], a * std::cos(ang) - b * std::sin(ang), 1e-4);
        EXPECT_NEAR(y[size_t(i * heads * hd + h * hd + j + 4)], b * std::cos(ang) + a * std::sin(ang), 1e-4);
      }
}

TEST(Ops, RopeScalingSchedules) {
  RopeSpec base;
  base.theta = 500000.0;
  const auto plain = make_rope_table(base, 64);
  RopeSpec lin = base;
  lin.type = "linear";
  lin.factor = 4.0;
  const auto tl = make_rope_table(lin, 64);
  for (size_t i = 0; i < plain.inv_freq.size(); ++i) EXPECT_FLOAT_EQ(tl.inv_freq[i], plain.inv_freq[i] / 4.0f);

  RopeSpec l3 = base;  // Llama-3.1 values: long wavelengths scaled by factor, short ones untouched
  l3.type = "llama3";
  l3.factor = 8.0;
  l3.original_max_position = 8192;
  const auto t3 = make_rope_table(l3, 64);
  for (size_t i = 0; i < plain.inv_freq.size(); ++i) {
    const double wavelen = 2 * M_PI / plain.inv_freq[i];
    if (wavelen < 8192 / 4.0) {
      EXPECT_FLOAT_EQ(t3.inv_freq[i], plain.inv_freq[i]);
    } else if (wavelen > 8192 / 1.0) {
      EXPECT_NEAR(t3.inv_freq[i], plain.inv_freq[i] / 8.0f, 1e-12);
    } else {
      EXPECT_TRUE(t3.inv_freq[i] < plain.inv_freq[i] && t3.inv_freq[i] > plain.inv_freq[i] / 8.0f);
    }
  }

  RopeSpec y = base;  // yarn: highest frequencies extrapolate (unchanged), lowest interpolate (÷ factor)
  y.type = "yarn";
  y.factor = 4.0;
  y.original_max_position = 4096;
  const auto ty = make_rope_table(y, 64);
  EXPECT_FLOAT_EQ(ty.inv_freq.front(), plain.inv_freq.front());
  EXPECT_NEAR(ty.inv_freq.back(), plain.inv_freq.back() / 4.0f, 1e-12);
  EXPECT_NEAR(ty.attention_scaling, 0.1 * std::log(4.0) + 1.0, 1e-6);

  RopeSpec bad = base;
  bad.type = "longrope";
  EXPECT_THROW(make_rope_table(bad, 64), Error);
}

namespace {
// Naive causal GQA attention over contiguous K/V [len, kv_heads, hd].
std::vector<float> naive_attention(const std::vector<float>& q, int64_t n_new, int64_t start, const std::vector<float>& k,
                                   const std::vector<float>& v, const AttentionShape& sh) {
  const int64_t hd = sh.head_dim, group = sh.num_heads / sh.num_kv_heads, kvd = sh.num_kv_heads * hd;
  std::vector<float> out(size_t(n_new * sh.num_heads * hd));
  for (int64_t t = 0; t < n_new; ++t)
    for (int64_t h = 0; h < sh.num_heads; ++h) {
      const int64_t kh = h / group, len = start + t + 1;
      std::vector<double> sc(static_cast<size_t>(len));
      double mx = -1e300;
      for (int64_t j = 0; j < len; ++j) {
        double s = 0;
        for (int64_t d = 0; d < hd; ++d) s += double(q[size_t(t * sh.num_heads * hd + h * hd + d)]) * k[size_t(j * kvd + kh * hd + d)];
        sc[size_t(j)] = s * sh.scale;
        mx = std::max(mx, sc[size_t(j)]);
      }
      double sum = 0;
      for (auto& s : sc) sum += (s = std::exp(s - mx));
      for (int64_t d = 0; d < hd; ++d) {
        double o = 0;
        for (int64_t j = 0; j < len; ++j) o += sc[size_t(j)] / sum * v[size_t(j * kvd + kh * hd + d)];
        out[size_t(t * sh.num_heads * hd + h * hd + d)] = float(o);
      }
    }
  return out;
}
}  // namespace

TEST(Ops, PagedAttentionMatchesNaiveForF32AndBf16Caches) {
  Contexts c;
  const AttentionShape sh{6, 2, 20, 1.0f / std::sqrt(20.0f)};
  for (DType kvt : {DType::F32, DType::BF16}) {
    KvLayout lay{3, 2, 20, 4, kvt};
    const int64_t layer = 1, total = 11, start = 6, n_new = total - start;
    auto k = random_vec(size_t(total * lay.kv_dim()), 9);
    auto v = random_vec(size_t(total * lay.kv_dim()), 10);
    if (kvt == DType::BF16) k = round_bf16(k), v = round_bf16(v);
    auto q = random_vec(size_t(n_new * sh.num_heads * sh.head_dim), 11);
    // Pages in scrambled order, to check the page table is honoured.
    const int64_t n_pages = (total + lay.page_tokens - 1) / lay.page_tokens;
    std::vector<std::vector<uint8_t>> storage(size_t(n_pages), std::vector<uint8_t>(lay.page_bytes(), 0xff));
    std::vector<const uint8_t*> table(static_cast<size_t>(n_pages));
    for (int64_t p = 0; p < n_pages; ++p) table[size_t(p)] = storage[size_t(n_pages - 1 - p)].data();
    for (int64_t j = 0; j < total; ++j)
      for (int vv = 0; vv < 2; ++vv) {
        uint8_t* dst = const_cast<uint8_t*>(table[size_t(j / lay.page_tokens)]) + lay.offset(layer, vv, j % lay.page_tokens);
        const float* src = (vv ? v : k).data() + j * lay.kv_dim();
        for (int64_t d = 0; d < lay.kv_dim(); ++d) {
          if (kvt == DType::F32) reinterpret_cast<float*>(dst)[d] = src[d];
          else reinterpret_cast<uint16_t*>(dst)[d] = f32_to_bf16(src[d]);
        }
      }
    auto want = naive_attention(q, n_new, start, k, v, sh);
    for (const OpContext* ctx : {&c.serial, &c.parallel}) {
      std::vector<float> out(want.size(), 0.0f);
      AttentionSeq s{table.data(), start, n_new, q.data(), sh.num_heads * sh.head_dim, out.data(), sh.num_heads * sh.head_dim};
      attention(*ctx, sh, lay, layer, std::span<const AttentionSeq>(&s, 1));
      expect_close(out, want, 1e-5f, kvt == DType::F32 ? "f32 kv" : "bf16 kv");
    }
  }
}

TEST(Ops, RouterSoftmaxTopkRenormAndRestriction) {
  const int64_t E = 10, n = 3;
  auto logits = random_vec(size_t(n * E), 12, 2.0f);
  logits[3] = logits[4];  // a tie: the lower id must come first
  for (bool renorm : {false, true}) {
    RouterConfig cfg{E, 4, renorm};
    std::vector<float> probs(size_t(n * E)), w(size_t(n * 4));
    std::vector<int32_t> ids(size_t(n * 4));
    std::vector<uint8_t> allowed(size_t(E), 0);
    for (int e : {1, 3, 4, 8, 9}) allowed[size_t(e)] = 1;
    for (const uint8_t* mask : {static_cast<const uint8_t*>(nullptr), static_cast<const uint8_t*>(allowed.data())}) {
      const int k = router_topk(OpContext{}, cfg, logits.data(), n, mask, probs.data(), ids.data(), w.data());
      ASSERT_EQ(k, 4);
      for (int64_t i = 0; i < n; ++i) {
        const float* l = logits.data() + i * E;
        double full_sum = 0, mask_sum = 0;
        for (int64_t e = 0; e < E; ++e) {
          full_sum += std::exp(double(l[e]));
          if (!mask || mask[e]) mask_sum += std::exp(double(l[e]));
        }
        for (int64_t e = 0; e < E; ++e) EXPECT_NEAR(probs[size_t(i * E + e)], std::exp(double(l[e])) / full_sum, 1e-6);
        std::vector<int32_t> order;
        for (int32_t e = 0; e < E; ++e)
          if (!mask || mask[e]) order.push_back(e);
        std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
        double chosen = 0;
        for (int j = 0; j < 4; ++j) chosen += std::exp(double(l[order[size_t(j)]])) / mask_sum;
        for (int j = 0; j < 4; ++j) {
          EXPECT_EQ(ids[size_t(i * 4 + j)], order[size_t(j)]);
          const double p = std::exp(double(l[order[size_t(j)]])) / mask_sum;
          EXPECT_NEAR(w[size_t(i * 4 + j)], renorm ? p / chosen : p, 1e-6);
        }
      }
    }
    std::vector<uint8_t> two(size_t(E), 0);
    two[2] = two[7] = 1;
    EXPECT_EQ(router_topk(OpContext{}, cfg, logits.data(), n, two.data(), nullptr, ids.data(), w.data()), 2);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_TRUE((ids[size_t(i * 2)] == 2 && ids[size_t(i * 2 + 1)] == 7) || (ids[size_t(i * 2)] == 7 && ids[size_t(i * 2 + 1)] == 2));
      if (!renorm) {
        EXPECT_NEAR(w[size_t(i * 2)] + w[size_t(i * 2 + 1)], 1.0, 1e-6);  // softmax over the two allowed
      }
    }
    std::vector<uint8_t> none(size_t(E), 0);
    EXPECT_THROW(router_topk(OpContext{}, cfg, logits.data(), n, none.data(), nullptr, ids.data(), w.data()), Error);
  }
}

TEST(Ops, GroupedExpertsMatchPerTokenLoop) {
  Contexts c;
  const int64_t E = 6, H = 24, I = 10, n = 9;
  const int k = 3;
  std::vector<std::vector<uint16_t>> store;
  std::vector<ExpertWeights> experts;
  std::vector<std::vector<float>> g(E), u(E), d(E);
  store.reserve(size_t(3 * E));
  for (int64_t e = 0; e < E; ++e) {
    g[size_t(e)] = round_bf16(random_vec(size_t(I * H), 100 + uint32_t(e)));
    u[size_t(e)] = round_bf16(random_vec(size_t(I * H), 200 + uint32_t(e)));
    d[size_t(e)] = round_bf16(random_vec(size_t(H * I), 300 + uint32_t(e)));
    store.push_back(to_bf16(g[size_t(e)]));
    store.push_back(to_bf16(u[size_t(e)]));
    store.push_back(to_bf16(d[size_t(e)]));
    experts.push_back({Matrix{DType::BF16, store[store.size() - 3].data(), I, H},
                       Matrix{DType::BF16, store[store.size() - 2].data(), I, H},
                       Matrix{DType::BF16, store[store.size() - 1].data(), H, I}});
  }
  auto x = random_vec(size_t(n * H), 13);
  std::mt19937 rng(14);
  std::vector<int32_t> ids(size_t(n * k));
  std::vector<float> w(size_t(n * k));
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int32_t> perm(E);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int j = 0; j < k; ++j) ids[size_t(i * k + j)] = perm[size_t(j)], w[size_t(i * k + j)] = 0.1f * float(j + 1);
  }
  std::vector<float> want(size_t(n * H), 0.0f);
  std::vector<double> want_norm(E, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int j = 0; j < k; ++j) {
      const int32_t e = ids[size_t(i * k + j)];
      std::vector<float> xi(x.begin() + i * H, x.begin() + (i + 1) * H);
      auto gg = naive_matmul(xi, 1, g[size_t(e)], I, H), uu = naive_matmul(xi, 1, u[size_t(e)], I, H);
      for (int64_t q = 0; q < I; ++q) gg[size_t(q)] = gg[size_t(q)] / (1 + std::exp(-gg[size_t(q)])) * uu[size_t(q)];
      auto o = naive_matmul(gg, 1, d[size_t(e)], H, I);
      double nn = 0;
      for (int64_t q = 0; q < H; ++q) want[size_t(i * H + q)] += w[size_t(i * k + j)] * o[size_t(q)], nn += double(o[size_t(q)]) * o[size_t(q)];
      want_norm[size_t(e)] += w[size_t(i * k + j)] * std::sqrt(nn);
    }
  for (const OpContext* ctx : {&c.serial, &c.parallel}) {
    MoeScratch scratch;
    std::vector<float> out(size_t(n * H), 7.0f);
    std::vector<double> norms(E, 0.0);
    std::vector<int64_t> counts(E, 0);
    moe_experts(*ctx, x.data(), n, H, H, ids.data(), w.data(), k, experts, scratch, out.data(), H, norms.data(), counts.data());
    expect_close(out, want, 1e-5f, "moe");
    for (int64_t e = 0; e < E; ++e) {
      EXPECT_NEAR(norms[size_t(e)], want_norm[size_t(e)], 1e-4 * (1 + want_norm[size_t(e)]));
      EXPECT_EQ(counts[size_t(e)], std::count(ids.begin(), ids.end(), int32_t(e)));
    }
  }
}
