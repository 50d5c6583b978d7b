#include "plan/profiles.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "format/safetensors.h"
#include "synthetic_profiles.h"
#include "test_paths.h"

using namespace banyan;

TEST(ProfilesFile, RoundTrip) {
  Profiles a = banyan::test::make_grouped_profiles(3, 4, 2, 8, 1);
  a.out_norm.assign(a.probs.size(), 0.5f);
  a.selection = "spread";
  for (int64_t d = 0; d < a.docs; ++d) a.lines.push_back(3 * d + 2);
  auto dir = banyan::test::make_temp_dir("profiles");
  write_profiles(dir / "p.safetensors", a);
  Profiles b = read_profiles(dir / "p.safetensors");
  EXPECT_EQ(b.selection, "spread");
  EXPECT_EQ(b.lines, a.lines);
  EXPECT_EQ(b.docs, 12);
  EXPECT_EQ(b.layers, 2);
  EXPECT_EQ(b.experts, 8);
  EXPECT_EQ(a.probs, b.probs);
  EXPECT_EQ(a.counts, b.counts);
  EXPECT_EQ(a.topk_mass, b.topk_mass);
  EXPECT_EQ(a.out_norm, b.out_norm);
  EXPECT_EQ(a.domains, b.domains);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.moe_layers, b.moe_layers);
  EXPECT_EQ(a.source_hash, b.source_hash);
  EXPECT_EQ(a.top_k, b.top_k);
  // A plain safetensors reader sees the documented tensors.
  SafetensorsFile f(dir / "p.safetensors");
  EXPECT_EQ(f.find("probs")->shape, (Shape{12, 2, 8}));
  std::filesystem::remove_all(dir);
}

TEST(ProfilesFile, OptionalTensorsMayBeAbsent) {
  Profiles a = banyan::test::make_grouped_profiles(2, 2, 1, 4, 2);
  a.topk_mass.clear();
  auto dir = banyan::test::make_temp_dir("profiles");
  write_profiles(dir / "p.safetensors", a);
  Profiles b = read_profiles(dir / "p.safetensors");
  EXPECT_TRUE(b.topk_mass.empty());
  EXPECT_TRUE(b.out_norm.empty());
  EXPECT_TRUE(b.lines.empty());  // provenance written since session 5: absent is fine
  EXPECT_EQ(b.selection, "");
  std::filesystem::remove_all(dir);
}

TEST(ProfilesFile, RejectsInconsistentProfiles) {
  Profiles a = banyan::test::make_grouped_profiles(2, 2, 1, 4, 3);
  a.domains.pop_back();
  auto dir = banyan::test::make_temp_dir("profiles");
  EXPECT_THROW(write_profiles(dir / "p.safetensors", a), Error);
  Profiles c = banyan::test::make_grouped_profiles(2, 2, 1, 4, 3);
  c.lines = {1};  // one line for four documents
  EXPECT_THROW(write_profiles(dir / "c.safetensors", c), Error);
  // A safetensors file without the metadata is not a profiles file.
  {
    SafetensorsWriter w(dir / "q.safetensors", {{"probs", DType::F32, {1, 1, 1}}});
    float v = 1;
    w.write("probs", &v, 4);
    w.finish();
  }
  EXPECT_THROW(read_profiles(dir / "q.safetensors"), Error);
  std::filesystem::remove_all(dir);
}
