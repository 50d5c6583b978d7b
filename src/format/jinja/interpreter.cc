#include "format/jinja/interpreter.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "format/jinja/builtins.h"

namespace banyan::jinja {

Interpreter::Interpreter(std::shared_ptr<Frame> globals) : globals_(std::move(globals)) {
  frames_.push_back(globals_.get());
}

Interpreter::~Interpreter() {
  for (const auto& weak : cyclables_) {
    if (auto ns = weak.lock()) ns->clear();
  }
}

Frame* Interpreter::new_frame() {
  arena_.push_back(std::make_unique<Frame>());
  return arena_.back().get();
}

Value Interpreter::lookup(const std::string& name) const {
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
    auto found = (*it)->find(name);
    if (found != (*it)->end()) return found->second;
  }
  return Value::undefined(fmt::format("'{}' is undefined", name));
}

void Interpreter::assign(const std::string& name, Value value) { (*frames_.back())[name] = std::move(value); }

void Interpreter::assign(const Target& target, Value value) {
  if (!target.attribute.empty()) {
    Value ns = lookup(target.names[0]);
    if (!ns.is_dict() || !ns.dict_data().is_namespace) {
      fail("cannot assign attribute on non-namespace object '{}'", target.names[0]);
    }
    ns.dict_data().set(Value::string(target.attribute), std::move(value));
    return;
  }
  if (!target.is_tuple) {
    assign(target.names[0], std::move(value));
    return;
  }
  std::vector<Value> items = iterate(value);
  if (items.size() != target.names.size()) {
    fail("cannot unpack {} values into {} names", items.size(), target.names.size());
  }
  for (size_t i = 0; i < items.size(); ++i) assign(target.names[i], std::move(items[i]));
}

Interpreter::ScopeGuard::ScopeGuard(Interpreter& interp) : interp_(interp) {
  interp_.frames_.push_back(interp_.new_frame());
}
Interpreter::ScopeGuard::~ScopeGuard() { interp_.frames_.pop_back(); }

Interpreter::FramesSwap::FramesSwap(Interpreter& interp, FrameStack frames) : interp_(interp) {
  saved_ = std::move(interp_.frames_);
  interp_.frames_ = std::move(frames);
}
Interpreter::FramesSwap::~FramesSwap() { interp_.frames_ = std::move(saved_); }

void fail_undefined(const Value& v) { fail("{}", v.undefined_hint()); }

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_function()) return callee.function_data().call(args, *this);
  if (callee.is_undefined()) fail_undefined(callee);
  fail("'{}' object is not callable", callee.type_name());
}

Value Interpreter::get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_dict() && object.dict_data().is_namespace) {
    if (const Value* v = object.dict_data().find(Value::string(name))) return *v;
    return Value::undefined(fmt::format("'Namespace' has no attribute '{}'", name));
  }
  if (auto method = bound_method(object, name)) return *method;
  if (object.is_dict()) {
    if (const Value* v = object.dict_data().find(Value::string(name))) return *v;
  }
  return Value::undefined(fmt::format("'{} object' has no attribute '{}'", object.type_name(), name));
}

namespace {

// Python index normalisation; nullopt when out of range.
std::optional<size_t> normalize_index(int64_t index, size_t size) {
  if (index < 0) index += static_cast<int64_t>(size);
  if (index < 0 || index >= static_cast<int64_t>(size)) return std::nullopt;
  return static_cast<size_t>(index);
}

}  // namespace

Value Interpreter::get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_dict()) {
    if (const Value* v = object.dict_data().find(key)) return *v;
  } else if (object.is_list() && (key.is_int() || key.is_bool())) {
    if (auto i = normalize_index(key.as_int(), object.items().size())) return object.items()[*i];
  } else if (object.is_string() && (key.is_int() || key.is_bool())) {
    const std::vector<size_t> offsets = code_point_offsets(object.str());
    if (auto i = normalize_index(key.as_int(), offsets.size() - 1)) {
      return Value::string(object.tagged().substr(offsets[*i], offsets[*i + 1] - offsets[*i]));
    }
  }
  if (key.is_string() && !(object.is_dict() && object.dict_data().is_namespace)) {
    if (auto method = bound_method(object, key.str())) return *method;
  }
  // jinja2's wording: a string key was looked up as an attribute too, any other key only as an element.
  if (key.is_string())
    return Value::undefined(fmt::format("'{} object' has no attribute {}", object.type_name(), to_repr(key)));
  return Value::undefined(fmt::format("{} object has no element {}", object.type_name(), to_repr(key)));
}

// ---- operators ----

namespace {

[[noreturn]] void fail_operands(const char* op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  fail("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(), b.type_name());
}

bool both_int(const Value& a, const Value& b) {
  return (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
}

// Python's seq * n. Sizes are bounded so a template cannot exhaust memory with one expression.
Value repeat(const Value& seq, int64_t times) {
  constexpr uint64_t kMaxRepeatedSize = uint64_t{1} << 28;
  const uint64_t unit = seq.is_string() ? seq.str().size() : seq.items().size();
  if (times > 0 && unit > 0 && static_cast<uint64_t>(times) > kMaxRepeatedSize / unit) {
    fail("sequence repetition too large ({} x {})", unit, times);
  }
  if (seq.is_string()) {
    TaggedString out;
    for (int64_t i = 0; i < times; ++i) out.append(seq.tagged());
    return Value::string(std::move(out));
  }
  std::vector<Value> items;
  for (int64_t i = 0; i < times; ++i) items.insert(items.end(), seq.items().begin(), seq.items().end());
  return seq.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

int64_t checked(int64_t (*op)(int64_t, int64_t, bool&), int64_t a, int64_t b) {
  bool overflow = false;
  const int64_t r = op(a, b, overflow);
  if (overflow) fail("integer overflow (banyan integers are 64-bit)");
  return r;
}

}  // namespace

Value op_add(const Value& a, const Value& b) {
  if (both_int(a, b)) {
    return Value::integer(checked([](int64_t x, int64_t y, bool& o) {
      int64_t r;
      o = __builtin_add_overflow(x, y, &r);
      return r;
    }, a.as_int(), b.as_int()));
  }
  if (a.is_number() && b.is_number()) return Value::number(a.as_double() + b.as_double());
  if (a.is_string() && b.is_string()) {
    TaggedString s = a.tagged();
    s.append(b.tagged());
    return Value::string(std::move(s));
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    std::vector<Value> items = a.items();
    items.insert(items.end(), b.items().begin(), b.items().end());
    return a.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }
  if (a.is_string() && !b.is_undefined() && !a.is_undefined()) {
    fail("can only concatenate str (not \"{}\") to str", b.type_name());
  }
  fail_operands("+", a, b);
}

Value op_sub(const Value& a, const Value& b) {
  if (both_int(a, b)) {
    return Value::integer(checked([](int64_t x, int64_t y, bool& o) {
      int64_t r;
      o = __builtin_sub_overflow(x, y, &r);
      return r;
    }, a.as_int(), b.as_int()));
  }
  if (a.is_number() && b.is_number()) return Value::number(a.as_double() - b.as_double());
  fail_operands("-", a, b);
}

Value op_mul(const Value& a, const Value& b) {
  if (both_int(a, b)) {
    return Value::integer(checked([](int64_t x, int64_t y, bool& o) {
      int64_t r;
      o = __builtin_mul_overflow(x, y, &r);
      return r;
    }, a.as_int(), b.as_int()));
  }
  if (a.is_number() && b.is_number()) return Value::number(a.as_double() * b.as_double());
  if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
  if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
  fail_operands("*", a, b);
}

Value op_div(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (b.as_double() == 0.0) fail("division by zero");
    return Value::number(a.as_double() / b.as_double());
  }
  fail_operands("/", a, b);
}

Value op_floordiv(const Value& a, const Value& b) {
  if (both_int(a, b)) {
    const int64_t x = a.as_int(), y = b.as_int();
    if (y == 0) fail("integer division or modulo by zero");
    int64_t q = x / y;
    if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
    return Value::integer(q);
  }
  if (a.is_number() && b.is_number()) {
    if (b.as_double() == 0.0) fail("float floor division by zero");
    return Value::number(std::floor(a.as_double() / b.as_double()));
  }
  fail_operands("//", a, b);
}

Value op_mod(const Value& a, const Value& b) {
  if (a.is_string()) return Value::string(a.tagged().derived(py_percent_format(a.str(), b)));
  if (both_int(a, b)) {
    const int64_t x = a.as_int(), y = b.as_int();
    if (y == 0) fail("integer division or modulo by zero");
    int64_t r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return Value::integer(r);
  }
  if (a.is_number() && b.is_number()) {
    const double y = b.as_double();
    if (y == 0.0) fail("float modulo");
    double r = std::fmod(a.as_double(), y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return Value::number(r);
  }
  fail_operands("%", a, b);
}

Value op_pow(const Value& a, const Value& b) {
  if (both_int(a, b) && b.as_int() >= 0) {
    int64_t result = 1, base = a.as_int();
    for (int64_t e = b.as_int(); e > 0; --e) {
      if (__builtin_mul_overflow(result, base, &result)) fail("integer overflow (banyan integers are 64-bit)");
    }
    return Value::integer(result);
  }
  if (a.is_number() && b.is_number()) {
    if (a.as_double() == 0.0 && b.as_double() < 0) fail("0.0 cannot be raised to a negative power");
    return Value::number(std::pow(a.as_double(), b.as_double()));
  }
  fail_operands("**", a, b);
}

Value op_neg(const Value& a) {
  if (a.is_int() || a.is_bool()) return Value::integer(-a.as_int());
  if (a.is_float()) return Value::number(-a.as_double());
  if (a.is_undefined()) fail_undefined(a);
  fail("bad operand type for unary -: '{}'", a.type_name());
}

bool op_contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::Undefined: return false;
    case Value::Kind::String:
      if (!item.is_string()) fail("'in <string>' requires string as left operand, not {}", item.type_name());
      return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::List:
      for (const Value& v : container.items()) {
        if (values_equal(v, item)) return true;
      }
      return false;
    case Value::Kind::Dict: return container.dict_data().find(item) != nullptr;
    default: fail("argument of type '{}' is not iterable", container.type_name());
  }
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: return v.items();
    case Value::Kind::Dict: {
      std::vector<Value> keys;
      for (const auto& [k, item] : v.dict_data().entries()) keys.push_back(k);
      return keys;
    }
    case Value::Kind::String: {
      std::vector<Value> chars;
      const std::vector<size_t> offsets = code_point_offsets(v.str());
      for (size_t i = 0; i + 1 < offsets.size(); ++i) {
        chars.push_back(Value::string(v.tagged().substr(offsets[i], offsets[i + 1] - offsets[i])));
      }
      return chars;
    }
    default: fail("'{}' object is not iterable", v.type_name());
  }
}

int64_t length_of(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return static_cast<int64_t>(code_point_offsets(v.str()).size() - 1);
    case Value::Kind::List: return static_cast<int64_t>(v.items().size());
    case Value::Kind::Dict: return static_cast<int64_t>(v.dict_data().size());
    default: fail("object of type '{}' has no len()", v.type_name());
  }
}

}  // namespace banyan::jinja
