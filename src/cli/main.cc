// banyan: one CLI, many subcommands (see command.h). Errors print one clear line and exit 1.
#include <algorithm>
#include <cstdio>
#include <map>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"

namespace banyan::cli {
std::vector<CommandDef>& command_registry() {
  static std::vector<CommandDef> registry;
  return registry;
}
}  // namespace banyan::cli

int main(int argc, char** argv) {
  using namespace banyan::cli;
  banyan::init_logging();
  CLI::App app{"banyan: serve Mixture-of-Experts models across machines with no all-to-all traffic"};
  app.require_subcommand(1);
  auto defs = command_registry();
  std::sort(defs.begin(), defs.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::map<CLI::App*, std::function<int()>> runners;
  for (auto& def : defs) {
    CLI::App* sub = app.add_subcommand(def.name, def.help);
    runners[sub] = def.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const banyan::Error& e) {
    std::fprintf(stderr, "banyan: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "banyan: internal error: %s\n", e.what());
    return 2;
  }
  return 1;
}
