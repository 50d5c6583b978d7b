// `banyan eval placement`: for one plan, the node every policy picks for each heldout sequence and, per domain,
// the confusion of each policy against the oracle — the table that shows whether placement can be trusted.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plan/corpus_walk.h"
#include "eval/placement.h"

namespace banyan {

struct PlacementConfusion {
  std::string domain;  // "all" for every sequence
  Policy policy = Policy::Probe;
  std::vector<std::vector<int64_t>> counts;  // [chosen node][oracle node]
  int64_t sequences = 0;
  int64_t agree = 0;   // diagonal sum
};

struct PlacementTable {
  std::vector<Policy> policies;  // never Random (it picks no node); Oracle is the reference, not listed here
  int64_t nodes = 0;
  std::vector<std::string> domain;       // per sequence
  std::vector<size_t> line;              // per sequence
  std::vector<std::vector<int>> choice;  // [policy][sequence]
  std::vector<int> oracle;               // per sequence
  std::vector<PlacementConfusion> confusion;  // per policy: "all" first, then every domain in sorted order
};

PlacementTable build_placement_table(const std::vector<Document>& sequences, const PlacementInputs& inputs,
                                     const std::vector<Policy>& policies, const AutoPlacement& auto_placement = {});

nlohmann::json placement_table_to_json(const PlacementTable& t);
std::string format_placement_table(const PlacementTable& t);

}  // namespace banyan
