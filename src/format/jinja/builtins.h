// Registries of the filters, tests, methods and globals templates may use. The parser resolves filter and test
// names at load time, so a template using one banyan lacks fails to load instead of rendering wrongly.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "format/jinja/interpreter.h"
#include "format/jinja/value.h"

namespace banyan::jinja {

using FilterFunction = Value (*)(Interpreter& interp, const Value& input, CallArgs& args);
using TestFunction = bool (*)(Interpreter& interp, const Value& input, CallArgs& args);

struct FilterDef {
  std::string_view name;
  FilterFunction apply;
};
struct TestDef {
  std::string_view name;
  TestFunction check;
};

const FilterDef* find_filter(std::string_view name);
const TestDef* find_test(std::string_view name);

// Methods of str, dict and list that templates may call (plus the ones the sandbox refuses, which fail at render
// time exactly as in transformers' ImmutableSandboxedEnvironment).
bool is_known_method(std::string_view name);
// `object.name` when it names a method of object's type: a bound method value; nullopt otherwise.
std::optional<Value> bound_method(const Value& object, const std::string& name);

// Globals every template sees: range, dict, namespace, raise_exception, strftime_now.
void add_builtin_globals(Frame& globals);

// Binds call arguments to parameter names (positional first, then by name), as Python does for builtins.
// Missing ones are nullopt; unexpected ones raise banyan::Error mentioning `function`.
std::vector<std::optional<Value>> bind_args(const CallArgs& args, std::initializer_list<std::string_view> names,
                                            std::string_view function);

// json.dumps options; the defaults are transformers' tojson filter (ensure_ascii=False).
struct JsonOptions {
  std::optional<std::string> indent;  // nullopt: one line
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};
std::string to_json(const Value& v, const JsonOptions& options);

// Python str methods used by filters too.
// Byte ranges, so callers can keep content tags of the pieces (see tagged_string.h).
using ByteRange = std::pair<size_t, size_t>;
ByteRange py_strip(std::string_view s, std::optional<std::string_view> chars, bool left, bool right);
std::vector<ByteRange> py_split(std::string_view s, std::optional<std::string_view> sep, int64_t maxsplit);
std::vector<ByteRange> py_rsplit(std::string_view s, std::optional<std::string_view> sep, int64_t maxsplit);
std::vector<ByteRange> py_splitlines(std::string_view s, bool keepends);
bool py_isspace(char32_t c);
// Python's format-spec mini-language ([[fill]align][sign][0][width][,][.precision][type]) applied to a value.
std::string py_format_spec(const Value& v, std::string_view spec);
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_title(std::string_view s);
std::string py_capitalize(std::string_view s);
std::string py_replace(std::string_view s, std::string_view old, std::string_view replacement, int64_t count);
// Python `fmt % args` for strings.
std::string py_percent_format(std::string_view fmt, const Value& args);
// Python str.format(*args, **kwargs) for the `{}`, `{0}`, `{name}` forms with simple format specs.
std::string py_str_format(std::string_view fmt, const CallArgs& args);

// Unicode code points of a UTF-8 string, and byte offsets of each code point (plus the end).
std::vector<size_t> code_point_offsets(std::string_view s);

}  // namespace banyan::jinja
