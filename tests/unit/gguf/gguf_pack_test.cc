// `pack --format gguf|both` (pack_gguf) and the streaming conversion's independence from its chunk size.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "format/safetensors.h"
#include "pack/gguf/gguf_export.h"
#include "pack/gguf/gguf_pack.h"
#include "pack/gguf/gguf_reader.h"
#include "plan/planner.h"
#include "test_paths.h"

using namespace banyan;
using namespace banyan::gguf;
using banyan::test::fixtures_dir;
using banyan::test::make_temp_dir;
namespace fs = std::filesystem;

namespace {

std::string bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.good()) << p;
  return {std::istreambuf_iterator<char>(in), {}};
}

Plan contiguous_plan(const fs::path& dir, int nodes) {
  const PlanModel m = load_plan_model(dir);
  PlanOptions o;
  o.scheme = Scheme::Contiguous;
  o.nodes = nodes;
  return make_plan(m, o, nullptr);
}

}  // namespace

// The whole-plan path and `export gguf` of the same node bundle give the same bytes; without keep_bundles only
// the GGUFs remain.
TEST(GgufPack, PlanGgufsEqualExportOfEachBundle) {
  for (const char* family : {"qwen3_moe", "mixtral"}) {
    SCOPED_TRACE(family);
    const fs::path model = fixtures_dir() / "models" / family;
    const Plan plan = contiguous_plan(model, 2);
    const fs::path both = make_temp_dir("gguf_pack_both"), only = make_temp_dir("gguf_pack_only");
    const auto kept = pack_gguf(model, plan, both, {}, {TensorType::Q8_0, true});
    const auto removed = pack_gguf(model, plan, only, {}, {TensorType::Q8_0, false});
    ASSERT_EQ(kept.size(), 2u);
    ASSERT_EQ(removed.size(), 2u);
    for (size_t n = 0; n < kept.size(); ++n) {
      const std::string name = plan.nodes[n].name;
      EXPECT_EQ(kept[n].gguf, both / (name + ".gguf"));
      ASSERT_TRUE(fs::is_directory(both / name));
      export_gguf(both / name, both / "exported.gguf", TensorType::Q8_0);
      const std::string packed = bytes(kept[n].gguf);
      EXPECT_EQ(packed, bytes(both / "exported.gguf")) << name;
      EXPECT_EQ(packed, bytes(only / (name + ".gguf"))) << name;
      EXPECT_FALSE(fs::exists(only / name)) << "bundle left behind without keep_bundles";
      // The node's GGUF holds its local experts only.
      Reader r(kept[n].gguf);
      const std::string arch = std::get<std::string>(r.value("general.architecture").v);
      EXPECT_EQ(std::get<uint32_t>(r.value(arch + ".expert_count").v), uint32_t(plan.experts_per_node));
      const std::string blk = "blk." + std::to_string(plan.moe_layers.at(0)) + ".";
      EXPECT_EQ(r.tensor(blk + "ffn_up_exps.weight").dims.back(), plan.experts_per_node);
    }
    fs::remove_all(both);
    fs::remove_all(only);
  }
}

// Converting a few rows at a time (whole heads for the rotary q/k permutation) writes the same file as whole
// tensors at once.
TEST(GgufExport, OutputDoesNotDependOnTheChunkSize) {
  const fs::path model = fixtures_dir() / "models" / "mixtral";
  const fs::path dir = make_temp_dir("gguf_chunks");
  for (TensorType t : {TensorType::F32, TensorType::Q8_0}) {
    export_gguf(model, dir / "whole.gguf", t);
    export_gguf(model, dir / "rows.gguf", t, /*chunk_bytes=*/64);  // one row (one head for q/k) per chunk
    EXPECT_EQ(bytes(dir / "whole.gguf"), bytes(dir / "rows.gguf")) << tensor_type_name(t);
    EXPECT_FALSE(fs::exists(dir / "rows.gguf.partial"));
  }
  fs::remove_all(dir);
}
