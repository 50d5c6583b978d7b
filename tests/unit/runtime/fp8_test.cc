// FP8 E4M3 encode / decode and per-row quantisation (runtime/ops/fp8.h) against the format's definition, written
// out here independently: every code's value, round-to-nearest-even at every midpoint, saturation, subnormals,
// the round trip of every representable value, and the row scale.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/ops/fp8.h"
#include "runtime/random_tokens.h"
#include "test_paths.h"

using namespace banyan;
using namespace banyan::ops;

namespace {

// The OCP E4M3 value of a code by the definition (bias 7, no infinities, S.1111.111 = NaN).
double definition(int code) {
  const int s = code >> 7, e = (code >> 3) & 15, m = code & 7;
  if (e == 15 && m == 7) return std::numeric_limits<double>::quiet_NaN();
  const double mag = e == 0 ? m * std::pow(2.0, -9) : (1.0 + m / 8.0) * std::pow(2.0, e - 7);
  return s ? -mag : mag;
}

bool is_nan_code(uint8_t c) { return (c & 0x7f) == 0x7f; }

TEST(Fp8, DecodeTableMatchesDefinition) {
  for (int c = 0; c < 256; ++c) {
    const double want = definition(c);
    const float got = e4m3_to_f32(uint8_t(c));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << "code " << c;
      continue;
    }
    EXPECT_EQ(double(got), want) << "code " << c;
    EXPECT_EQ(std::signbit(got), (c & 0x80) != 0) << "code " << c;
    EXPECT_EQ(got, f8e4m3_to_f32(uint8_t(c))) << "code " << c << " vs core/dtype's decoder";
  }
  EXPECT_EQ(e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0xfe), -448.0f);
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
}

TEST(Fp8, EveryValueRoundTrips) {
  for (int c = 0; c < 256; ++c) {
    if (is_nan_code(uint8_t(c))) continue;
    EXPECT_EQ(int(f32_to_e4m3(e4m3_to_f32(uint8_t(c)))), c) << "code " << c;
  }
}

// Between each pair of adjacent non-negative values: the midpoint goes to the even code (the mantissa's last bit
// is the code's last bit), points just inside either side to that side; the same mirrored for negatives.
TEST(Fp8, RoundsToNearestTiesToEven) {
  int ties = 0;
  for (int c = 0; c < 0x7e; ++c) {
    const float lo = e4m3_to_f32(uint8_t(c)), hi = e4m3_to_f32(uint8_t(c + 1));
    const float mid = 0.5f * (lo + hi);  // exact: both have ≤ 4 significant bits
    ASSERT_EQ(double(mid), 0.5 * (double(lo) + double(hi)));
    const int even = (c % 2 == 0) ? c : c + 1;
    EXPECT_EQ(int(f32_to_e4m3(mid)), even) << "tie between codes " << c << " and " << c + 1;
    EXPECT_EQ(int(f32_to_e4m3(-mid)), even | 0x80) << "negative tie between codes " << c << " and " << c + 1;
    EXPECT_EQ(int(f32_to_e4m3(std::nextafter(mid, 0.0f))), c) << "just below the midpoint of " << c;
    EXPECT_EQ(int(f32_to_e4m3(std::nextafter(mid, 1000.0f))), c + 1) << "just above the midpoint of " << c;
    EXPECT_EQ(int(f32_to_e4m3(-std::nextafter(mid, 1000.0f))), (c + 1) | 0x80);
    ++ties;
  }
  EXPECT_EQ(ties, 126);
  // Hand-picked: 1.0625 is halfway between 1 (m 0) and 1.125 (m 1): even → 1; 1.1875 between m 1 and m 2 → m 2.
  EXPECT_EQ(f32_to_e4m3(1.0625f), 0x38);
  EXPECT_EQ(f32_to_e4m3(1.1875f), 0x3a);
  // Subnormal ties: 2^-10 (between 0 and 2^-9) → 0; 1.5 · 2^-9 → 2 · 2^-9; 7.5 · 2^-9 → 8 · 2^-9 = smallest normal.
  EXPECT_EQ(f32_to_e4m3(std::ldexp(1.0f, -10)), 0x00);
  EXPECT_EQ(f32_to_e4m3(std::ldexp(1.5f, -9)), 0x02);
  EXPECT_EQ(f32_to_e4m3(std::ldexp(7.5f, -9)), 0x08);
  EXPECT_EQ(f32_to_e4m3(std::ldexp(1.0f, -12)), 0x00);  // far below: zero
  EXPECT_EQ(f32_to_e4m3(-std::ldexp(1.0f, -12)), 0x80);  // negative zero
}

TEST(Fp8, SaturatesAndNeverProducesNan) {
  for (float v : {448.0f, 449.0f, 464.0f, 465.0f, 480.0f, 1e6f, 3.4e38f, std::numeric_limits<float>::infinity()}) {
    EXPECT_EQ(f32_to_e4m3(v), 0x7e) << v;
    EXPECT_EQ(f32_to_e4m3(-v), 0xfe) << -v;
  }
  EXPECT_EQ(f32_to_e4m3(440.0f), 0x7e);  // 416 + 32 · 0.75: nearer 448
  EXPECT_EQ(f32_to_e4m3(420.0f), 0x7d);  // nearer 416
  EXPECT_FALSE(is_nan_code(f32_to_e4m3(std::nanf(""))));
  // A sweep of random magnitudes: never a NaN code, always the nearest value (brute force over all codes).
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> expo(-14.0f, 10.0f);
  for (int i = 0; i < 20000; ++i) {
    const float v = std::exp2(expo(rng)) * (i % 2 ? -1.0f : 1.0f);
    const uint8_t q = f32_to_e4m3(v);
    ASSERT_FALSE(is_nan_code(q)) << v;
    const double got = std::fabs(double(e4m3_to_f32(q)) - double(v));
    double best = 1e300;
    for (int c = 0; c < 256; ++c)
      if (!is_nan_code(uint8_t(c))) best = std::min(best, std::fabs(definition(c) - double(v)));
    if (std::fabs(v) <= 448.0f) ASSERT_EQ(got, best) << v;
    else ASSERT_EQ(std::fabs(e4m3_to_f32(q)), 448.0f) << v;
  }
}

TEST(Fp8, RowQuantisation) {
  const int64_t rows = 4, cols = 37;
  std::vector<float> w(size_t(rows * cols));
  std::mt19937 rng(9);
  std::normal_distribution<float> d(0.0f, 0.02f);
  for (auto& x : w) x = d(rng);
  for (int64_t c = 0; c < cols; ++c) w[size_t(2 * cols + c)] = 0.0f;  // row 2: all zero
  w[size_t(1 * cols + 5)] = -0.5f;                                       // row 1: amax negative
  w[size_t(3 * cols + 7)] = 1e-30f;                                      // row 3: tiny values only
  for (int64_t c = 0; c < cols; ++c)
    if (c != 7) w[size_t(3 * cols + c)] = 0.0f;
  const Matrix m{DType::F32, w.data(), rows, cols};
  std::vector<uint8_t> q(static_cast<size_t>(rows * cols));
  std::vector<float> s(static_cast<size_t>(rows));
  quantize_rows_e4m3(m, q.data(), s.data());
  std::vector<float> back(static_cast<size_t>(rows * cols));
  const Matrix rt = fp8_round_trip(m, back.data());
  ASSERT_EQ(rt.dtype, DType::F32);
  ASSERT_EQ(rt.rows, rows);
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(w[size_t(r * cols + c)]));
    EXPECT_EQ(s[size_t(r)], amax > 0 ? amax / 448.0f : 1.0f) << "row " << r;
    std::vector<float> deq(static_cast<size_t>(cols));
    dequantize_row_e4m3(q.data() + r * cols, s[size_t(r)], cols, deq.data());
    for (int64_t c = 0; c < cols; ++c) {
      const float x = w[size_t(r * cols + c)], y = deq[size_t(c)];
      EXPECT_EQ(y, back[size_t(r * cols + c)]);
      // Relative error ≤ 2^-4 (half of a 3-bit mantissa step) for normals; subnormals: ≤ half of 2^-9 · scale.
      EXPECT_LE(std::fabs(y - x), std::max(std::fabs(x) / 16.0f, s[size_t(r)] * std::ldexp(1.0f, -10)) * 1.0001f)
          << "row " << r << " col " << c;
      if (std::fabs(x) == amax && amax > 0) {
        EXPECT_EQ(q[size_t(r * cols + c)] & 0x7f, 0x7e) << "amax → ±448";
      }
    }
  }
  EXPECT_EQ(q[size_t(1 * cols + 5)], 0xfe);
  // bf16 input: the same as its fp32 widening.
  std::vector<uint16_t> wb(w.size());
  std::vector<float> wbf(w.size());
  for (size_t i = 0; i < w.size(); ++i) wbf[i] = bf16_to_f32(wb[i] = f32_to_bf16(w[i]));
  std::vector<uint8_t> qb(q.size()), qf(q.size());
  std::vector<float> sb(s.size()), sf(s.size());
  quantize_rows_e4m3(Matrix{DType::BF16, wb.data(), rows, cols}, qb.data(), sb.data());
  quantize_rows_e4m3(Matrix{DType::F32, wbf.data(), rows, cols}, qf.data(), sf.data());
  EXPECT_EQ(qb, qf);
  EXPECT_EQ(sb, sf);
  // Non-finite weights are an error, not a silent NaN row.
  w[3] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(quantize_rows_e4m3(m, q.data(), s.data()), Error);
}

// EngineOptions::expert_dtype on the CPU engine (fp32 qwen3_moe fixture): fp8 experts hold exactly the
// quantise-then-dequantise values of the checkpoint's, other weights are untouched, and the logits move a little
// (not at all would mean the option did nothing); bf16 rounds the experts; bad names fail.
TEST(Fp8, CpuEngineExpertDtype) {
  const auto dir = test::fixtures_dir() / "models" / "qwen3_moe";
  EngineOptions opt;
  opt.threads = 2;
  opt.kv_cache_bytes = size_t(16) << 20;
  auto base = Engine::load(dir, opt);
  opt.expert_dtype = DType::F8_E4M3;
  auto fp8 = Engine::load(dir, opt);
  opt.expert_dtype = DType::BF16;
  auto bf16 = Engine::load(dir, opt);
  const ModelWeights &wb = base->weights(), &wf = fp8->weights(), &wh = bf16->weights();
  int moe_layers = 0;
  for (size_t l = 0; l < wb.layers.size(); ++l) {
    if (!wb.layers[l].is_moe) continue;
    ++moe_layers;
    ASSERT_EQ(wf.layers[l].experts.size(), wb.layers[l].experts.size());
    for (size_t e = 0; e < wb.layers[l].experts.size(); ++e) {
      const auto& src = wb.layers[l].experts[e];
      const auto& got = wf.layers[l].experts[e];
      for (auto [a, b] : {std::pair{&src.gate, &got.gate}, {&src.up, &got.up}, {&src.down, &got.down}}) {
        std::vector<float> want(static_cast<size_t>(a->rows * a->cols));
        const Matrix rt = fp8_round_trip(*a, want.data());
        ASSERT_EQ(b->dtype, DType::F32);
        ASSERT_EQ(b->rows, rt.rows);
        ASSERT_EQ(b->cols, rt.cols);
        const float* g = static_cast<const float*>(b->data);
        ASSERT_TRUE(std::equal(want.begin(), want.end(), g)) << "layer " << l << " expert " << e;
      }
      EXPECT_EQ(wh.layers[l].experts[e].gate.dtype, DType::BF16);
    }
    const Matrix &ra = wb.layers[l].router, &rf = wf.layers[l].router;  // not an expert: untouched
    ASSERT_EQ(rf.dtype, ra.dtype);
    EXPECT_EQ(std::memcmp(rf.data, ra.data, size_t(ra.rows) * ra.row_bytes()), 0);
  }
  ASSERT_GT(moe_layers, 0);
  const auto ids = random_token_ids(12, base->spec().vocab_size, 3);
  auto logits = [&](Engine& e) {
    SeqId s = e.create_sequence();
    BatchItem item{s, ids, LogitsRequest::all(), nullptr, nullptr};
    ForwardOutput out;
    e.forward(std::span<BatchItem>(&item, 1), out);
    e.free_sequence(s);
    return out.logits;
  };
  const auto lb = logits(*base), lf = logits(*fp8);
  ASSERT_EQ(lb.size(), lf.size());
  float worst = 0, scale = 0;
  for (size_t i = 0; i < lb.size(); ++i) {
    worst = std::max(worst, std::fabs(lb[i] - lf[i]));
    scale = std::max(scale, std::fabs(lb[i]));
  }
  EXPECT_GT(worst, 0.0f) << "fp8 experts left the logits unchanged";
  EXPECT_LT(worst, 0.2f * scale) << "fp8 experts moved the logits by " << worst << " (max |logit| " << scale << ")";
  EXPECT_EQ(parse_expert_dtype("fp8"), DType::F8_E4M3);
  EXPECT_EQ(parse_expert_dtype("bf16"), DType::BF16);
  EXPECT_EQ(parse_expert_dtype(""), std::nullopt);
  EXPECT_THROW(parse_expert_dtype("fp4"), Error);
  opt.expert_dtype = DType::F16;
  EXPECT_THROW(Engine::load(dir, opt), Error);
}

}  // namespace
