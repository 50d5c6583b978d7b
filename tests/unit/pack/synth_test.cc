#include "pack/synth.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include "format/safetensors.h"
#include "model/model_spec.h"
#include "test_paths.h"

using namespace banyan;
namespace fs = std::filesystem;

namespace {
std::map<std::string, Shape> names_and_shapes(const std::vector<TensorSpec>& specs) {
  std::map<std::string, Shape> m;
  for (const auto& s : specs) m[s.name] = s.shape;
  return m;
}
}  // namespace

// The synthesised tensor list of each fixture family equals what transformers saved for the same config.
TEST(Synth, MatchesTransformersCheckpoints) {
  for (const char* fam : {"qwen3_moe", "qwen2_moe", "mixtral", "olmoe", "deepseek_v3"}) {
    fs::path dir = banyan::test::fixtures_dir() / "models" / fam;
    try {
      ModelSpec spec = load_model_spec(dir);
      Checkpoint ckpt(dir);
      std::map<std::string, Shape> want;
      for (const auto& n : ckpt.tensor_names()) want[n] = ckpt.info(n).shape;
      EXPECT_EQ(names_and_shapes(synth_tensor_specs(spec, DType::F32)), want) << fam;
    } catch (const std::exception& e) {
      ADD_FAILURE() << fam << ": " << e.what();
    }
  }
}

// Parameter counts of published models, computed from their configs (published figures, not ours).
TEST(Synth, ParameterCountsOfPublishedConfigs) {
  struct Known {
    const char* dir;
    double billions, tolerance;
  };
  for (const Known& k : {Known{"qwen3-30b-a3b", 30.5, 0.01}, Known{"mixtral-8x7b", 46.7, 0.01},
                         Known{"qwen1.5-moe-a2.7b", 14.3, 0.01}, Known{"olmoe-1b-7b", 6.92, 0.01},
                         Known{"deepseek-v2-lite", 15.7, 0.01},
                         Known{"deepseek-v3", 671.0, 0.01}}) {
    ModelSpec spec = load_model_spec(banyan::test::fixtures_dir() / "configs" / k.dir);
    double params = 0;
    for (const auto& t : synth_tensor_specs(spec, DType::BF16)) params += double(shape_numel(t.shape));
    EXPECT_NEAR(params / 1e9, k.billions, k.billions * k.tolerance) << k.dir;
  }
}

TEST(Synth, WritesALoadableDeterministicCheckpoint) {
  fs::path tmp = banyan::test::make_temp_dir("synth");
  fs::path cfg = banyan::test::fixtures_dir() / "models" / "mixtral" / "config.json";
  SynthOptions o;
  o.seed = 5;
  o.dtype = DType::BF16;
  SynthResult a = synth_checkpoint(cfg, tmp / "a", o);
  SynthResult b = synth_checkpoint(cfg, tmp / "b", o);
  o.seed = 6;
  synth_checkpoint(cfg, tmp / "c", o);
  Checkpoint ca(tmp / "a"), cb(tmp / "b"), cc(tmp / "c");
  EXPECT_EQ(a.num_tensors, ca.num_tensors());
  EXPECT_EQ(load_model_spec(tmp / "a").torch_dtype, "bfloat16");
  bool any_diff = false;
  for (const auto& n : ca.tensor_names()) {
    TensorView va = ca.view(n), vb = cb.view(n), vc = cc.view(n);
    EXPECT_EQ(va.dtype, DType::BF16);
    EXPECT_EQ(0, std::memcmp(va.data, vb.data, va.nbytes)) << n;
    any_diff = any_diff || std::memcmp(va.data, vc.data, va.nbytes) != 0;
    auto f = va.to_f32();
    if (n.find("norm") != std::string::npos) {
      for (float x : f) ASSERT_EQ(x, 1.0f) << n;
    } else {
      double sum = 0, sq = 0;
      for (float x : f) sum += x, sq += double(x) * x;
      double mean = sum / f.size(), sd = std::sqrt(sq / f.size() - mean * mean);
      if (f.size() >= 1000) {
        EXPECT_NEAR(mean, 0.0, 0.003) << n;
        EXPECT_NEAR(sd, 0.02, 0.002) << n;
      }
    }
  }
  EXPECT_TRUE(any_diff);
  EXPECT_EQ(a.tensor_bytes, b.tensor_bytes);
  fs::remove_all(tmp);
}
