// Conversion of JSON documents (messages, tools, kwargs) into template values.
#pragma once
#include <nlohmann/json.hpp>

#include "format/jinja/value.h"

namespace banyan::jinja {

// Objects keep their key order only if `j` is an ordered_json; plain json objects come out sorted by key.
Value value_from_json(const nlohmann::ordered_json& j);

}  // namespace banyan::jinja
