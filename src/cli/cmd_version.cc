// `banyan version`: prints the version and build options.
#include <cstdio>

#include "cli/command.h"

namespace banyan::cli {
namespace {
RegisterCommand reg{{"version", "Print version and build options", [](CLI::App&) {
                       return [] {
#ifdef BANYAN_WITH_CUDA
                         std::printf("banyan 0.1.0 (cpu, cuda)\n");
#else
                         std::printf("banyan 0.1.0 (cpu)\n");
#endif
                         return 0;
                       };
                     }}};
}  // namespace
}  // namespace banyan::cli
