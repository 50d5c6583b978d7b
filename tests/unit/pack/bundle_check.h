// Checks a packed bundle against its source checkpoint and plan, independently of how pack computed it.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "format/safetensors.h"
#include "model/model_spec.h"
#include "model/tensor_class.h"
#include "plan/plan_file.h"

namespace banyan::test {

inline bool same_bytes(const uint8_t* a, const uint8_t* b, size_t n) { return std::memcmp(a, b, n) == 0; }

// Row slices of `src` (leading dim = experts) in `order` must equal `dst` row by row.
inline void expect_rows(const TensorView& src, const TensorView& dst, const std::vector<int>& order,
                        const std::string& what) {
  ASSERT_EQ(dst.shape[0], int64_t(order.size())) << what;
  ASSERT_EQ(src.nbytes / size_t(src.shape[0]), dst.nbytes / size_t(dst.shape[0])) << what;
  size_t row = src.nbytes / size_t(src.shape[0]);
  for (size_t i = 0; i < order.size(); ++i)
    EXPECT_TRUE(same_bytes(src.data + size_t(order[i]) * row, dst.data + i * row, row))
        << what << ": local row " << i << " != global row " << order[i];
}

inline void verify_bundle(const std::filesystem::path& src_dir, const Plan& plan, int node_index,
                          const std::filesystem::path& bundle_dir) {
  const PlanNode& node = plan.nodes[size_t(node_index)];
  Checkpoint src(src_dir), b(bundle_dir);
  ModelSpec spec = load_model_spec(src_dir);
  ModelSpec bspec = load_model_spec(bundle_dir);
  const int64_t local = plan.experts_per_node;
  EXPECT_EQ(bspec.num_experts, local);
  EXPECT_EQ(bspec.top_k, std::min(spec.top_k, local));
  EXPECT_EQ(bspec.moe_layers(), spec.moe_layers());
  EXPECT_EQ(bspec.hidden_size, spec.hidden_size);

  size_t expected = 0;
  for (const auto& name : src.tensor_names()) {
    TensorClass c = classify_tensor(spec, name);
    TensorView sv = src.view(name);
    if (c.role == TensorRole::Unused) {
      EXPECT_FALSE(b.has(name)) << name;
      continue;
    }
    if (c.role == TensorRole::Router || c.role == TensorRole::RouterBias ||
        (c.role == TensorRole::RoutedExpert && c.fused)) {
      ASSERT_TRUE(b.has(name)) << name;
      expect_rows(sv, b.view(name), node.experts[size_t(plan.moe_index(c.layer))], name);
      ++expected;
      continue;
    }
    if (c.role == TensorRole::RoutedExpert) {
      const auto& list = node.experts[size_t(plan.moe_index(c.layer))];
      auto it = std::find(list.begin(), list.end(), c.expert);
      if (it == list.end()) continue;
      ASSERT_FALSE(c.is_bias || c.is_scale) << "test only knows expert weights: " << name;
      std::string want = expert_weight_name(spec, c.layer, int(it - list.begin()), c.proj);
      ASSERT_TRUE(b.has(want)) << want << " (from " << name << ")";
      TensorView bv = b.view(want);
      EXPECT_EQ(bv.shape, sv.shape) << want;
      ASSERT_EQ(bv.nbytes, sv.nbytes) << want;
      EXPECT_TRUE(same_bytes(sv.data, bv.data, sv.nbytes)) << want << " differs from " << name;
      ++expected;
      continue;
    }
    ASSERT_TRUE(b.has(name)) << name;
    TensorView bv = b.view(name);
    EXPECT_EQ(bv.dtype, sv.dtype) << name;
    EXPECT_EQ(bv.shape, sv.shape) << name;
    ASSERT_EQ(bv.nbytes, sv.nbytes) << name;
    EXPECT_TRUE(same_bytes(sv.data, bv.data, sv.nbytes)) << "trunk tensor not byte-identical: " << name;
    ++expected;
  }
  EXPECT_EQ(b.num_tensors(), expected) << "bundle holds tensors the source does not explain";

  // router-full: every full router matrix and selection bias, untouched.
  SafetensorsFile full(bundle_dir / "router-full.safetensors");
  size_t routers = 0;
  for (const auto& name : src.tensor_names()) {
    TensorClass c = classify_tensor(spec, name);
    if (c.role != TensorRole::Router && c.role != TensorRole::RouterBias) continue;
    ++routers;
    ASSERT_TRUE(full.has(name)) << name;
    TensorView a = src.view(name), f = full.view(name);
    ASSERT_EQ(a.nbytes, f.nbytes);
    EXPECT_TRUE(same_bytes(a.data, f.data, a.nbytes)) << name;
  }
  EXPECT_EQ(full.tensors().size(), routers);
  EXPECT_GE(routers, spec.moe_layers().size());

  std::ifstream in(bundle_dir / "banyan-node.json");
  auto m = nlohmann::json::parse(in);
  EXPECT_EQ(m["format"], "banyan-node/1");
  EXPECT_EQ(m["plan"], plan.id);
  EXPECT_EQ(m["source"]["sha256"], src.source_hash());
  EXPECT_EQ(m["node"]["index"], node_index);
  EXPECT_EQ(m["node"]["name"], node.name);
  EXPECT_EQ(m["local_to_global"].get<std::vector<std::vector<int>>>(), node.experts);
  EXPECT_EQ(m["replicated"].get<std::vector<std::vector<int>>>(), node.replicated);
  for (const char* f : {"tokenizer.json", "generation_config.json"})
    if (std::filesystem::exists(src_dir / f)) {
      EXPECT_TRUE(std::filesystem::exists(bundle_dir / f)) << f;
    }
}

}  // namespace banyan::test
