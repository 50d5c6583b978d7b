// `banyan eval <sub>`: the `eval` subcommand groups several evaluations (nll, quality, placement, ...), each in its
// own cmd_eval_*.cc file. Each file registers its sub-subcommand with a static RegisterEvalCommand (same shape
// as RegisterCommand in command.h); the file that registers `eval` itself calls setup_eval_subcommands(sub) in
// its setup, which adds every registered sub-subcommand and returns the runner of the one that was parsed:
//
//   RegisterCommand reg{{"eval", "Evaluate a model", [](CLI::App& sub) { return setup_eval_subcommands(sub); }}};
#pragma once
#include <algorithm>
#include <map>
#include <memory>

#include "cli/command.h"

namespace banyan::cli {

// Inline with a function-local static: one registry for the whole program, whichever file defines `eval`.
inline std::vector<CommandDef>& eval_subcommands() {
  static std::vector<CommandDef> registry;
  return registry;
}

struct RegisterEvalCommand {
  explicit RegisterEvalCommand(CommandDef def) { eval_subcommands().push_back(std::move(def)); }
};

inline std::function<int()> setup_eval_subcommands(CLI::App& eval) {
  eval.require_subcommand(1);
  auto defs = eval_subcommands();
  std::sort(defs.begin(), defs.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  auto runners = std::make_shared<std::map<CLI::App*, std::function<int()>>>();
  for (auto& def : defs) {
    CLI::App* sub = eval.add_subcommand(def.name, def.help);
    (*runners)[sub] = def.setup(*sub);
  }
  return [runners]() -> int {
    for (auto& [sub, run] : *runners)
      if (sub->parsed()) return run();
    return 1;
  };
}

}  // namespace banyan::cli
