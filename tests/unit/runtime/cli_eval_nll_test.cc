// `banyan eval nll` end to end (the real binary) against NLLs computed here from transformers' golden logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "format/safetensors.h"
#include "test_paths.h"

using namespace banyan;
namespace fs = std::filesystem;

namespace {

// Mean −log softmax(row t−1)[ids[t]] over t ≥ 1, from golden logits [T, V].
double golden_nll(const float* logits, int64_t V, const int64_t* ids, int64_t T) {
  double total = 0;
  for (int64_t t = 1; t < T; ++t) {
    const float* row = logits + (t - 1) * V;
    const double mx = *std::max_element(row, row + V);
    double sum = 0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(row[v] - mx);
    total += -(row[ids[t]] - mx - std::log(sum));
  }
  return total / double(T - 1);
}

struct Case {
  fs::path golden;
  fs::path model;
};

std::vector<nlohmann::json> run_nll(const Case& c, const std::string& logits_name, const std::string& experts_json) {
  SafetensorsFile st(c.golden);
  const TensorView ids = st.view("input_ids");
  const int64_t B = ids.dim(0), T = ids.dim(1);
  const fs::path dir = test::make_temp_dir("banyan-nll");
  {
    std::ofstream in(dir / "in.jsonl");
    for (int64_t b = 0; b < B; ++b)
      in << nlohmann::json{{"ids", std::vector<int64_t>(ids.as<int64_t>() + b * T, ids.as<int64_t>() + (b + 1) * T)}}.dump()
         << "\n";
  }
  std::string cmd = test::banyan_binary().string() + " eval nll --threads 1 --model " + c.model.string() +
                    " --jsonl " + (dir / "in.jsonl").string();
  if (!experts_json.empty()) {
    std::ofstream(dir / "experts.json") << experts_json;
    cmd += " --experts " + (dir / "experts.json").string();
  }
  std::string out;
  EXPECT_EQ(test::run_command(cmd, &out), 0) << cmd;
  std::vector<nlohmann::json> lines;
  std::istringstream ss(out);
  for (std::string line; std::getline(ss, line);) lines.push_back(nlohmann::json::parse(line));
  EXPECT_EQ(int64_t(lines.size()), B);
  const auto logits = st.view(logits_name).to_f32();
  const int64_t V = st.view(logits_name).dim(2);
  for (int64_t b = 0; b < std::min<int64_t>(B, int64_t(lines.size())); ++b) {
    const double want = golden_nll(logits.data() + b * T * V, V, ids.as<int64_t>() + b * T, T);
    EXPECT_NEAR(lines[size_t(b)]["nll"].get<double>(), want, 1e-4 * std::max(1.0, want)) << "row " << b;
    const float* last = logits.data() + (b * T + T - 1) * V;
    std::vector<int> order(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return last[x] > last[y]; });
    const auto top = lines[size_t(b)]["top_ids"].get<std::vector<int>>();
    EXPECT_EQ(top.size(), 5u);
    if (top.size() != 5u) continue;
    for (int j = 0; j < 5; ++j) {
      EXPECT_NEAR(lines[size_t(b)]["top_logits"][size_t(j)].get<float>(), last[order[size_t(j)]], 1e-3);
      EXPECT_NEAR(last[top[size_t(j)]], last[order[size_t(j)]], 1e-4);  // same ids up to exact ties
    }
  }
  fs::remove_all(dir);
  return lines;
}

}  // namespace

TEST(CliEvalNll, MatchesTransformersPlainAndRestricted) {
  const fs::path golden = test::fixtures_dir() / "golden" / "qwen3_moe.safetensors";
  if (!fs::exists(golden)) GTEST_SKIP() << "goldens not generated yet";
  if (!fs::exists(test::banyan_binary())) GTEST_SKIP() << "build the banyan target first";
  const Case c{golden, test::fixtures_dir() / "models" / "qwen3_moe"};
  run_nll(c, "logits", "");
  // --experts as one list per MoE layer, from the golden's masked.allowed.{layer}.
  SafetensorsFile st(golden);
  nlohmann::json per_layer = nlohmann::json::array();
  for (int layer = 0; layer < 8; ++layer) {
    const std::string name = "masked.allowed." + std::to_string(layer);
    if (!st.has(name)) continue;
    const TensorView v = st.view(name);
    per_layer.push_back(std::vector<int64_t>(v.as<int64_t>(), v.as<int64_t>() + v.numel()));
  }
  ASSERT_FALSE(per_layer.empty());
  run_nll(c, "masked.logits", per_layer.dump());
}

TEST(CliEvalNll, BadInputsAreClearErrors) {
  const fs::path model = test::fixtures_dir() / "models" / "qwen3_moe";
  if (!fs::exists(model)) GTEST_SKIP() << "fixture models not generated yet";
  if (!fs::exists(test::banyan_binary())) GTEST_SKIP() << "build the banyan target first";
  const fs::path dir = test::make_temp_dir("banyan-nll-bad");
  std::ofstream(dir / "in.jsonl") << "{\"ids\": [1, 2, 3]}\n{\"ids\": [1, 999999]}\n";
  std::ofstream(dir / "experts.json") << "[[0, 1], [2]]";
  std::string out;
  const std::string base = test::banyan_binary().string() + " eval nll --model " + model.string() + " --jsonl " +
                           (dir / "in.jsonl").string();
  EXPECT_EQ(test::run_command(base + " 2>&1", &out), 1);
  EXPECT_NE(out.find("in.jsonl:2"), std::string::npos) << out;  // names the file and line
  EXPECT_NE(out.find("999999"), std::string::npos) << out;
  std::ofstream(dir / "experts.json") << "[[0, 1], [2], [3]]";  // 3 lists, the model has 2 MoE layers
  EXPECT_EQ(test::run_command(base + " --experts " + (dir / "experts.json").string() + " 2>&1", &out), 1);
  EXPECT_NE(out.find("expert restriction"), std::string::npos) << out;
  fs::remove_all(dir);
}
