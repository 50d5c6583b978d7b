// Field access for tokenizer.json components with errors that say where in the file the problem is.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "core/error.h"

namespace banyan::tok {

using json = nlohmann::json;

inline const json& require_field(const json& j, const char* key, const std::string& where) {
  if (!j.is_object()) fail("tokenizer.json: {}: expected an object", where);
  auto it = j.find(key);
  if (it == j.end()) fail("tokenizer.json: {}: missing field '{}'", where, key);
  return *it;
}

inline std::string string_field(const json& j, const char* key, const std::string& where) {
  const json& v = require_field(j, key, where);
  if (!v.is_string()) fail("tokenizer.json: {}.{}: expected a string", where, key);
  return v.get<std::string>();
}

// A string field that may be absent or null; returns `fallback` then.
inline std::string optional_string(const json& j, const char* key, const std::string& fallback,
                                   const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) fail("tokenizer.json: {}.{}: expected a string", where, key);
  return it->get<std::string>();
}

inline bool bool_field(const json& j, const char* key, bool fallback, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail("tokenizer.json: {}.{}: expected true or false", where, key);
  return it->get<bool>();
}

inline int64_t int_field(const json& j, const char* key, int64_t fallback, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) fail("tokenizer.json: {}.{}: expected an integer", where, key);
  return it->get<int64_t>();
}

inline std::string type_of(const json& j, const std::string& where) { return string_field(j, "type", where); }

// A list-valued field (e.g. Sequence's "normalizers").
inline const json& array_field(const json& j, const char* key, const std::string& where) {
  const json& v = require_field(j, key, where);
  if (!v.is_array()) fail("tokenizer.json: {}.{}: expected a list", where, key);
  return v;
}

}  // namespace banyan::tok
