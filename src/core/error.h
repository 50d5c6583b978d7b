// One exception type for every user-facing failure; messages carry context (file, tensor, layer).
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace banyan {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace banyan

// BANYAN_CHECK(cond, "format {}", args...) throws banyan::Error with the formatted message when cond is false.
#define BANYAN_CHECK(cond, ...)                 \
  do {                                          \
    if (!(cond)) ::banyan::fail(__VA_ARGS__);   \
  } while (0)
