#include "model/config_reader.h"

#include "core/error.h"

namespace banyan {

namespace {
// JSON numbers written as 10000.0 are floats; accept them as integers only when integral.
std::optional<int64_t> as_int(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == double(int64_t(d))) return int64_t(d);
  }
  return std::nullopt;
}
}  // namespace

bool ConfigReader::has(const char* key) const { return cfg_.contains(key) && !cfg_.at(key).is_null(); }

int64_t ConfigReader::req_int(const char* key) const {
  BANYAN_CHECK(has(key), "{}: missing required field \"{}\"", source_, key);
  auto v = as_int(cfg_.at(key));
  BANYAN_CHECK(v.has_value(), "{}: field \"{}\" is not an integer: {}", source_, key, cfg_.at(key).dump());
  return *v;
}

int64_t ConfigReader::req_int_any(std::initializer_list<const char*> keys) const {
  std::string names;
  for (const char* k : keys) {
    if (has(k)) return req_int(k);
    names += fmt::format("{}\"{}\"", names.empty() ? "" : " or ", k);
  }
  fail("{}: missing required field {}", source_, names);
}

int64_t ConfigReader::opt_int(const char* key, int64_t fallback) const {
  return has(key) ? req_int(key) : fallback;
}

std::optional<int64_t> ConfigReader::maybe_int(const char* key) const {
  if (!has(key)) return std::nullopt;
  return req_int(key);
}

double ConfigReader::opt_double(const char* key, double fallback) const {
  auto v = maybe_double(key);
  return v ? *v : fallback;
}

std::optional<double> ConfigReader::maybe_double(const char* key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = cfg_.at(key);
  BANYAN_CHECK(v.is_number(), "{}: field \"{}\" is not a number: {}", source_, key, v.dump());
  return v.get<double>();
}

bool ConfigReader::opt_bool(const char* key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = cfg_.at(key);
  BANYAN_CHECK(v.is_boolean(), "{}: field \"{}\" is not a boolean: {}", source_, key, v.dump());
  return v.get<bool>();
}

std::string ConfigReader::opt_string(const char* key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const auto& v = cfg_.at(key);
  BANYAN_CHECK(v.is_string(), "{}: field \"{}\" is not a string: {}", source_, key, v.dump());
  return v.get<std::string>();
}

std::vector<int64_t> ConfigReader::opt_int_list(const char* key) const {
  std::vector<int64_t> out;
  if (!has(key)) return out;
  const auto& v = cfg_.at(key);
  BANYAN_CHECK(v.is_array(), "{}: field \"{}\" is not a list: {}", source_, key, v.dump());
  for (const auto& e : v) {
    auto i = as_int(e);
    BANYAN_CHECK(i.has_value(), "{}: field \"{}\" has a non-integer entry: {}", source_, key, v.dump());
    out.push_back(*i);
  }
  return out;
}

std::vector<int64_t> ConfigReader::int_or_list(const char* key) const {
  if (!has(key)) return {};
  if (cfg_.at(key).is_array()) return opt_int_list(key);
  return {req_int(key)};
}

}  // namespace banyan
