// Paths the tests need: the source tree, committed fixtures, the shared data beside the checkout, the CLI binary.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace banyan::test {

std::filesystem::path source_dir();
std::filesystem::path fixtures_dir();  // tests/fixtures
std::filesystem::path banyan_binary(); // the built `banyan` CLI
// ../shared beside the checkout (or $BANYAN_SHARED); nullopt when absent.
std::optional<std::filesystem::path> shared_dir();
// A fresh temporary directory, removed by the caller or left for inspection under /tmp.
std::filesystem::path make_temp_dir(const std::string& prefix);
// Runs a shell command; returns its exit code and captures stdout.
int run_command(const std::string& cmd, std::string* out = nullptr);

}  // namespace banyan::test

// Skips the current test with a clear message when ../shared is not beside the checkout.
#define BANYAN_REQUIRE_SHARED(var)                                                              \
  auto var##_opt = ::banyan::test::shared_dir();                                                \
  if (!var##_opt) GTEST_SKIP() << "../shared not found beside the checkout (set BANYAN_SHARED)"; \
  const std::filesystem::path var = *var##_opt
