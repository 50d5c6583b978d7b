#include "test_paths.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sys/wait.h>

namespace banyan::test {

std::filesystem::path source_dir() { return BANYAN_SOURCE_DIR; }
std::filesystem::path fixtures_dir() { return source_dir() / "tests" / "fixtures"; }
std::filesystem::path banyan_binary() { return BANYAN_BINARY; }

std::optional<std::filesystem::path> shared_dir() {
  if (const char* env = std::getenv("BANYAN_SHARED"); env && *env) {
    if (std::filesystem::is_directory(env)) return std::filesystem::path(env);
    return std::nullopt;
  }
  auto p = source_dir().parent_path() / "shared";
  if (std::filesystem::is_directory(p / "models")) return p;
  return std::nullopt;
}

std::filesystem::path make_temp_dir(const std::string& prefix) {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto p = std::filesystem::temp_directory_path() /
             (prefix + "-" + std::to_string(rd() % 100000000));
    std::error_code ec;
    if (std::filesystem::create_directory(p, ec)) return p;
  }
  throw std::runtime_error("cannot create temp dir for " + prefix);
}

int run_command(const std::string& cmd, std::string* out) {
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0)
    if (out) out->append(buf.data(), n);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace banyan::test
