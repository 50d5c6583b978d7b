// The bundle invariant as a test helper (DESIGN.md): a packed node's logits equal the full model's with the router
// restricted to the node's experts. Shared by the pack tests and eval's bundle top-k test.
#pragma once
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <optional>

#include "format/safetensors.h"
#include "pack/bundle_writer.h"
#include "plan/planner.h"
#include "runtime/engine.h"
#include "test_paths.h"

namespace banyan::test {

inline PlanModel plan_model_of(const std::filesystem::path& dir) { return load_plan_model(dir); }

// All logits of every position of every row (each row a fresh sequence), concatenated.
inline std::vector<float> all_logits(Engine& engine, const std::vector<std::vector<int32_t>>& rows,
                                     const ExpertRestriction* restriction = nullptr) {
  std::vector<float> all;
  for (const auto& r : rows) {
    BatchItem item;
    item.seq = engine.create_sequence();
    item.tokens = r;
    item.logits = LogitsRequest::all();
    item.restriction = restriction;
    ForwardOutput out;
    std::vector<BatchItem> batch{item};
    engine.forward(batch, out);
    all.insert(all.end(), out.logits.begin(), out.logits.end());
    engine.free_sequence(item.seq);
  }
  return all;
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

inline float max_abs(const std::vector<float>& a) {
  float m = 0;
  for (float v : a) m = std::max(m, std::fabs(v));
  return m;
}

// Packs `plan` from `dir`, then for every node: the bundle's logits on `rows` equal the full model's restricted to
// the node's experts within `tol`, routing to `node_top_k` of them (0: the model's own top-k). So that the equality is
// not trivial, the restricted logits must differ (> 1e-3) from the previous reference: the unrestricted model, or
// with a wider node_top_k the restriction at the model's own k. `node_checks(node, bundle_dir)`, when given, adds
// checks of each node's bundle files.
inline void expect_nodes_match_restricted(
    const std::filesystem::path& dir, const Plan& plan, const std::vector<std::vector<int32_t>>& rows, float tol,
    int node_top_k = 0,
    const std::function<void(const PlanNode&, const std::filesystem::path&)>& node_checks = nullptr) {
  const std::filesystem::path out = make_temp_dir("bundle_logits");
  pack_bundles(dir, plan, out);
  auto full = Engine::load(dir);
  const auto unrestricted = node_top_k > 0 ? std::vector<float>{} : all_logits(*full, rows);
  for (const auto& node : plan.nodes) {
    SCOPED_TRACE(fmt::format("{} {} {}", dir.filename().string(), plan.scheme, node.name));
    if (node_checks) node_checks(node, out / node.name);
    std::vector<std::vector<int32_t>> allowed;
    for (const auto& l : node.experts) allowed.emplace_back(l.begin(), l.end());
    const auto restricted = [&](int k) {
      const ExpertRestriction r(full->spec(), allowed, k > 0 ? std::optional<int>(k) : std::nullopt);
      return all_logits(*full, rows, &r);
    };
    const auto want = restricted(node_top_k);
    auto bundle = Engine::load(out / node.name);
    EXPECT_LE(max_abs_diff(all_logits(*bundle, rows), want), tol) << "max|logit| " << max_abs(want);
    EXPECT_GT(max_abs_diff(want, node_top_k > 0 ? restricted(0) : unrestricted), 1e-3f);
  }
  std::filesystem::remove_all(out);
}

}  // namespace banyan::test
