#include "node/api_error.h"

namespace banyan::node {

void bad_param(const std::string& param, const std::string& message) {
  throw ApiError(400, message, "invalid_request_error", param);
}

nlohmann::json error_body(const std::string& message, const std::string& type,
                          const std::optional<std::string>& param, const std::optional<std::string>& code) {
  nlohmann::json e{{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (param) e["param"] = *param;
  if (code) e["code"] = *code;
  return {{"error", std::move(e)}};
}

}  // namespace banyan::node
