// `banyan eval`: the evaluation group (sub-subcommands registered from cmd_eval_*.cc via eval_command.h), and
// `banyan eval nll --model DIR --jsonl IN [--experts FILE]`: each input line {"ids": [...]} gives one output
// line {"nll": mean −log p(x_t | x_<t) over t ≥ 1, "top_ids": [5], "top_logits": [5]} (last position).
// --experts FILE: JSON list of allowed expert ids (every MoE layer) or a list of lists (one per MoE layer).
// --expert-dtype bf16|fp8: the routed experts re-encoded at load (EngineOptions::expert_dtype).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numeric>

#include "cli/eval_command.h"
#include "core/error.h"
#include "runtime/engine.h"

namespace banyan::cli {
namespace {

RegisterCommand reg_eval{{"eval", "Evaluate a model (nll, quality, placement, ...)",
                          [](CLI::App& sub) { return setup_eval_subcommands(sub); }}};

struct NllArgs {
  std::string model, jsonl, experts, expert_dtype;
  int threads = 0;
  int top_k = 0;  // 0: the config's
};

std::vector<std::vector<int32_t>> read_experts_file(const std::string& path) {
  std::ifstream in(path);
  BANYAN_CHECK(in, "cannot open --experts file {}", path);
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
  BANYAN_CHECK(j.is_array() && !j.empty(), "{}: expected a JSON list of expert ids or a list of lists", path);
  std::vector<std::vector<int32_t>> out;
  auto read_list = [&](const nlohmann::json& a, size_t index) {
    BANYAN_CHECK(a.is_array(), "{}: entry {} is not a list", path, index);
    std::vector<int32_t> ids;
    for (const auto& x : a) {
      BANYAN_CHECK(x.is_number_integer(), "{}: list {} holds a non-integer {}", path, index, x.dump());
      ids.push_back(x.get<int32_t>());
    }
    return ids;
  };
  if (j[0].is_array()) {
    for (size_t i = 0; i < j.size(); ++i) out.push_back(read_list(j[i], i));
  } else {
    out.push_back(read_list(j, 0));
  }
  return out;
}

// Mean NLL over t ≥ 1 from logits rows 0..n-2 (row j predicts token j+1), in double.
double mean_nll(const ForwardOutput& out, size_t item, const std::vector<int32_t>& ids) {
  const int64_t V = out.vocab_size;
  double total = 0;
  for (size_t t = 1; t < ids.size(); ++t) {
    auto row = out.row(item, int64_t(t - 1));
    const float mx = *std::max_element(row.begin(), row.end());
    double sum = 0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[size_t(v)]) - mx);
    total += -(double(row[size_t(ids[t])]) - mx - std::log(sum));
  }
  return total / double(ids.size() - 1);
}

int run_nll(const NllArgs& a) {
  EngineOptions opt;
  opt.threads = a.threads;
  opt.expert_dtype = parse_expert_dtype(a.expert_dtype);
  auto engine = Engine::load(a.model, opt);
  std::optional<ExpertRestriction> restriction;
  std::optional<int> top_k = a.top_k > 0 ? std::optional<int>(a.top_k) : std::nullopt;
  if (!a.experts.empty()) restriction.emplace(engine->spec(), read_experts_file(a.experts), top_k);
  else if (top_k) restriction = ExpertRestriction::all(engine->spec(), top_k);

  std::ifstream file;
  std::istream* in = &std::cin;
  if (a.jsonl != "-") {
    file.open(a.jsonl);
    BANYAN_CHECK(file, "cannot open --jsonl file {}", a.jsonl);
    in = &file;
  }
  std::string line;
  int64_t line_no = 0;
  ForwardOutput out;
  while (std::getline(*in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::vector<int32_t> ids;
    try {
      const auto j = nlohmann::json::parse(line);
      BANYAN_CHECK(j.contains("ids") && j["ids"].is_array(), "no \"ids\" list");
      for (const auto& x : j["ids"]) {
        BANYAN_CHECK(x.is_number_integer(), "non-integer id {}", x.dump());
        ids.push_back(x.get<int32_t>());
      }
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: {}", a.jsonl, line_no, e.what());
    } catch (const Error& e) {
      fail("{}:{}: {}", a.jsonl, line_no, e.what());
    }
    BANYAN_CHECK(ids.size() >= 2, "{}:{}: a sequence needs at least 2 ids to score, got {}", a.jsonl, line_no,
                 ids.size());
    BatchItem item{engine->create_sequence(), ids, LogitsRequest::all(), restriction ? &*restriction : nullptr,
                   nullptr};
    try {
      engine->forward(std::span<BatchItem>(&item, 1), out);
    } catch (const Error& e) {
      fail("{}:{}: {}", a.jsonl, line_no, e.what());
    }
    engine->free_sequence(item.seq);
    const double nll = mean_nll(out, 0, ids);
    auto last = out.row(0, int64_t(ids.size()) - 1);
    std::vector<int32_t> order(last.size());
    std::iota(order.begin(), order.end(), 0);
    const size_t n_top = std::min<size_t>(5, order.size());
    std::partial_sort(order.begin(), order.begin() + long(n_top), order.end(), [&](int32_t x, int32_t y) {
      return last[size_t(x)] != last[size_t(y)] ? last[size_t(x)] > last[size_t(y)] : x < y;
    });
    nlohmann::json o;
    o["nll"] = nll;
    o["top_ids"] = std::vector<int32_t>(order.begin(), order.begin() + long(n_top));
    std::vector<float> top_logits;
    for (size_t i = 0; i < n_top; ++i) top_logits.push_back(last[size_t(order[i])]);
    o["top_logits"] = top_logits;
    std::printf("%s\n", o.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}

RegisterEvalCommand reg_nll{{"nll", "Mean next-token NLL of id sequences (JSONL in, JSONL out)", [](CLI::App& sub) {
                               auto a = std::make_shared<NllArgs>();
                               sub.add_option("--model", a->model, "Model directory (HF checkpoint or bundle)")
                                   ->required();
                               sub.add_option("--jsonl", a->jsonl, "Input JSONL of {\"ids\": [...]} lines ('-' = stdin)")
                                   ->required();
                               sub.add_option("--experts", a->experts,
                                              "JSON file: allowed expert ids, or one list per MoE layer");
                               sub.add_option("--top-k", a->top_k, "Override the experts chosen per token");
                               sub.add_option("--threads", a->threads, "Threads (default: all cores)");
                               sub.add_option("--expert-dtype", a->expert_dtype,
                                              "Routed experts as bf16 or fp8 (quantised then dequantised at load)")
                                   ->check(CLI::IsMember({"bf16", "fp8"}));
                               return [a] { return run_nll(*a); };
                             }}};

}  // namespace
}  // namespace banyan::cli
