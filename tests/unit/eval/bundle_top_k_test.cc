// A plan may widen the nodes' top-k (plan.node_top_k, what `plan --scheme auto` records). Then the packed bundle
// must route each token to that many of its experts: its config.json says so, and its logits equal the full model
// restricted to the node's experts AT THAT k — the run `eval quality` scores for the plan by default.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "format/safetensors.h"
#include "pack/bundle_writer.h"
#include "plan/planner.h"
#include "runtime/engine.h"
#include "test_paths.h"

using namespace banyan;
namespace fs = std::filesystem;

namespace {

PlanModel plan_model(const fs::path& dir) {
  ModelSpec spec = load_model_spec(dir);
  PlanModel m;
  m.source_path = dir.string();
  m.source_sha256 = Checkpoint(dir).source_hash();
  m.family = std::string(family_name(spec.family));
  m.num_layers = spec.num_layers;
  m.moe_layers = spec.moe_layers();
  m.num_experts = spec.num_experts;
  m.top_k = spec.top_k;
  return m;
}

// Logits of every position of `tokens`.
std::vector<float> logits(Engine& engine, const std::vector<int32_t>& tokens, const ExpertRestriction* r = nullptr) {
  BatchItem item;
  item.seq = engine.create_sequence();
  item.tokens = tokens;
  item.logits = LogitsRequest::all();
  item.restriction = r;
  ForwardOutput out;
  std::vector<BatchItem> batch{item};
  engine.forward(batch, out);
  engine.free_sequence(item.seq);
  return out.logits;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// Packs `plan`, then checks every node: config and manifest carry min(node_top_k, local); bundle logits equal the
// restricted full model at that k within `tol`, and differ from the restricted model at the model's own k.
void expect_wide_bundles(const fs::path& dir, const Plan& plan, const std::vector<int32_t>& tokens, float tol) {
  const fs::path out = banyan::test::make_temp_dir("bundle_top_k");
  pack_bundles(dir, plan, out);
  auto full = Engine::load(dir);
  const int64_t k = plan.effective_node_top_k();
  ASSERT_GT(k, full->spec().top_k);
  for (const auto& node : plan.nodes) {
    SCOPED_TRACE(fmt::format("{} {}", dir.filename().string(), node.name));
    EXPECT_EQ(read_json(out / node.name / "config.json")["num_experts_per_tok"], k);
    EXPECT_EQ(read_json(out / node.name / "banyan-node.json")["num_experts_per_tok"], k);
    EXPECT_EQ(read_json(out / node.name / "banyan-node.json")["top_k"], full->spec().top_k);
    std::vector<std::vector<int32_t>> allowed;
    for (const auto& l : node.experts) allowed.emplace_back(l.begin(), l.end());
    ExpertRestriction wide(full->spec(), allowed, int(plan.node_top_k));
    ExpertRestriction narrow(full->spec(), allowed);
    const auto want = logits(*full, tokens, &wide);
    auto bundle = Engine::load(out / node.name);
    EXPECT_EQ(bundle->spec().top_k, k);
    EXPECT_LE(max_abs_diff(logits(*bundle, tokens), want), tol);
    EXPECT_GT(max_abs_diff(want, logits(*full, tokens, &narrow)), 1e-3f);  // the wider k changes the logits
  }
  fs::remove_all(out);
}

}  // namespace

TEST(BundleTopK, FixtureBundlesRouteToThePlansWiderTopK) {
  const std::vector<int32_t> tokens = {1, 5, 9, 14, 3, 27, 8, 2, 11, 40, 6, 19};
  for (const char* fam : {"qwen3_moe", "qwen2_moe", "mixtral", "olmoe"}) {
    const fs::path dir = banyan::test::fixtures_dir() / "models" / fam;
    PlanOptions o;
    o.nodes = 2;  // contiguous halves: 4 of 8 experts
    PlanModel m = plan_model(dir);
    o.node_top_k = std::min<int64_t>(m.top_k + 1, 4);
    if (o.node_top_k <= m.top_k) continue;  // qwen2_moe routes to 4 already: a half cannot widen it
    expect_wide_bundles(dir, make_plan(m, o, nullptr), tokens, 1e-5f);
  }
}

// The shared model at the `auto` rule's k (8 -> 12) on 64 of 128 experts.
TEST(BundleTopK, TinyQwen3MoeHalfAtTopTwelve) {
  BANYAN_REQUIRE_SHARED(shared);
  const fs::path dir = shared / "models" / "tiny-qwen3moe";
  PlanModel m = plan_model(dir);
  PlanOptions o;
  o.nodes = 2;
  o.node_top_k = auto_node_top_k(m.top_k, m.num_experts / 2, m.num_experts);
  ASSERT_EQ(o.node_top_k, 12);
  std::vector<int32_t> tokens;
  for (int i = 0; i < 24; ++i) tokens.push_back(int32_t((i * 977 + 31) % 8000));
  expect_wide_bundles(dir, make_plan(m, o, nullptr), tokens, 1e-4f);
}
