// Typed access to a Hugging Face config.json with errors that name the file and the field.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace banyan {

class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& config, std::string source) : cfg_(config), source_(std::move(source)) {}

  const nlohmann::json& json() const { return cfg_; }
  const std::string& source() const { return source_; }
  // Present and not null.
  bool has(const char* key) const;

  int64_t req_int(const char* key) const;
  // The first of several spellings that is present (e.g. num_experts / num_local_experts across transformers
  // versions); errors naming all of them when none is.
  int64_t req_int_any(std::initializer_list<const char*> keys) const;
  int64_t opt_int(const char* key, int64_t fallback) const;
  std::optional<int64_t> maybe_int(const char* key) const;
  double opt_double(const char* key, double fallback) const;
  std::optional<double> maybe_double(const char* key) const;
  bool opt_bool(const char* key, bool fallback) const;
  std::string opt_string(const char* key, const std::string& fallback) const;
  std::vector<int64_t> opt_int_list(const char* key) const;  // absent/null → empty
  // An int or a list of ints (eos_token_id); absent/null → empty.
  std::vector<int64_t> int_or_list(const char* key) const;

 private:
  const nlohmann::json& cfg_;
  std::string source_;
};

}  // namespace banyan
