#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <mutex>

namespace banyan {

void init_logging() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto logger = spdlog::stderr_color_mt("banyan");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
    const char* lvl = std::getenv("BANYAN_LOG");
    spdlog::set_level(lvl ? spdlog::level::from_str(lvl) : spdlog::level::info);
  });
}

}  // namespace banyan
