// Sequences per domain of a protocol walk (plan/corpus_walk.h), sorted by domain.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "plan/corpus_walk.h"

namespace banyan {

inline std::map<std::string, int64_t> count_by_domain(const std::vector<Document>& docs) {
  std::map<std::string, int64_t> out;
  for (const auto& d : docs) ++out[d.domain];
  return out;
}

}  // namespace banyan
