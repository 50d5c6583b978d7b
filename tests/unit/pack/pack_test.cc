#include <gtest/gtest.h>

#include "../plan/synthetic_profiles.h"
#include "bundle_check.h"
#include "core/error.h"
#include "pack/bundle_writer.h"
#include "pack/synth.h"
#include "plan/planner.h"
#include "test_paths.h"

using namespace banyan;
namespace fs = std::filesystem;

namespace {

PlanModel plan_model(const fs::path& dir) { return load_plan_model(dir); }

// Synthetic calibration profiles for `dir` (right source hash and shape, two separable document groups).
Profiles profiles_for(const PlanModel& m) {
  Profiles p = banyan::test::make_grouped_profiles(2, 6, int(m.moe_layers.size()), int(m.num_experts), 17, true);
  p.source_hash = m.source_sha256;
  p.moe_layers = m.moe_layers;
  return p;
}

struct Case {
  Scheme scheme;
  int nodes;
  int64_t replicate, per_node;
};

void pack_and_verify(const fs::path& model_dir, const Case& c, uint64_t max_shard = 4ull << 30) {
  PlanModel m = plan_model(model_dir);
  Profiles prof = profiles_for(m);
  PlanOptions o;
  o.scheme = c.scheme;
  o.nodes = c.nodes;
  o.replicate = c.replicate;
  o.experts_per_node = c.per_node;
  Plan plan = make_plan(m, o, &prof, "synthetic");
  fs::path out = banyan::test::make_temp_dir("pack");
  PackOptions po;
  po.max_shard_bytes = max_shard;
  auto packed = pack_bundles(model_dir, plan, out, po);
  ASSERT_EQ(packed.size(), size_t(c.nodes));
  for (int n = 0; n < c.nodes; ++n) {
    SCOPED_TRACE(fmt::format("{} {} node {}", model_dir.filename().string(), plan.scheme, n));
    EXPECT_TRUE(fs::exists(out / fmt::format("node-{}", n) / "config.json"));
    banyan::test::verify_bundle(model_dir, plan, n, out / fmt::format("node-{}", n));
  }
  fs::remove_all(out);
}

const char* kFamilies[] = {"qwen3_moe", "qwen3_moe-fused", "qwen2_moe", "mixtral", "olmoe", "deepseek_v3"};

}  // namespace

TEST(Pack, EveryFixtureFamilyAndScheme) {
  for (const char* fam : kFamilies) {
    fs::path dir = banyan::test::fixtures_dir() / "models" / fam;
    ASSERT_TRUE(fs::exists(dir / "model.safetensors")) << dir;
    try {  // one family's failure should not hide the others'
      pack_and_verify(dir, {Scheme::Contiguous, 2, 0, 0});
      pack_and_verify(dir, {Scheme::Contiguous, 4, 0, 0});
      pack_and_verify(dir, {Scheme::Clustered, 2, 1, 0});
      pack_and_verify(dir, {Scheme::Budget, 2, 1, 5});
    } catch (const std::exception& e) {
      ADD_FAILURE() << fam << ": " << e.what();
    }
  }
}

TEST(Pack, ShardsLargeBundles) {
  fs::path dir = banyan::test::fixtures_dir() / "models" / "qwen2_moe";
  pack_and_verify(dir, {Scheme::Contiguous, 2, 0, 0}, /*max_shard=*/64 << 10);
  // And the shards really are there.
  PlanModel m = plan_model(dir);
  PlanOptions o;
  Plan plan = make_plan(m, o, nullptr);
  fs::path out = banyan::test::make_temp_dir("pack");
  PackOptions po;
  po.max_shard_bytes = 64 << 10;
  auto packed = pack_bundles(dir, plan, out, po);
  EXPECT_GT(packed[0].shards, 2);
  EXPECT_TRUE(fs::exists(out / "node-0" / "model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(out / "node-0" / "model.safetensors"));
  EXPECT_TRUE(Checkpoint(out / "node-0").sharded());
  fs::remove_all(out);
}

TEST(Pack, RefusesAPlanForAnotherModel) {
  fs::path dir = banyan::test::fixtures_dir() / "models" / "olmoe";
  PlanModel m = plan_model(dir);
  PlanOptions o;
  Plan plan = make_plan(m, o, nullptr);
  plan.source_sha256 = std::string(64, '0');
  fs::path out = banyan::test::make_temp_dir("pack");
  EXPECT_THROW(pack_bundles(dir, plan, out), Error);
  // A plan for another model of the same shape is refused too (source hash of qwen3_moe vs its fused twin).
  Plan q = make_plan(plan_model(banyan::test::fixtures_dir() / "models" / "qwen3_moe"), o, nullptr);
  EXPECT_THROW(pack_bundles(banyan::test::fixtures_dir() / "models" / "qwen3_moe-fused", q, out), Error);
  EXPECT_FALSE(fs::exists(out / "node-0"));
  fs::remove_all(out);
}

TEST(Pack, FromAShardedSyntheticSource) {
  fs::path tmp = banyan::test::make_temp_dir("pack_synth");
  // A qwen3_moe config with 16 experts, random weights in several shards.
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(banyan::test::fixtures_dir() / "models/qwen3_moe/config.json"));
  cfg.erase("num_local_experts");
  cfg["num_experts"] = 16;
  std::ofstream(tmp / "config.json") << cfg.dump();
  SynthOptions so;
  so.max_shard_bytes = 100 << 10;
  SynthResult r = synth_checkpoint(tmp / "config.json", tmp / "model", so);
  ASSERT_GT(r.shards, 1u);
  ASSERT_TRUE(Checkpoint(tmp / "model").sharded());
  pack_and_verify(tmp / "model", {Scheme::Clustered, 4, 0, 0});
  pack_and_verify(tmp / "model", {Scheme::Budget, 3, 2, 7});
  fs::remove_all(tmp);
}

TEST(Pack, SharedTinyQwen3Moe) {
  BANYAN_REQUIRE_SHARED(shared);
  fs::path dir = shared / "models" / "tiny-qwen3moe";
  pack_and_verify(dir, {Scheme::Contiguous, 2, 0, 0});
  pack_and_verify(dir, {Scheme::Clustered, 4, 8, 0});
  pack_and_verify(dir, {Scheme::Budget, 4, 8, 64});
}
