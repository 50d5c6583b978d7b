// Subcommand registry: each src/cli/cmd_*.cc registers one subcommand with a static RegisterCommand.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace banyan::cli {

// `setup` adds the subcommand's options to `sub` and returns the function that runs it (exit code).
using CommandSetup = std::function<std::function<int()>(CLI::App& sub)>;

struct CommandDef {
  std::string name;
  std::string help;
  CommandSetup setup;
};

std::vector<CommandDef>& command_registry();

struct RegisterCommand {
  explicit RegisterCommand(CommandDef def) { command_registry().push_back(std::move(def)); }
};

}  // namespace banyan::cli
