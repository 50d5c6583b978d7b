// The bundle invariant (DESIGN.md): a node bundle's logits equal the full model's with the router restricted to
// the node's experts — against transformers' masked logits (goldens) and against banyan's own restricted engine.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "../plan/synthetic_profiles.h"
#include "bundle_logits_check.h"
#include "format/safetensors.h"
#include "test_paths.h"

using namespace banyan;
using namespace banyan::test;
namespace fs = std::filesystem;

namespace {

std::vector<std::vector<int32_t>> golden_inputs(const SafetensorsFile& g) {
  TensorView ids = g.view("input_ids");
  std::vector<std::vector<int32_t>> rows(size_t(ids.dim(0)));
  for (int64_t b = 0; b < ids.dim(0); ++b)
    for (int64_t t = 0; t < ids.dim(1); ++t) rows[b].push_back(int32_t(ids.as<int64_t>()[b * ids.dim(1) + t]));
  return rows;
}

// A one-node plan holding exactly `experts` (per MoE layer).
Plan single_node_plan(const fs::path& dir, std::vector<std::vector<int>> experts) {
  PlanModel m = plan_model_of(dir);
  PlanOptions o;
  o.nodes = 1;
  Plan p = make_plan(m, o, nullptr);
  p.nodes[0].experts = std::move(experts);
  p.experts_per_node = int64_t(p.nodes[0].experts[0].size());
  p.id = compute_plan_id(p);
  return p;
}

}  // namespace

TEST(BundleLogits, EqualTransformersMaskedLogits) {
  for (const char* fam : {"qwen3_moe", "qwen2_moe", "mixtral", "olmoe"}) {
    SCOPED_TRACE(fam);
    fs::path dir = fixtures_dir() / "models" / fam;
    SafetensorsFile g(fixtures_dir() / "golden" / (std::string(fam) + ".safetensors"));
    ModelSpec spec = load_model_spec(dir);
    std::vector<std::vector<int>> allowed;
    for (int layer : spec.moe_layers()) {
      TensorView a = g.view(fmt::format("masked.allowed.{}", layer));
      allowed.emplace_back(a.as<int64_t>(), a.as<int64_t>() + a.numel());
    }
    Plan plan = single_node_plan(dir, allowed);
    fs::path out = make_temp_dir("bundle_masked");
    pack_bundles(dir, plan, out);
    auto bundle = Engine::load(out / "node-0");
    auto got = all_logits(*bundle, golden_inputs(g));
    auto want = g.view("masked.logits").to_f32();
    EXPECT_LE(max_abs_diff(got, want), 1e-4f * max_abs(want));
    fs::remove_all(out);
  }
}

TEST(BundleLogits, EveryNodeEqualsTheRestrictedFullModel) {
  for (const char* fam : {"qwen3_moe", "qwen2_moe", "mixtral", "olmoe"}) {
    fs::path dir = fixtures_dir() / "models" / fam;
    SafetensorsFile g(fixtures_dir() / "golden" / (std::string(fam) + ".safetensors"));
    auto rows = golden_inputs(g);
    PlanModel m = plan_model_of(dir);
    Profiles prof = make_grouped_profiles(2, 6, int(m.moe_layers.size()), int(m.num_experts), 3, true);
    prof.source_hash = m.source_sha256;
    prof.moe_layers = m.moe_layers;
    PlanOptions o;
    o.nodes = 2;
    expect_nodes_match_restricted(dir, make_plan(m, o, nullptr), rows, 1e-5f);
    o.scheme = Scheme::Clustered;
    o.replicate = 1;
    expect_nodes_match_restricted(dir, make_plan(m, o, &prof), rows, 1e-5f);
    o.scheme = Scheme::Budget;
    o.nodes = 4;
    o.experts_per_node = 3;  // below top-k for qwen2_moe (k 4): num_experts_per_tok = min(k, local)
    expect_nodes_match_restricted(dir, make_plan(m, o, &prof), rows, 1e-5f);
  }
}

TEST(BundleLogits, TinyQwen3MoeNode0EqualsTransformersMasked) {
  BANYAN_REQUIRE_SHARED(shared);
  fs::path dir = shared / "models" / "tiny-qwen3moe";
  SafetensorsFile g(fixtures_dir() / "golden" / "tiny-qwen3moe-masked.safetensors");
  PlanOptions o;
  o.nodes = 2;
  Plan plan = make_plan(plan_model_of(dir), o, nullptr);  // contiguous: node 0 = [0, 64), as the golden
  fs::path out = make_temp_dir("bundle_tiny");
  PackOptions po;
  po.nodes = {0};
  pack_bundles(dir, plan, out, po);
  auto bundle = Engine::load(out / "node-0");
  auto got = all_logits(*bundle, golden_inputs(g));
  auto want = g.view("masked.logits").to_f32();
  EXPECT_LE(max_abs_diff(got, want), 1e-4f * max_abs(want));
  fs::remove_all(out);
  expect_nodes_match_restricted(dir, plan, golden_inputs(g), 1e-5f);
}

// A bundle's router taps report the unmasked softmax over the SOURCE model's experts (from router-full), which the
// node's placement probe needs. At the first MoE layer the bundle's hidden state equals the full model's (no
// restricted layer before it), so the tapped probabilities must equal the full model's exactly.
TEST(BundleLogits, RouterTapsOfABundleCoverTheSourceExperts) {
  const fs::path dir = fixtures_dir() / "models" / "qwen3_moe";
  const SafetensorsFile golden(fixtures_dir() / "golden" / "qwen3_moe.safetensors");
  const auto rows = golden_inputs(golden);
  const ModelSpec spec = load_model_spec(dir);
  const int first_moe = spec.moe_layers().front();
  std::vector<std::vector<int>> experts(spec.moe_layers().size(), std::vector<int>{1, 3, 4, 6});
  const Plan plan = single_node_plan(dir, experts);
  const fs::path out = make_temp_dir("bundle_taps");
  pack_bundles(dir, plan, out);

  auto tap_probs = [&](Engine& engine) {
    RouterTapRequest taps;
    taps.layers = {first_moe};
    BatchItem item;
    item.seq = engine.create_sequence();
    item.tokens = rows[0];
    item.taps = &taps;
    ForwardOutput fo;
    std::vector<BatchItem> batch{item};
    engine.forward(batch, fo);
    engine.free_sequence(item.seq);
    return taps.taps.at(0).probs;
  };
  auto full = Engine::load(dir);
  auto bundle = Engine::load(out / "node-0");
  ASSERT_EQ(bundle->spec().num_experts, 4);
  const auto want = tap_probs(*full);
  const auto got = tap_probs(*bundle);
  ASSERT_EQ(got.size(), rows[0].size() * size_t(spec.num_experts));
  EXPECT_LE(max_abs_diff(got, want), 1e-6f);
  fs::remove_all(out);
}
