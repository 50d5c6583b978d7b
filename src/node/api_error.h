// OpenAI-style API errors: an HTTP status plus the body {"error": {"message", "type", "param", "code"}}.
// Handlers throw ApiError for anything the client did wrong; the server turns it into the response, so bad input
// never becomes a 500.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "core/error.h"

namespace banyan::node {

class ApiError : public Error {
 public:
  ApiError(int status, std::string message, std::string type = "invalid_request_error",
           std::optional<std::string> param = std::nullopt, std::optional<std::string> code = std::nullopt)
      : Error(message), status_(status), type_(std::move(type)), param_(std::move(param)), code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::optional<std::string>& param() const { return param_; }
  const std::optional<std::string>& code() const { return code_; }

 private:
  int status_;
  std::string type_;
  std::optional<std::string> param_;
  std::optional<std::string> code_;
};

// 400 naming the offending request field.
[[noreturn]] void bad_param(const std::string& param, const std::string& message);

nlohmann::json error_body(const std::string& message, const std::string& type,
                          const std::optional<std::string>& param = std::nullopt,
                          const std::optional<std::string>& code = std::nullopt);
inline nlohmann::json error_body(const ApiError& e) { return error_body(e.what(), e.type(), e.param(), e.code()); }

}  // namespace banyan::node
