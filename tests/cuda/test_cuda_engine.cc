// The CUDA engine against the CPU engine (the reference), on every fixture family, a packed bundle and the demo
// model: logits (prefill and decode), chosen experts and routing weights (taps), greedy decoding, batches equal to
// items alone, fork/trim on the device KV cache, expert restrictions, router taps with expert output norms and the
// calibration profiles built from them. Runs on a GPU machine only.
//
// Tolerances, relative to the reference's max |logit|: fp32 fixtures 1e-4 (fp32 everywhere, only summation order
// differs); the bf16 demo model 1e-2 (prefill GEMMs run on the tensor cores with activations rounded to bf16).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>

#include "core/error.h"
#include "cuda_test_util.h"
#include "pack/bundle_writer.h"
#include "plan/calibrate.h"
#include "plan/planner.h"
#include "runtime/engine.h"
#include "runtime/random_tokens.h"
#include "test_paths.h"

using namespace banyan;
using namespace banyan::cuda_test;
namespace fs = std::filesystem;

namespace {

using Case = ModelCase;  // dir empty: the packed bundle, written in SetUpTestSuite

void expect_near(std::span<const float> got, std::span<const float> want, float tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const float scale = tol * std::max(max_abs(want), 1e-6f);
  float worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
  EXPECT_LE(worst, scale) << what << ": max |diff| " << worst << " vs max|ref| " << max_abs(want);
}

// One forward of a fresh sequence; returns the requested logits.
std::vector<float> run_fresh(Engine& e, const std::vector<int32_t>& ids, LogitsRequest req,
                             const ExpertRestriction* r = nullptr, RouterTapRequest* taps = nullptr) {
  SeqId s = e.create_sequence();
  BatchItem item{s, ids, std::move(req), r, taps};
  ForwardOutput out;
  e.forward(std::span<BatchItem>(&item, 1), out);
  e.free_sequence(s);
  return out.logits;
}

class CudaEngine : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    // A packed bundle: node 0 of a contiguous 2-node plan of the qwen3_moe fixture.
    const fs::path src = test::fixtures_dir() / "models" / "qwen3_moe";
    const PlanModel m = load_plan_model(src);
    PlanOptions o;
    o.nodes = 2;
    const Plan plan = make_plan(m, o, nullptr);
    bundle_root_ = new fs::path(test::make_temp_dir("cuda-bundle"));
    const auto nodes = pack_bundles(src, plan, *bundle_root_);
    bundle_dir_ = new fs::path(nodes.at(0).dir);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*bundle_root_);
    delete bundle_root_;
    delete bundle_dir_;
  }
  void SetUp() override {
    const Case& c = GetParam();
    const fs::path dir = c.dir.empty() ? *bundle_dir_ : c.dir;
    EngineOptions opt;
    opt.threads = 4;
    opt.kv_cache_bytes = size_t(64) << 20;
    cpu_ = Engine::load(dir, opt);
    opt.device = "cuda";
    gpu_ = Engine::load(dir, opt);
    tol_ = c.tol;
    V_ = cpu_->spec().vocab_size;
  }
  std::unique_ptr<Engine> cpu_, gpu_;
  float tol_ = 0;
  int64_t V_ = 0;
  static fs::path* bundle_root_;
  static fs::path* bundle_dir_;
};
fs::path* CudaEngine::bundle_root_ = nullptr;
fs::path* CudaEngine::bundle_dir_ = nullptr;

TEST_P(CudaEngine, PrefillLogitsMatchCpu) {
  for (size_t n : {1, 5, 24, 70}) {
    const auto ids = random_token_ids(n, V_, uint32_t(n));
    expect_near(run_fresh(*gpu_, ids, LogitsRequest::all()), run_fresh(*cpu_, ids, LogitsRequest::all()), tol_,
                "prefill of " + std::to_string(n));
  }
}

TEST_P(CudaEngine, DecodeStepsMatchCpu) {
  const auto ids = random_token_ids(40, V_, 7);
  SeqId a = cpu_->create_sequence(), b = gpu_->create_sequence();
  std::vector<int32_t> prompt(ids.begin(), ids.begin() + 9);
  expect_near(step(*gpu_, b, prompt), step(*cpu_, a, prompt), tol_, "prompt");
  for (size_t t = 9; t < ids.size(); ++t)
    expect_near(step(*gpu_, b, {ids[t]}), step(*cpu_, a, {ids[t]}), tol_, "decode at " + std::to_string(t));
  EXPECT_EQ(gpu_->sequence_length(b), 40);
}

TEST_P(CudaEngine, TapsChooseTheSameExperts) {
  const auto ids = random_token_ids(12, V_, 3);
  RouterTapRequest tc, tg;
  run_fresh(*cpu_, ids, LogitsRequest::last(), nullptr, &tc);
  run_fresh(*gpu_, ids, LogitsRequest::last(), nullptr, &tg);
  ASSERT_EQ(tc.taps.size(), tg.taps.size());
  ASSERT_FALSE(tc.taps.empty());
  for (size_t i = 0; i < tc.taps.size(); ++i) {
    SCOPED_TRACE("layer " + std::to_string(tc.taps[i].layer));
    EXPECT_EQ(tg.taps[i].layer, tc.taps[i].layer);
    EXPECT_EQ(tg.taps[i].k, tc.taps[i].k);
    EXPECT_EQ(tg.taps[i].ids, tc.taps[i].ids);
    expect_near(tg.taps[i].weights, tc.taps[i].weights, 10 * tol_, "routing weights");
    expect_near(tg.taps[i].probs, tc.taps[i].probs, 10 * tol_, "unmasked probabilities");
  }
}

TEST_P(CudaEngine, Greedy32TokensEqualCpu) {
  const auto prompt = random_token_ids(6, V_, 11);
  EXPECT_EQ(greedy(*gpu_, prompt, 32, true), greedy(*cpu_, prompt, 32, false));
}

TEST_P(CudaEngine, BatchEqualsItemsAlone) {
  // Three items: a prefill, a decode step on an existing sequence, a longer prefill; all rows of each.
  const auto p0 = random_token_ids(7, V_, 21), p1 = random_token_ids(10, V_, 22), p2 = random_token_ids(30, V_, 23);
  SeqId s1 = gpu_->create_sequence();
  step(*gpu_, s1, p1);
  SeqId s0 = gpu_->create_sequence(), s2 = gpu_->create_sequence();
  std::vector<BatchItem> batch{{s0, p0, LogitsRequest::all(), nullptr, nullptr},
                               {s1, {p2[0]}, LogitsRequest::all(), nullptr, nullptr},
                               {s2, p2, LogitsRequest::at({0, 29, 13}), nullptr, nullptr}};
  ForwardOutput out;
  gpu_->forward(batch, out);
  auto rows = [&](size_t item) {
    return std::vector<float>(out.logits.begin() + out.item_rows[item] * V_,
                              out.logits.begin() + out.item_rows[item + 1] * V_);
  };
  expect_near(rows(0), run_fresh(*gpu_, p0, LogitsRequest::all()), tol_, "item 0");
  std::vector<int32_t> p1x = p1;
  p1x.push_back(p2[0]);
  expect_near(rows(1), run_fresh(*gpu_, p1x, LogitsRequest::last()), tol_, "item 1");
  expect_near(rows(2), run_fresh(*gpu_, p2, LogitsRequest::at({0, 29, 13})), tol_, "item 2");
  expect_near(rows(2), run_fresh(*cpu_, p2, LogitsRequest::at({0, 29, 13})), tol_, "item 2 vs cpu");
  for (SeqId s : {s0, s1, s2}) gpu_->free_sequence(s);
}

// Pure decode steps replay captured CUDA graphs (padded to a bucket, attention planned for a length bound); the
// same steps on an engine with graphs disabled run op by op. Batches of 1 and 3 (padded to 4), several steps each,
// with a prompt long enough that the attention length bound and split plan differ from the exact ones.
TEST_P(CudaEngine, GraphDecodeEqualsUncapturedDecode) {
  const Case& c = GetParam();
  EngineOptions opt;
  opt.threads = 4;
  opt.kv_cache_bytes = size_t(64) << 20;
  opt.device = "cuda";
  setenv("BANYAN_CUDA_GRAPHS", "0", 1);
  std::unique_ptr<Engine> plain;
  try {
    plain = Engine::load(c.dir.empty() ? *bundle_dir_ : c.dir, opt);
  } catch (...) {
    unsetenv("BANYAN_CUDA_GRAPHS");
    throw;
  }
  unsetenv("BANYAN_CUDA_GRAPHS");
  for (int n_items : {1, 3}) {
    std::vector<SeqId> sg, sp;
    for (int i = 0; i < n_items; ++i) {
      const auto prompt = random_token_ids(size_t(5 + 37 * i), V_, uint32_t(41 + i));
      sg.push_back(gpu_->create_sequence());
      sp.push_back(plain->create_sequence());
      step(*gpu_, sg.back(), prompt);
      step(*plain, sp.back(), prompt);
    }
    for (int t = 0; t < 5; ++t) {
      const auto next = random_token_ids(size_t(n_items), V_, uint32_t(100 * n_items + t));
      const auto lg = step_batch(*gpu_, sg, next), lp = step_batch(*plain, sp, next);
      expect_near(lg, lp, tol_, "batch " + std::to_string(n_items) + " step " + std::to_string(t));
    }
    for (SeqId s : sg) gpu_->free_sequence(s);
    for (SeqId s : sp) plain->free_sequence(s);
  }
}

TEST_P(CudaEngine, ForkAndTrimOnTheDeviceCache) {
  const auto ids = random_token_ids(21, V_, 31);  // 21 tokens: the fork shares a partly filled page (16-token pages)
  SeqId a = gpu_->create_sequence();
  step(*gpu_, a, ids);
  SeqId b = gpu_->fork_sequence(a);
  const auto la = step(*gpu_, a, {5}), lb = step(*gpu_, b, {9});
  auto with = [&](int32_t t) {
    auto v = ids;
    v.push_back(t);
    return v;
  };
  expect_near(la, run_fresh(*cpu_, with(5), LogitsRequest::last()), tol_, "fork parent");
  expect_near(lb, run_fresh(*cpu_, with(9), LogitsRequest::last()), tol_, "fork child");
  gpu_->trim_sequence(a, 10);
  std::vector<int32_t> rest(ids.begin() + 10, ids.end());
  rest.push_back(9);
  expect_near(step(*gpu_, a, rest), run_fresh(*cpu_, with(9), LogitsRequest::last()), tol_, "trim + refill");
  gpu_->free_sequence(a);
  gpu_->free_sequence(b);
}

TEST_P(CudaEngine, RestrictionAndTopKOverrideMatchCpu) {
  const ModelSpec& s = cpu_->spec();
  std::vector<int32_t> even;
  for (int32_t e = 0; e < s.num_experts; e += 2) even.push_back(e);
  const ExpertRestriction r(s, {even}, int(std::min<int64_t>(s.num_experts / 2, s.top_k + 1)));
  const auto ids = random_token_ids(17, V_, 41);
  RouterTapRequest tc, tg;
  expect_near(run_fresh(*gpu_, ids, LogitsRequest::all(), &r, &tg),
              run_fresh(*cpu_, ids, LogitsRequest::all(), &r, &tc), tol_, "restricted");
  ASSERT_EQ(tc.taps.size(), tg.taps.size());
  for (size_t i = 0; i < tc.taps.size(); ++i) EXPECT_EQ(tg.taps[i].ids, tc.taps[i].ids);
}

// ---- router taps with expert output norms (RouterTapRequest::expert_output_norms; calibrate's out_norm profile)
//
// weighted_output_norm[e] = Σ weight · ‖expert e's output‖₂ is a sum over the tokens routed to e, so it is only
// comparable between the engines for an expert that got the same tokens on both. On the fp32 fixtures routing is
// identical (every expert must compare; norms within 1e-3 relative: fp32 everywhere, summation order differs). On
// a bf16 model (tolerance 1e-2: prefill GEMMs round activations to bf16) a near-tie may route a token differently,
// so experts whose token sets differ are skipped and counted, at most a tenth of the routed (layer, expert) pairs,
// and the others' norms must agree within 10 × the logit tolerance, the routing weights' tolerance above (bf16
// activations move the hidden state ~1e-2 relative, and each term is weight × norm). token_count is exact for every
// compared expert and, on the GPU tap, equal to the number of times its own ids chose the expert.

TEST_P(CudaEngine, ExpertOutputNormsMatchCpu) {
  const int64_t E = cpu_->spec().num_experts;
  for (size_t n : {1, 2, 24}) {  // 1 and 2: sizes whose experts otherwise run the per-assignment schedule
    const auto ids = random_token_ids(n, V_, uint32_t(50 + n));
    RouterTapRequest tc = norm_taps(), tg = norm_taps();
    const auto lg = run_fresh(*gpu_, ids, LogitsRequest::all(), nullptr, &tg);
    const auto lc = run_fresh(*cpu_, ids, LogitsRequest::all(), nullptr, &tc);
    expect_near(lg, lc, tol_, "logits with norm taps, " + std::to_string(n) + " tokens");
    compare_norm_taps(tg, tc, E, tol_, std::to_string(n) + " tokens");
    for (const RouterTap& t : tg.taps) {
      int64_t total = 0;
      for (int64_t c : t.token_count) total += c;
      EXPECT_EQ(total, int64_t(n) * t.k) << "layer " << t.layer;
    }
  }
}

// One batch on both engines: a prefill with norm taps on every layer, a decode step with norm taps on the last MoE
// layer only, a prefill with plain taps (its norm fields are left alone) and an item without taps.
TEST_P(CudaEngine, ExpertOutputNormsInAMixedBatch) {
  const ModelSpec& s = cpu_->spec();
  const int last_moe = s.moe_layers().back();
  const auto p0 = random_token_ids(9, V_, 61), p1 = random_token_ids(5, V_, 62), p2 = random_token_ids(6, V_, 63),
             p3 = random_token_ids(4, V_, 64);
  struct Run {
    RouterTapRequest t0, t1, t2;
    std::vector<float> logits;
  };
  auto run = [&](Engine& e, Run& r) {
    r.t0 = norm_taps();
    r.t1 = norm_taps({last_moe});
    r.t2.taps.assign(1, RouterTap{});
    r.t2.taps[0].weighted_output_norm = {42.0};  // a plain tap must leave these alone
    r.t2.taps[0].token_count = {7};
    SeqId s1 = e.create_sequence();
    step(e, s1, p1);
    SeqId s0 = e.create_sequence(), s2 = e.create_sequence(), s3 = e.create_sequence();
    std::vector<BatchItem> batch{{s0, p0, LogitsRequest::last(), nullptr, &r.t0},
                                 {s1, {p0[0]}, LogitsRequest::last(), nullptr, &r.t1},
                                 {s2, p2, LogitsRequest::last(), nullptr, &r.t2},
                                 {s3, p3, LogitsRequest::last(), nullptr, nullptr}};
    ForwardOutput out;
    e.forward(batch, out);
    r.logits = out.logits;
    for (SeqId q : {s0, s1, s2, s3}) e.free_sequence(q);
  };
  Run g, c;
  run(*gpu_, g);
  run(*cpu_, c);
  expect_near(g.logits, c.logits, tol_, "mixed batch logits");
  compare_norm_taps(g.t0, c.t0, s.num_experts, tol_, "prefill item");
  compare_norm_taps(g.t1, c.t1, s.num_experts, tol_, "decode item");
  ASSERT_EQ(g.t1.taps.size(), 1u);
  EXPECT_EQ(g.t1.taps[0].layer, last_moe);
  for (const Run* r : {&g, &c}) {  // the CPU engine leaves them alone too
    ASSERT_EQ(r->t2.taps.size(), s.moe_layers().size());
    EXPECT_EQ(r->t2.taps[0].weighted_output_norm, std::vector<double>{42.0}) << "a plain tap's norms were written";
    EXPECT_EQ(r->t2.taps[0].token_count, std::vector<int64_t>{7});
  }
}

// A restriction allowing fewer experts than top-k: the router pads each token's slots past k with weight-0 copies
// of its first choice, which must not be counted (the CPU engine runs with k = the allowed count).
TEST_P(CudaEngine, ExpertOutputNormsUnderARestrictionCountOnlyChosenSlots) {
  const ModelSpec& s = cpu_->spec();
  const int32_t only = int32_t(s.num_experts - 1);
  const ExpertRestriction r(s, std::vector<std::vector<int32_t>>{std::vector<int32_t>{only}});
  for (size_t n : {1, 13}) {
    const auto ids = random_token_ids(n, V_, uint32_t(70 + n));
    RouterTapRequest tc = norm_taps(), tg = norm_taps();
    expect_near(run_fresh(*gpu_, ids, LogitsRequest::last(), &r, &tg),
                run_fresh(*cpu_, ids, LogitsRequest::last(), &r, &tc), tol_, "restricted to one expert");
    compare_norm_taps(tg, tc, s.num_experts, tol_, "restricted, " + std::to_string(n) + " tokens");
    for (const RouterTap& t : tg.taps) {
      SCOPED_TRACE("layer " + std::to_string(t.layer));
      EXPECT_EQ(t.k, 1);
      ASSERT_EQ(t.token_count.size(), size_t(s.num_experts));
      for (int64_t e = 0; e < s.num_experts; ++e)
        EXPECT_EQ(t.token_count[size_t(e)], e == only ? int64_t(n) : 0) << "expert " << e;
      EXPECT_GT(t.weighted_output_norm[size_t(only)], 0.0);
    }
  }
}

// calibrate_documents (banyan calibrate --device cuda) on both engines: three documents, two per forward. On the
// fp32 fixtures the profiles agree entry by entry (counts exactly); on a bf16 model near-ties may move a token
// between experts, so counts may differ by at most 5 % of all routed slots and the out_norm rows are compared by
// their sums over experts (a moved token keeps roughly its norm). Not on the bundle: calibrate needs the full model
// (a bundle's taps report the source model's experts).
TEST_P(CudaEngine, CalibrateProfilesMatchCpu) {
  if (GetParam().dir.empty()) GTEST_SKIP() << "calibrate runs on full models";
  std::vector<Document> docs(3);
  for (size_t d = 0; d < docs.size(); ++d) {
    docs[d].domain = "d" + std::to_string(d % 2);
    docs[d].tokens = random_token_ids(12 + 4 * d, V_, uint32_t(80 + d));
  }
  CalibrateOptions o;
  o.batch = 2;
  const Profiles c = calibrate_documents(*cpu_, docs, o), g = calibrate_documents(*gpu_, docs, o);
  ASSERT_EQ(g.docs, c.docs);
  ASSERT_EQ(g.counts.size(), c.counts.size());
  ASSERT_EQ(g.out_norm.size(), c.out_norm.size());
  ASSERT_EQ(g.probs.size(), c.probs.size());
  EXPECT_EQ(g.tokens, c.tokens);
  expect_near(g.probs, c.probs, 10 * tol_, "mean router probabilities");
  expect_near(g.topk_mass, c.topk_mass, tol_ < 1e-3f ? 10 * tol_ : 0.1f, "top-k mass");
  const bool fp32 = tol_ < 1e-3f;
  double moved = 0, total = 0;
  for (size_t i = 0; i < c.counts.size(); ++i) {
    moved += std::fabs(g.counts[i] - c.counts[i]);
    total += c.counts[i];
  }
  if (fp32) {
    EXPECT_EQ(g.counts, c.counts);
  } else {
    EXPECT_LE(moved, 0.05 * total) << "counts moved by near-ties";
  }
  for (int64_t d = 0; d < c.docs; ++d)
    for (int64_t l = 0; l < c.layers; ++l) {
      const size_t off = c.offset(d, l);
      double gs = 0, cs = 0;
      for (int64_t e = 0; e < c.experts; ++e) {
        const double gv = g.out_norm[off + size_t(e)], cv = c.out_norm[off + size_t(e)];
        gs += gv;
        cs += cv;
        if (fp32) {
          EXPECT_NEAR(gv, cv, 1e-3 * std::max(cv, 1e-3)) << "doc " << d << " layer " << l << " expert " << e;
        }
      }
      EXPECT_NEAR(gs, cs, 10 * tol_ * cs) << "doc " << d << " layer " << l << ": Σ out_norm";
    }
}

std::vector<Case> cases() {
  const fs::path f = test::fixtures_dir() / "models";
  return with_demo_model({{"qwen3_moe", f / "qwen3_moe", 1e-4f},
                          {"qwen3_moe_fused", f / "qwen3_moe-fused", 1e-4f},
                          {"qwen2_moe", f / "qwen2_moe", 1e-4f},
                          {"mixtral", f / "mixtral", 1e-4f},
                          {"olmoe", f / "olmoe", 1e-4f},
                          {"bundle_qwen3_moe_node0", {}, 1e-4f}},
                         test::source_dir());
}

INSTANTIATE_TEST_SUITE_P(Models, CudaEngine, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(CudaDevice, UnknownDeviceIndexIsAnError) {
  EngineOptions opt;
  opt.device = "cuda:97";
  EXPECT_THROW(Engine::load(test::fixtures_dir() / "models" / "qwen3_moe", opt), Error);
  opt.device = "cuda:x";
  EXPECT_THROW(Engine::load(test::fixtures_dir() / "models" / "qwen3_moe", opt), Error);
}

}  // namespace
