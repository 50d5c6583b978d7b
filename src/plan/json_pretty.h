// Indented JSON that keeps arrays of numbers/strings on one line: plan.json and banyan-node.json hold long expert
// lists that nlohmann's dump(indent) would spread over thousands of lines.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace banyan {

template <class Json>
void append_pretty_json(const Json& j, std::string& out, int indent = 0) {
  const std::string pad(size_t(indent), ' '), inner(size_t(indent + 2), ' ');
  if (j.is_object() && !j.empty()) {
    out += "{\n";
    size_t i = 0;
    for (auto it = j.begin(); it != j.end(); ++it, ++i) {
      out += inner + Json(it.key()).dump() + ": ";
      append_pretty_json(it.value(), out, indent + 2);
      out += i + 1 < j.size() ? ",\n" : "\n";
    }
    out += pad + "}";
    return;
  }
  if (j.is_array() && !j.empty()) {
    bool flat = true;
    for (const auto& v : j) flat = flat && v.is_primitive();
    if (flat) {
      out += j.dump();
      return;
    }
    out += "[\n";
    for (size_t i = 0; i < j.size(); ++i) {
      out += inner;
      append_pretty_json(j[i], out, indent + 2);
      out += i + 1 < j.size() ? ",\n" : "\n";
    }
    out += pad + "]";
    return;
  }
  out += j.dump();
}

template <class Json>
std::string pretty_json(const Json& j) {
  std::string out;
  append_pretty_json(j, out);
  out += "\n";
  return out;
}

}  // namespace banyan
