// jinja2's built-in tests (`x is defined`, `n is divisibleby 3`, ...).
#include <array>

#include "core/error.h"
#include "format/jinja/builtins.h"

namespace banyan::jinja {

namespace {

const Value& one_arg(const CallArgs& args, const char* test) {
  if (args.positional.size() != 1 || !args.named.empty()) fail("test '{}' takes exactly one argument", test);
  return args.positional[0];
}
void no_args(const CallArgs& args, const char* test) {
  if (!args.positional.empty() || !args.named.empty()) fail("test '{}' takes no arguments", test);
}
int64_t need_int(const Value& v, const char* test) {
  if (!v.is_int() && !v.is_bool()) {
    if (v.is_undefined()) fail_undefined(v);
    fail("test '{}' needs an integer, not {}", test, v.type_name());
  }
  return v.as_int();
}

// odd/even compute `value % 2` as jinja2 does, so floats work too.
const Value& number(const Value& v, const char* test) {
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_number()) fail("test '{}' needs a number, not {}", test, v.type_name());
  return v;
}

#define BANYAN_SIMPLE_TEST(fn, name, expr)                   \
  bool fn(Interpreter&, const Value& v, CallArgs& args) {    \
    no_args(args, name);                                     \
    return (expr);                                           \
  }

BANYAN_SIMPLE_TEST(t_defined, "defined", !v.is_undefined())
BANYAN_SIMPLE_TEST(t_undefined, "undefined", v.is_undefined())
BANYAN_SIMPLE_TEST(t_none, "none", v.is_none())
BANYAN_SIMPLE_TEST(t_boolean, "boolean", v.is_bool())
BANYAN_SIMPLE_TEST(t_true, "true", v.is_bool() && v.as_bool())
BANYAN_SIMPLE_TEST(t_false, "false", v.is_bool() && !v.as_bool())
BANYAN_SIMPLE_TEST(t_integer, "integer", v.is_int())
BANYAN_SIMPLE_TEST(t_float, "float", v.is_float())
BANYAN_SIMPLE_TEST(t_number, "number", v.is_number())
BANYAN_SIMPLE_TEST(t_string, "string", v.is_string())
BANYAN_SIMPLE_TEST(t_mapping, "mapping", v.is_dict() && !v.dict_data().is_namespace)
// jinja2's Undefined is iterable and has __len__/__getitem__, so it passes both tests.
BANYAN_SIMPLE_TEST(t_iterable, "iterable", v.is_string() || v.is_list() || v.is_dict() || v.is_undefined())
BANYAN_SIMPLE_TEST(t_sequence, "sequence", v.is_string() || v.is_list() || v.is_dict() || v.is_undefined())
BANYAN_SIMPLE_TEST(t_callable, "callable", v.is_function())
BANYAN_SIMPLE_TEST(t_odd, "odd", values_equal(op_mod(number(v, "odd"), Value::integer(2)), Value::integer(1)))
BANYAN_SIMPLE_TEST(t_even, "even", values_equal(op_mod(number(v, "even"), Value::integer(2)), Value::integer(0)))
BANYAN_SIMPLE_TEST(t_lower, "lower", to_str(v) == py_lower(to_str(v)) && py_upper(to_str(v)) != to_str(v))
BANYAN_SIMPLE_TEST(t_upper, "upper", to_str(v) == py_upper(to_str(v)) && py_lower(to_str(v)) != to_str(v))
BANYAN_SIMPLE_TEST(t_escaped, "escaped", (static_cast<void>(v), false))

#undef BANYAN_SIMPLE_TEST

bool t_divisibleby(Interpreter&, const Value& v, CallArgs& args) {
  const Value& n = one_arg(args, "divisibleby");
  if (v.is_float() || n.is_float()) return std::fmod(v.as_double(), n.as_double()) == 0.0;
  const int64_t d = need_int(n, "divisibleby");
  if (d == 0) fail("integer division or modulo by zero");
  return need_int(v, "divisibleby") % d == 0;
}
bool t_eq(Interpreter&, const Value& v, CallArgs& args) { return values_equal(v, one_arg(args, "eq")); }
bool t_ne(Interpreter&, const Value& v, CallArgs& args) { return !values_equal(v, one_arg(args, "ne")); }
bool t_lt(Interpreter&, const Value& v, CallArgs& args) { return value_less(v, one_arg(args, "lt")); }
bool t_le(Interpreter&, const Value& v, CallArgs& args) { return !value_less(one_arg(args, "le"), v); }
bool t_gt(Interpreter&, const Value& v, CallArgs& args) { return value_less(one_arg(args, "gt"), v); }
bool t_ge(Interpreter&, const Value& v, CallArgs& args) { return !value_less(v, one_arg(args, "ge")); }
bool t_in(Interpreter&, const Value& v, CallArgs& args) { return op_contains(one_arg(args, "in"), v); }
// `is sameas`: Python identity. Singletons and shared containers compare by identity; other values never do.
bool t_sameas(Interpreter&, const Value& v, CallArgs& args) {
  const Value& other = one_arg(args, "sameas");
  if (v.kind() != other.kind()) return false;
  switch (v.kind()) {
    case Value::Kind::None:
    case Value::Kind::Undefined: return true;
    case Value::Kind::Bool: return v.as_bool() == other.as_bool();
    case Value::Kind::List: return &v.list_data() == &other.list_data();
    case Value::Kind::Dict: return v.dict_ptr() == other.dict_ptr();
    case Value::Kind::Function: return &v.function_data() == &other.function_data();
    default: return values_equal(v, other);  // small ints and interned strings are identical in CPython
  }
}
bool t_filter(Interpreter&, const Value& v, CallArgs& args) {
  no_args(args, "filter");
  return v.is_string() && find_filter(v.str()) != nullptr;
}
bool t_test(Interpreter&, const Value& v, CallArgs& args) {
  no_args(args, "test");
  return v.is_string() && find_test(v.str()) != nullptr;
}

constexpr std::array<TestDef, 39> kTests = {{
    {"defined", t_defined},   {"undefined", t_undefined}, {"none", t_none},         {"boolean", t_boolean},
    {"true", t_true},         {"false", t_false},         {"integer", t_integer},   {"float", t_float},
    {"number", t_number},     {"string", t_string},       {"mapping", t_mapping},  {"iterable", t_iterable},
    {"sequence", t_sequence}, {"callable", t_callable},   {"odd", t_odd},          {"even", t_even},
    {"lower", t_lower},       {"upper", t_upper},         {"escaped", t_escaped},  {"divisibleby", t_divisibleby},
    {"eq", t_eq},             {"equalto", t_eq},          {"==", t_eq},            {"ne", t_ne},
    {"!=", t_ne},             {"lt", t_lt},               {"lessthan", t_lt},      {"<", t_lt},
    {"le", t_le},             {"<=", t_le},               {"gt", t_gt},            {"greaterthan", t_gt},
    {">", t_gt},              {"ge", t_ge},               {">=", t_ge},            {"in", t_in},
    {"sameas", t_sameas},     {"filter", t_filter},       {"test", t_test},
}};

}  // namespace

const TestDef* find_test(std::string_view name) {
  for (const TestDef& t : kTests) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace banyan::jinja
