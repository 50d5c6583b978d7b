#include "format/jinja/value.h"

#include <fmt/format.h>
#include <utf8proc.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/error.h"

namespace banyan::jinja {

namespace {

// Dict index key: equal Python keys (1, 1.0, True) map to the same string.
std::string key_string(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::String: return "s" + key.str();
    case Value::Kind::Bool:
    case Value::Kind::Int: return fmt::format("i{}", key.as_int());
    case Value::Kind::Float: {
      const double d = key.as_double();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) {
        return fmt::format("i{}", static_cast<int64_t>(d));
      }
      return fmt::format("f{}", float_repr(d));
    }
    case Value::Kind::None: return "n";
    case Value::Kind::Undefined: return "u";  // jinja2's Undefined is hashable (and equal to any Undefined)
    case Value::Kind::Function: return fmt::format("F{}", static_cast<const void*>(&key.function_data()));
    case Value::Kind::Dict:
      if (key.dict_data().is_namespace) return fmt::format("N{}", static_cast<const void*>(&key.dict_data()));
      break;
    case Value::Kind::List:
      if (key.is_tuple()) {
        std::string s = "t";
        for (const Value& v : key.items()) s += key_string(v) + '\x1f';
        return s;
      }
      break;
    default: break;
  }
  fail("unhashable type: '{}'", key.type_name());
}

bool is_printable(char32_t c) {
  if (c == U' ') return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS: return false;
    default: return true;
  }
}

// Marks a dict as being visited by a recursive walk; namespaces can contain themselves (`set ns.me = ns`).
class VisitGuard {
 public:
  explicit VisitGuard(const DictData* d) {
    for (const DictData* v : visiting()) recursive_ = recursive_ || v == d;
    if (!recursive_) visiting().push_back(d);
  }
  ~VisitGuard() {
    if (!recursive_) visiting().pop_back();
  }
  VisitGuard(const VisitGuard&) = delete;
  VisitGuard& operator=(const VisitGuard&) = delete;
  bool recursive() const { return recursive_; }

 private:
  static std::vector<const DictData*>& visiting() {
    thread_local std::vector<const DictData*> v;
    return v;
  }
  bool recursive_ = false;
};

}  // namespace

const Value* DictData::find(const Value& key) const {
  auto it = index_.find(key_string(key));
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

Value* DictData::find(const Value& key) {
  auto it = index_.find(key_string(key));
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

void DictData::set(const Value& key, Value value) {
  std::string k = key_string(key);
  auto it = index_.find(k);
  if (it != index_.end()) {
    entries_[it->second].second = std::move(value);
    return;
  }
  index_.emplace(std::move(k), entries_.size());
  entries_.emplace_back(key, std::move(value));
}

Value Value::undefined(std::string hint) {
  Value v;
  std::get<UndefinedData>(v.data_).hint = std::make_shared<const std::string>(std::move(hint));
  return v;
}

Value Value::string(std::string s, bool from_content) {
  return Value(std::in_place, std::make_shared<const TaggedString>(std::move(s), from_content));
}
Value Value::string(TaggedString s) {
  return Value(std::in_place, std::make_shared<const TaggedString>(std::move(s)));
}
Value Value::list(std::vector<Value> items) {
  return Value(std::in_place, std::make_shared<ListData>(ListData{std::move(items), false}));
}
Value Value::tuple(std::vector<Value> items) {
  return Value(std::in_place, std::make_shared<ListData>(ListData{std::move(items), true}));
}
Value Value::dict() { return Value(std::in_place, std::make_shared<DictData>()); }
Value Value::dict(std::shared_ptr<DictData> data) { return Value(std::in_place, std::move(data)); }
Value Value::function(std::string name, NativeFunction fn) {
  return Value(std::in_place, std::make_shared<const FunctionData>(FunctionData{std::move(name), std::move(fn)}));
}

int64_t Value::as_int() const {
  if (is_bool()) return as_bool() ? 1 : 0;
  return std::get<int64_t>(data_);
}

double Value::as_double() const {
  if (is_float()) return std::get<double>(data_);
  return static_cast<double>(as_int());
}

const std::string& Value::undefined_hint() const {
  static const std::string kNone = "value is undefined";
  const auto& hint = std::get<UndefinedData>(data_).hint;
  return hint && !hint->empty() ? *hint : kNone;
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return as_bool();
    case Kind::Int: return as_int() != 0;
    case Kind::Float: return as_double() != 0.0;
    case Kind::String: return !str().empty();
    case Kind::List: return !items().empty();
    case Kind::Dict: return dict_data().size() != 0;
    case Kind::Function: return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return is_tuple() ? "tuple" : "list";
    case Kind::Dict: return dict_data().is_namespace ? "Namespace" : "dict";
    case Kind::Function: return "function";
  }
  return "?";
}

bool values_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None: return true;
    case Value::Kind::String: return a.str() == b.str();
    case Value::Kind::List: {
      if (a.is_tuple() != b.is_tuple() || a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i) {
        if (!values_equal(a.items()[i], b.items()[i])) return false;
      }
      return true;
    }
    case Value::Kind::Dict: {
      if (a.dict_ptr() == b.dict_ptr()) return true;
      if (a.dict_data().is_namespace || b.dict_data().is_namespace) return false;
      if (a.dict_data().size() != b.dict_data().size()) return false;
      for (const auto& [k, v] : a.dict_data().entries()) {
        const Value* other = b.dict_data().find(k);
        if (!other || !values_equal(v, *other)) return false;
      }
      return true;
    }
    case Value::Kind::Function: return &a.function_data() == &b.function_data();
    default: return false;
  }
}

bool value_less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();  // UTF-8 byte order == code point order
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!values_equal(x[i], y[i])) return value_less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  fail("'<' not supported between instances of '{}' and '{}'", a.type_name(), b.type_name());
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  const int decpt = exponent + 1;  // value = 0.DIGITS * 10^decpt
  const int n = static_cast<int>(digits.size());
  std::string out;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out = "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    } else if (decpt >= n) {
      out = digits + std::string(static_cast<size_t>(decpt - n), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(static_cast<size_t>(decpt));
    }
  } else {
    out = digits.substr(0, 1);
    if (n > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  }
  return sign + out;
}

std::string string_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  size_t i = 0;
  while (i < s.size()) {
    utf8proc_int32_t cp = 0;
    const auto len = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                      static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (len <= 0) {  // not valid UTF-8: show the byte escaped rather than fail
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    const std::string_view raw = s.substr(i, static_cast<size_t>(len));
    i += static_cast<size_t>(len);
    if (cp == '\\') out += "\\\\";
    else if (cp == quote) out += std::string("\\") + quote;
    else if (cp == '\n') out += "\\n";
    else if (cp == '\r') out += "\\r";
    else if (cp == '\t') out += "\\t";
    else if (is_printable(static_cast<char32_t>(cp))) out += raw;
    else if (cp < 0x100) out += fmt::format("\\x{:02x}", cp);
    else if (cp < 0x10000) out += fmt::format("\\u{:04x}", cp);
    else out += fmt::format("\\U{:08x}", cp);
  }
  out += quote;
  return out;
}

std::string to_repr(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::String: return string_repr(v.str());
    case Value::Kind::List: {
      std::string out = v.is_tuple() ? "(" : "[";
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i) out += ", ";
        out += to_repr(v.items()[i]);
      }
      if (v.is_tuple() && v.items().size() == 1) out += ",";
      out += v.is_tuple() ? ")" : "]";
      return out;
    }
    case Value::Kind::Dict: {
      VisitGuard guard(&v.dict_data());
      if (guard.recursive()) return v.dict_data().is_namespace ? "<Namespace {...}>" : "{...}";  // as Python
      std::string out = v.dict_data().is_namespace ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, item] : v.dict_data().entries()) {
        if (!first) out += ", ";
        first = false;
        out += to_repr(k) + ": " + to_repr(item);
      }
      return out + (v.dict_data().is_namespace ? "}>" : "}");
    }
    case Value::Kind::Undefined: return "Undefined";
    default: return to_str(v);
  }
}

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return "";
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return v.as_bool() ? "True" : "False";
    case Value::Kind::Int: return std::to_string(v.as_int());
    case Value::Kind::Float: return float_repr(v.as_double());
    case Value::Kind::String: return v.str();
    case Value::Kind::Function: return "<function " + v.function_data().name + ">";
    default: return to_repr(v);
  }
}

bool contains_content(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::String: return v.tagged().has_content();
    case Value::Kind::List:
      for (const Value& item : v.items()) {
        if (contains_content(item)) return true;
      }
      return false;
    case Value::Kind::Dict: {
      VisitGuard guard(&v.dict_data());
      if (guard.recursive()) return false;
      for (const auto& [k, item] : v.dict_data().entries()) {
        if (contains_content(k) || contains_content(item)) return true;
      }
      return false;
    }
    default: return false;
  }
}

TaggedString to_tagged_str(const Value& v) {
  if (v.is_string()) return v.tagged();
  return TaggedString(to_str(v), contains_content(v));
}

}  // namespace banyan::jinja
