// Methods of str, dict and list callable from templates (`s.strip()`, `d.items()`), with Python semantics.
#include <fmt/format.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>

#include "core/error.h"
#include "format/jinja/builtins.h"

namespace banyan::jinja {

namespace {

constexpr std::array<std::string_view, 28> kStringMethods = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
    "title", "capitalize", "replace", "find", "rfind", "index", "count", "format", "join", "isdigit", "isalpha",
    "isalnum", "isspace", "islower", "isupper", "removeprefix", "removesuffix", "zfill"};
constexpr std::array<std::string_view, 5> kDictMethods = {"get", "items", "keys", "values", "copy"};
constexpr std::array<std::string_view, 2> kListMethods = {"index", "count"};
// Mutating methods: transformers renders with jinja2's ImmutableSandboxedEnvironment, which refuses them.
constexpr std::array<std::string_view, 12> kUnsafeMethods = {"append", "extend", "insert", "pop", "remove", "reverse",
                                                             "sort", "clear", "update", "setdefault", "popitem", "add"};
// Attributes of jinja2's loop object that are callables.
constexpr std::array<std::string_view, 2> kLoopMethods = {"cycle", "changed"};

template <size_t N>
bool contains(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::optional<std::string_view> opt_str(const std::optional<Value>& v, std::string_view what) {
  if (!v || v->is_none()) return std::nullopt;
  if (!v->is_string()) fail("{} must be str or None, not {}", what, v->type_name());
  return std::string_view(v->str());
}

int64_t opt_int(const std::optional<Value>& v, int64_t fallback, std::string_view what) {
  if (!v || v->is_none()) return fallback;
  if (!v->is_int() && !v->is_bool()) fail("{} must be an integer, not {}", what, v->type_name());
  return v->as_int();
}

const std::string& need_str(const std::optional<Value>& v, std::string_view what) {
  if (!v) fail("{}: missing required argument", what);
  if (!v->is_string()) fail("{} must be str, not {}", what, v->type_name());
  return v->str();
}

size_t cp_index(std::string_view s, size_t byte_offset) {
  const std::vector<size_t> offs = code_point_offsets(s);
  return static_cast<size_t>(std::lower_bound(offs.begin(), offs.end(), byte_offset) - offs.begin());
}

Value pieces(const TaggedString& s, const std::vector<ByteRange>& ranges) {
  std::vector<Value> out;
  for (const auto& [b, e] : ranges) out.push_back(Value::string(s.substr(b, e - b)));
  return Value::list(std::move(out));
}

bool all_code_points(std::string_view s, bool (*pred)(utf8proc_int32_t)) {
  if (s.empty()) return false;
  const std::vector<size_t> offs = code_point_offsets(s);
  for (size_t i = 0; i + 1 < offs.size(); ++i) {
    utf8proc_int32_t cp = 0;
    utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + offs[i]),
                     static_cast<utf8proc_ssize_t>(offs[i + 1] - offs[i]), &cp);
    if (!pred(cp)) return false;
  }
  return true;
}

bool matches_affix(const Value& self, const Value& affixes, bool prefix) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) fail("{} arg must be str or a tuple of str, not {}", prefix ? "startswith" : "endswith",
                             a.type_name());
    const std::string& s = self.str();
    const std::string& x = a.str();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affixes.is_tuple()) {
    for (const Value& a : affixes.items()) {
      if (one(a)) return true;
    }
    return false;
  }
  return one(affixes);
}

Value call_string_method(const Value& self, const std::string& name, CallArgs& args) {
  const std::string& s = self.str();
  const TaggedString& tagged = self.tagged();
  const std::string fn = "str." + name;
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    auto a = bind_args(args, {"chars"}, fn);
    const auto [b, e] = py_strip(s, opt_str(a[0], "chars"), name != "rstrip", name != "lstrip");
    return Value::string(tagged.substr(b, e - b));
  }
  if (name == "split" || name == "rsplit") {
    auto a = bind_args(args, {"sep", "maxsplit"}, fn);
    const auto sep = opt_str(a[0], "sep");
    const int64_t maxsplit = opt_int(a[1], -1, "maxsplit");
    return pieces(tagged, name == "split" ? py_split(s, sep, maxsplit) : py_rsplit(s, sep, maxsplit));
  }
  if (name == "splitlines") {
    auto a = bind_args(args, {"keepends"}, fn);
    return pieces(tagged, py_splitlines(s, a[0] && a[0]->truthy()));
  }
  if (name == "startswith" || name == "endswith") {
    auto a = bind_args(args, {"prefix"}, fn);
    if (!a[0]) fail("{}() takes at least 1 argument (0 given)", fn);
    return Value::boolean(matches_affix(self, *a[0], name == "startswith"));
  }
  if (name == "upper") return bind_args(args, {}, fn), Value::string(tagged.derived(py_upper(s)));
  if (name == "lower") return bind_args(args, {}, fn), Value::string(tagged.derived(py_lower(s)));
  if (name == "title") return bind_args(args, {}, fn), Value::string(tagged.derived(py_title(s)));
  if (name == "capitalize") return bind_args(args, {}, fn), Value::string(tagged.derived(py_capitalize(s)));
  if (name == "replace") {
    auto a = bind_args(args, {"old", "new", "count"}, fn);
    const bool content = self.tagged().has_content() || (a[1] && contains_content(*a[1]));
    return Value::string(py_replace(s, need_str(a[0], "replace() old"), need_str(a[1], "replace() new"),
                                    opt_int(a[2], -1, "count")),
                         content);
  }
  if (name == "find" || name == "rfind" || name == "index") {
    auto a = bind_args(args, {"sub"}, fn);
    const std::string& sub = need_str(a[0], fn + "() argument");
    const size_t at = name == "rfind" ? s.rfind(sub) : s.find(sub);
    if (at == std::string::npos) {
      if (name == "index") fail("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(static_cast<int64_t>(cp_index(s, at)));
  }
  if (name == "count") {
    auto a = bind_args(args, {"sub"}, fn);
    const std::string& sub = need_str(a[0], "count() argument");
    if (sub.empty()) return Value::integer(static_cast<int64_t>(code_point_offsets(s).size()));
    int64_t n = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return Value::integer(n);
  }
  if (name == "format") {
    bool content = tagged.has_content();
    for (const Value& v : args.positional) content = content || contains_content(v);
    for (const auto& [k, v] : args.named) content = content || contains_content(v);
    return Value::string(py_str_format(s, args), content);
  }
  if (name == "join") {
    auto a = bind_args(args, {"iterable"}, fn);
    if (!a[0]) fail("join() takes exactly one argument (0 given)");
    TaggedString out;
    const std::vector<Value> items = iterate(*a[0]);
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        fail("sequence item {}: expected str instance, {} found", i, items[i].type_name());
      }
      if (i) out.append(tagged);
      out.append(items[i].tagged());
    }
    return Value::string(std::move(out));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    auto a = bind_args(args, {"affix"}, fn);
    const std::string& x = need_str(a[0], fn + "() argument");
    if (name == "removeprefix" && s.compare(0, x.size(), x) == 0) return Value::string(tagged.substr(x.size(), s.size()));
    if (name == "removesuffix" && x.size() <= s.size() && !x.empty() && s.compare(s.size() - x.size(), x.size(), x) == 0) {
      return Value::string(tagged.substr(0, s.size() - x.size()));
    }
    return self;
  }
  if (name == "zfill") {
    auto a = bind_args(args, {"width"}, fn);
    const int64_t width = opt_int(a[0], 0, "width");
    const int64_t len = static_cast<int64_t>(code_point_offsets(s).size() - 1);
    if (len >= width) return self;
    const size_t sign = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
    return Value::string(tagged.derived(s.substr(0, sign) + std::string(static_cast<size_t>(width - len), '0') +
                                        s.substr(sign)));
  }
  bind_args(args, {}, fn);
  if (name == "isdigit") {
    return Value::boolean(all_code_points(s, [](utf8proc_int32_t c) {
      return utf8proc_category(c) == UTF8PROC_CATEGORY_ND;
    }));
  }
  if (name == "isalpha") {
    return Value::boolean(all_code_points(s, [](utf8proc_int32_t c) {
      const auto cat = utf8proc_category(c);
      return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
    }));
  }
  if (name == "isalnum") {
    return Value::boolean(all_code_points(s, [](utf8proc_int32_t c) {
      const auto cat = utf8proc_category(c);
      return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
             (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
    }));
  }
  if (name == "isspace") {
    return Value::boolean(all_code_points(s, [](utf8proc_int32_t c) { return py_isspace(static_cast<char32_t>(c)); }));
  }
  if (name == "islower" || name == "isupper") {
    // Python: at least one cased character and no cased character of the other case.
    const bool want_lower = name == "islower";
    return Value::boolean((want_lower ? py_lower(s) : py_upper(s)) == s && (want_lower ? py_upper(s) : py_lower(s)) != s);
  }
  fail("str has no method '{}'", name);
}

Value call_dict_method(const Value& self, const std::string& name, CallArgs& args) {
  const std::string fn = "dict." + name;
  DictData& d = self.dict_data();
  if (name == "get") {
    auto a = bind_args(args, {"key", "default"}, fn);
    if (!a[0]) fail("get expected at least 1 argument, got 0");
    if (const Value* v = d.find(*a[0])) return *v;
    return a[1] ? *a[1] : Value::none();
  }
  bind_args(args, {}, fn);
  std::vector<Value> out;
  if (name == "copy") {
    Value copy = Value::dict();
    for (const auto& [k, v] : d.entries()) copy.dict_data().set(k, v);
    return copy;
  }
  for (const auto& [k, v] : d.entries()) {
    if (name == "items") out.push_back(Value::tuple({k, v}));
    else if (name == "keys") out.push_back(k);
    else out.push_back(v);
  }
  return Value::list(std::move(out));
}

Value call_list_method(const Value& self, const std::string& name, CallArgs& args) {
  auto a = bind_args(args, {"value"}, "list." + name);
  if (!a[0]) fail("{}() takes exactly one argument (0 given)", name);
  const auto& items = self.items();
  if (name == "count") {
    return Value::integer(std::count_if(items.begin(), items.end(), [&](const Value& v) { return values_equal(v, *a[0]); }));
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (values_equal(items[i], *a[0])) return Value::integer(static_cast<int64_t>(i));
  }
  fail("{} is not in list", to_repr(*a[0]));
}

}  // namespace

bool is_known_method(std::string_view name) {
  return contains(kStringMethods, name) || contains(kDictMethods, name) || contains(kListMethods, name) ||
         contains(kUnsafeMethods, name) || contains(kLoopMethods, name);
}

std::optional<Value> bound_method(const Value& object, const std::string& name) {
  using Impl = Value (*)(const Value&, const std::string&, CallArgs&);
  Impl impl = nullptr;
  if (object.is_string() && contains(kStringMethods, name)) impl = call_string_method;
  else if (object.is_dict() && contains(kDictMethods, name)) impl = call_dict_method;
  else if (object.is_list() && contains(kListMethods, name)) impl = call_list_method;
  if (impl) {
    return Value::function(object.type_name() + "." + name,
                           [object, name, impl](CallArgs& args, Interpreter&) { return impl(object, name, args); });
  }
  if ((object.is_list() || (object.is_dict() && !object.dict_data().is_namespace)) && contains(kUnsafeMethods, name)) {
    const std::string type = object.type_name();
    return Value::function(type + "." + name, [type, name](CallArgs&, Interpreter&) -> Value {
      fail("access to attribute '{}' of '{}' object is unsafe.", name, type);
    });
  }
  return std::nullopt;
}

std::vector<std::optional<Value>> bind_args(const CallArgs& args, std::initializer_list<std::string_view> names,
                                            std::string_view function) {
  std::vector<std::optional<Value>> out(names.size());
  if (args.positional.size() > names.size()) {
    fail("{}() takes at most {} argument(s) ({} given)", function, names.size(), args.positional.size());
  }
  for (size_t i = 0; i < args.positional.size(); ++i) out[i] = args.positional[i];
  for (const auto& [key, v] : args.named) {
    auto it = std::find(names.begin(), names.end(), key);
    if (it == names.end()) fail("{}() got an unexpected keyword argument '{}'", function, key);
    auto& slot = out[static_cast<size_t>(it - names.begin())];
    if (slot) fail("{}() got multiple values for argument '{}'", function, key);
    slot = v;
  }
  return out;
}

}  // namespace banyan::jinja
