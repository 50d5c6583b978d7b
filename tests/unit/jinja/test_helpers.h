// Shared helpers for the jinja interpreter tests.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "format/jinja/json_value.h"
#include "format/jinja/template.h"

namespace banyan::jinja::testing {

// Renders `source` with the JSON object `vars` as variables (transformers' options: trim/lstrip blocks).
inline std::string render(const std::string& source, const std::string& vars_json = "{}") {
  const auto vars = nlohmann::ordered_json::parse(vars_json);
  Variables variables;
  for (const auto& [k, v] : vars.items()) variables[k] = value_from_json(v);
  return Template(source).render(variables);
}

}  // namespace banyan::jinja::testing
