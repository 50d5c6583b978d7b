// The {"String": ...} / {"Regex": ...} pattern objects of Split, Replace (normalizer and decoder).
#pragma once
#include "format/tokenizer/json_fields.h"
#include "format/tokenizer/regex.h"

namespace banyan::tok {

inline Regex parse_pattern(const json& j, const std::string& where) {
  if (j.is_object()) {
    if (auto it = j.find("String"); it != j.end() && it->is_string()) return Regex(it->get<std::string>(), true);
    if (auto it = j.find("Regex"); it != j.end() && it->is_string()) return Regex(it->get<std::string>(), false);
  }
  fail("tokenizer.json: {}: pattern must be {{\"String\": ...}} or {{\"Regex\": ...}}", where);
}

}  // namespace banyan::tok
