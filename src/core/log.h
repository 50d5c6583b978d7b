// Logging goes through spdlog to stderr, so stdout stays clean for machine-readable output.
#pragma once
#include <spdlog/spdlog.h>

namespace banyan {
// Sets up the stderr logger once; level from $BANYAN_LOG (trace, debug, info, warn, error), default info.
void init_logging();
}  // namespace banyan
