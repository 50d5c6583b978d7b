// jinja2's built-in filters (the ones chat templates use), with transformers' tojson.
#include <fmt/format.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"
#include "format/jinja/builtins.h"

namespace banyan::jinja {

namespace {

using Args = std::vector<std::optional<Value>>;

bool flag(const std::optional<Value>& v, bool fallback = false) { return v ? v->truthy() : fallback; }

// jinja2's soft_str: str() of the value, keeping content tags.
TaggedString soft_str(const Value& v) { return to_tagged_str(v); }

// Resolves "a.b.0"-style attribute paths the way jinja2's make_attrgetter does.
Value get_path(Interpreter& interp, Value v, const Value& path) {
  if (!path.is_string()) return interp.get_item(v, path);
  for (const auto& [b, e] : py_split(path.str(), std::string_view("."), -1)) {
    const std::string part = path.str().substr(b, e - b);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = interp.get_item(v, numeric ? Value::integer(std::stoll(part)) : Value::string(part));
  }
  return v;
}

// Sort/unique key: lower-cased strings unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::string(py_lower(v.str()));
  return v;
}

Value f_abs(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "abs");
  if (v.is_int() || v.is_bool()) return Value::integer(std::llabs(v.as_int()));
  if (v.is_float()) return Value::number(std::fabs(v.as_double()));
  if (v.is_undefined()) fail_undefined(v);
  fail("bad operand type for abs(): '{}'", v.type_name());
}

Value f_attr(Interpreter& interp, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"name"}, "attr");
  if (!a[0] || !a[0]->is_string()) fail("attr filter needs an attribute name");
  return interp.get_attribute(v, a[0]->str());
}

Value f_batch(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"linecount", "fill_with"}, "batch");
  if (!a[0] || !(a[0]->is_int())) fail("batch filter needs an integer line count");
  const int64_t n = a[0]->as_int();
  if (n <= 0) fail("batch line count must be positive");
  std::vector<Value> out, current;
  for (const Value& item : iterate(v)) {
    current.push_back(item);
    if (static_cast<int64_t>(current.size()) == n) {
      out.push_back(Value::list(std::move(current)));
      current.clear();
    }
  }
  if (!current.empty()) {
    if (a[1] && !a[1]->is_none()) {
      while (static_cast<int64_t>(current.size()) < n) current.push_back(*a[1]);
    }
    out.push_back(Value::list(std::move(current)));
  }
  return Value::list(std::move(out));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "capitalize");
  TaggedString s = soft_str(v);
  return Value::string(s.derived(py_capitalize(s.text())));
}

Value f_center(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"width"}, "center");
  TaggedString s = soft_str(v);
  const int64_t width = a[0] ? a[0]->as_int() : 80;
  const int64_t len = static_cast<int64_t>(code_point_offsets(s.text()).size() - 1);
  if (len >= width) return Value::string(s);
  // Python's str.center puts the extra space on the left when the padding is odd and the width is odd.
  const int64_t pad = width - len;
  const int64_t left = pad / 2 + (pad & width & 1);
  return Value::string(s.derived(std::string(static_cast<size_t>(left), ' ') + s.text() +
                                 std::string(static_cast<size_t>(pad - left), ' ')));
}

Value f_length(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "length");
  return Value::integer(length_of(v));
}

Value f_default(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"default_value", "boolean"}, "default");
  if (v.is_undefined() || (flag(a[1]) && !v.truthy())) return a[0] ? *a[0] : Value::string("");
  return v;
}

Value f_dictsort(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"case_sensitive", "by", "reverse"}, "dictsort");
  if (!v.is_dict()) fail("dictsort filter needs a mapping, not {}", v.type_name());
  const bool case_sensitive = flag(a[0]);
  const std::string by = a[1] && a[1]->is_string() ? a[1]->str() : "key";
  if (by != "key" && by != "value") fail("You can only sort by either 'key' or 'value'");
  std::vector<Value> items;
  for (const auto& [k, item] : v.dict_data().entries()) items.push_back(Value::tuple({k, item}));
  const size_t pos = by == "key" ? 0 : 1;
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return value_less(sort_key(x.items()[pos], case_sensitive), sort_key(y.items()[pos], case_sensitive));
  });
  if (flag(a[2])) std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value f_escape(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "escape");
  TaggedString s = soft_str(v);
  std::string out;
  for (char c : s.text()) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value::string(s.derived(std::move(out)));
}

Value f_first(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "first");
  if (v.is_list()) return v.items().empty() ? Value::undefined("No first item, sequence was empty.") : v.items().front();
  std::vector<Value> items = iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "last");
  std::vector<Value> items = iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

std::optional<double> parse_python_float(std::string s) {
  const auto [b, e] = py_strip(s, std::nullopt, true, true);
  s = s.substr(b, e - b);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return std::nullopt;
  const std::string lower = py_lower(s);
  if (lower == "inf" || lower == "+inf" || lower == "infinity" || lower == "+infinity") return INFINITY;
  if (lower == "-inf" || lower == "-infinity") return -INFINITY;
  if (lower == "nan" || lower == "+nan" || lower == "-nan") return NAN;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return d;
}

Value f_float(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"default"}, "float");
  const Value fallback = a[0] ? *a[0] : Value::number(0.0);
  if (v.is_undefined()) fail_undefined(v);  // float(Undefined) raises in jinja2
  if (v.is_number()) return Value::number(v.as_double());
  if (v.is_string()) {
    if (auto d = parse_python_float(v.str())) return Value::number(*d);
  }
  return fallback;
}

Value f_int(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"default", "base"}, "int");
  const Value fallback = a[0] ? *a[0] : Value::integer(0);
  const int base = a[1] ? static_cast<int>(a[1]->as_int()) : 10;
  if (v.is_undefined()) fail_undefined(v);  // int(Undefined) raises in jinja2
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) {
    if (!std::isfinite(v.as_double())) return fallback;
    return Value::integer(static_cast<int64_t>(v.as_double()));
  }
  if (v.is_string()) {
    const auto [b, e] = py_strip(v.str(), std::nullopt, true, true);
    std::string s = v.str().substr(b, e - b);
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    if (!s.empty()) {
      char* end = nullptr;
      errno = 0;
      const long long n = std::strtoll(s.c_str(), &end, base);
      if (end == s.c_str() + s.size() && errno == 0) return Value::integer(n);
    }
    if (auto d = parse_python_float(v.str()); d && std::isfinite(*d)) return Value::integer(static_cast<int64_t>(*d));
  }
  return fallback;
}

Value f_indent(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"width", "first", "blank"}, "indent");
  std::string indention = "    ";
  if (a[0]) indention = a[0]->is_string() ? a[0]->str() : std::string(static_cast<size_t>(a[0]->as_int()), ' ');
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_string()) fail("unsupported operand type(s) for +=: '{}' and 'str'", v.type_name());
  TaggedString s = v.tagged();
  s.append("\n");  // jinja2 appends a newline before splitlines()
  const auto lines = py_splitlines(s.text(), false);
  TaggedString out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto [b, e] = lines[i];
    if (i > 0) {
      out.append("\n");
      if (flag(a[2]) || e > b) out.append(indention);
    }
    out.append(s.substr(b, e - b));
  }
  if (flag(a[1])) {
    TaggedString first(indention);
    first.append(out);
    out = std::move(first);
  }
  return Value::string(std::move(out));
}

Value f_items(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "items");
  if (v.is_undefined()) return Value::list();
  if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, item] : v.dict_data().entries()) out.push_back(Value::tuple({k, item}));
  return Value::list(std::move(out));
}

Value f_join(Interpreter& interp, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"d", "attribute"}, "join");
  const TaggedString sep = a[0] ? soft_str(*a[0]) : TaggedString();
  TaggedString out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) out.append(sep);
    first = false;
    out.append(soft_str(a[1] && !a[1]->is_none() ? get_path(interp, item, *a[1]) : item));
  }
  return Value::string(std::move(out));
}

Value f_list(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "list");
  return Value::list(iterate(v));
}

Value f_lower(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "lower");
  TaggedString s = soft_str(v);
  return Value::string(s.derived(py_lower(s.text())));
}

Value f_upper(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "upper");
  TaggedString s = soft_str(v);
  return Value::string(s.derived(py_upper(s.text())));
}

// jinja2's title filter: words start after whitespace, '-', and opening brackets.
Value f_title(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "title");
  TaggedString s = soft_str(v);
  const std::string& text = s.text();
  auto is_boundary = [](char c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || c == ' ' || c == '\t' || c == '\n' ||
           c == '\r' || c == '\f' || c == '\v';
  };
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (is_boundary(text[i])) {
      out += text[i++];
      continue;
    }
    size_t e = i;
    while (e < text.size() && !is_boundary(text[e])) ++e;
    const std::string word = text.substr(i, e - i);
    const std::vector<size_t> offs = code_point_offsets(word);
    out += py_upper(word.substr(0, offs[1])) + py_lower(word.substr(offs[1]));
    i = e;
  }
  return Value::string(s.derived(std::move(out)));
}

Value f_map(Interpreter& interp, const Value& v, CallArgs& args) {
  std::vector<Value> out;
  std::optional<Value> attribute, fallback;
  for (const auto& [k, item] : args.named) {
    if (k == "attribute") attribute = item;
    else if (k == "default") fallback = item;
  }
  if (attribute) {
    for (const Value& item : iterate(v)) {
      Value got = get_path(interp, item, *attribute);
      out.push_back(got.is_undefined() && fallback ? *fallback : got);
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string()) fail("map filter needs a filter name or attribute=");
  const FilterDef* filter = find_filter(args.positional[0].str());
  if (!filter) fail("no filter named '{}'", args.positional[0].str());
  for (const Value& item : iterate(v)) {
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.named = args.named;
    out.push_back(filter->apply(interp, item, rest));
  }
  return Value::list(std::move(out));
}

Value min_max(Interpreter& interp, const Value& v, CallArgs& args, bool want_max, const char* name) {
  Args a = bind_args(args, {"case_sensitive", "attribute"}, name);
  std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined(fmt::format("No aggregated item, sequence was empty."));
  auto key = [&](const Value& x) { return sort_key(a[1] ? get_path(interp, x, *a[1]) : x, flag(a[0])); };
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    if (want_max ? value_less(key(items[best]), key(items[i])) : value_less(key(items[i]), key(items[best]))) best = i;
  }
  return items[best];
}
Value f_max(Interpreter& interp, const Value& v, CallArgs& args) { return min_max(interp, v, args, true, "max"); }
Value f_min(Interpreter& interp, const Value& v, CallArgs& args) { return min_max(interp, v, args, false, "min"); }

// select/reject/selectattr/rejectattr share this: keep items whose (attribute's) test result equals `keep`.
Value select_items(Interpreter& interp, const Value& v, CallArgs& args, bool by_attribute, bool keep) {
  std::vector<Value> positional = args.positional;
  std::optional<Value> attribute;
  if (by_attribute) {
    if (positional.empty()) fail("selectattr/rejectattr need an attribute name");
    attribute = positional.front();
    positional.erase(positional.begin());
  }
  const TestDef* test = nullptr;
  if (!positional.empty()) {
    if (!positional[0].is_string()) fail("test name must be a string");
    test = find_test(positional[0].str());
    if (!test) fail("no test named '{}'", positional[0].str());
    positional.erase(positional.begin());
  }
  std::vector<Value> out;
  for (const Value& item : iterate(v)) {
    Value subject = attribute ? get_path(interp, item, *attribute) : item;
    bool result;
    if (test) {
      CallArgs test_args{positional, args.named};
      result = test->check(interp, subject, test_args);
    } else {
      result = subject.truthy();
    }
    if (result == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}
Value f_select(Interpreter& i, const Value& v, CallArgs& a) { return select_items(i, v, a, false, true); }
Value f_reject(Interpreter& i, const Value& v, CallArgs& a) { return select_items(i, v, a, false, false); }
Value f_selectattr(Interpreter& i, const Value& v, CallArgs& a) { return select_items(i, v, a, true, true); }
Value f_rejectattr(Interpreter& i, const Value& v, CallArgs& a) { return select_items(i, v, a, true, false); }

Value f_replace(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"old", "new", "count"}, "replace");
  if (!a[0] || !a[1]) fail("replace filter needs old and new strings");
  TaggedString s = soft_str(v);
  const TaggedString replacement = soft_str(*a[1]);
  const int64_t count = a[2] && !a[2]->is_none() ? a[2]->as_int() : -1;
  return Value::string(py_replace(s.text(), soft_str(*a[0]).text(), replacement.text(), count),
                       s.has_content() || replacement.has_content());
}

Value f_reverse(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "reverse");
  std::vector<Value> items = iterate(v);
  std::reverse(items.begin(), items.end());
  if (v.is_string()) {
    TaggedString out;
    for (const Value& c : items) out.append(c.tagged());
    return Value::string(std::move(out));
  }
  return Value::list(std::move(items));
}

Value f_round(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"precision", "method"}, "round");
  const int64_t precision = a[0] ? a[0]->as_int() : 0;
  const std::string method = a[1] && a[1]->is_string() ? a[1]->str() : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    fail("method must be 'common', 'ceil' or 'floor'");
  }
  if (!v.is_number()) fail("round filter needs a number, not {}", v.type_name());
  if (method == "common") {
    if (!v.is_float()) return Value::integer(v.as_int());  // round(int, n) stays an int
    if (precision < 0 || !std::isfinite(v.as_double())) {
      const double scale = std::pow(10.0, static_cast<double>(-precision));
      return Value::number(std::nearbyint(v.as_double() / scale) * scale);
    }
    // Python's round(x, n) rounds the exact binary value half-to-even, as printf does.
    const std::string text = fmt::format("{:.{}f}", v.as_double(), precision);
    return Value::number(std::strtod(text.c_str(), nullptr));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.as_double() * scale;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Value f_safe(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "safe");
  return v;
}

Value f_sort(Interpreter& interp, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"reverse", "case_sensitive", "attribute"}, "sort");
  std::vector<Value> items = iterate(v);
  const bool case_sensitive = flag(a[1]);
  auto key = [&](const Value& x) { return sort_key(a[2] && !a[2]->is_none() ? get_path(interp, x, *a[2]) : x, case_sensitive); };
  const bool reverse = flag(a[0]);
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? value_less(key(y), key(x)) : value_less(key(x), key(y));
  });
  return Value::list(std::move(items));
}

Value f_string(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "string");
  return Value::string(soft_str(v));
}

Value f_sum(Interpreter& interp, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"attribute", "start"}, "sum");
  Value total = a[1] ? *a[1] : Value::integer(0);
  for (const Value& item : iterate(v)) total = op_add(total, a[0] ? get_path(interp, item, *a[0]) : item);
  return total;
}

Value f_tojson(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"ensure_ascii", "indent", "separators", "sort_keys"}, "tojson");
  JsonOptions opt;
  opt.ensure_ascii = flag(a[0]);
  if (a[1] && !a[1]->is_none()) {
    opt.indent = a[1]->is_string() ? a[1]->str() : std::string(static_cast<size_t>(std::max<int64_t>(0, a[1]->as_int())), ' ');
    opt.item_separator = ",";
  }
  if (a[2] && !a[2]->is_none()) {
    if (!a[2]->is_list() || a[2]->items().size() != 2 || !a[2]->items()[0].is_string() || !a[2]->items()[1].is_string()) {
      fail("tojson separators must be a pair of strings");
    }
    opt.item_separator = a[2]->items()[0].str();
    opt.key_separator = a[2]->items()[1].str();
  }
  opt.sort_keys = flag(a[3]);
  return Value::string(to_json(v, opt), contains_content(v));
}

Value f_trim(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"chars"}, "trim");
  TaggedString s = soft_str(v);
  std::optional<std::string_view> chars;
  if (a[0] && !a[0]->is_none()) chars = a[0]->str();
  const auto [b, e] = py_strip(s.text(), chars, true, true);
  return Value::string(s.substr(b, e - b));
}

Value f_truncate(Interpreter&, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"length", "killwords", "end", "leeway"}, "truncate");
  const int64_t length = a[0] ? a[0]->as_int() : 255;
  const TaggedString end = a[2] ? soft_str(*a[2]) : TaggedString("...");
  const int64_t leeway = a[3] && !a[3]->is_none() ? a[3]->as_int() : 5;  // jinja2's truncate.leeway policy
  const int64_t end_len = static_cast<int64_t>(code_point_offsets(end.text()).size() - 1);
  if (length < end_len) fail("expected length >= {}, got {}", end_len, length);
  if (leeway < 0) fail("expected leeway >= 0, got {}", leeway);
  TaggedString s = soft_str(v);
  const std::vector<size_t> offs = code_point_offsets(s.text());
  if (static_cast<int64_t>(offs.size() - 1) <= length + leeway) return Value::string(s);
  TaggedString out = s.substr(0, offs[static_cast<size_t>(length - end_len)]);
  if (!flag(a[1])) {
    const size_t space = out.text().rfind(' ');
    if (space != std::string::npos) out = out.substr(0, space);
  }
  out.append(end);
  return Value::string(std::move(out));
}

Value f_unique(Interpreter& interp, const Value& v, CallArgs& args) {
  Args a = bind_args(args, {"case_sensitive", "attribute"}, "unique");
  std::vector<Value> out, seen;
  for (const Value& item : iterate(v)) {
    Value key = sort_key(a[1] ? get_path(interp, item, *a[1]) : item, flag(a[0]));
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return values_equal(s, key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& args) {
  bind_args(args, {}, "wordcount");
  const std::string text = to_str(v);
  int64_t words = 0;
  bool in_word = false;
  size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp = 0;
    auto len = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                                static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (len <= 0) len = 1;
    const auto cat = utf8proc_category(cp);
    const bool word_char = cp == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
                           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO) ||
                           (cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME);
    if (word_char && !in_word) ++words;
    in_word = word_char;
    i += static_cast<size_t>(len);
  }
  return Value::integer(words);
}

Value f_format(Interpreter&, const Value& v, CallArgs& args) {
  Value format_args;
  if (!args.named.empty()) {
    if (!args.positional.empty()) fail("can't handle positional and keyword arguments at the same time");
    format_args = Value::dict();
    for (const auto& [k, item] : args.named) format_args.dict_data().set(Value::string(k), item);
  } else {
    format_args = Value::tuple(args.positional);
  }
  TaggedString s = soft_str(v);
  return Value::string(py_percent_format(s.text(), format_args), s.has_content() || contains_content(format_args));
}

constexpr std::array<FilterDef, 43> kFilters = {{
    {"abs", f_abs},           {"attr", f_attr},         {"batch", f_batch},         {"capitalize", f_capitalize},
    {"center", f_center},     {"count", f_length},      {"d", f_default},           {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape},          {"escape", f_escape},       {"first", f_first},
    {"float", f_float},       {"format", f_format},     {"indent", f_indent},       {"int", f_int},
    {"items", f_items},       {"join", f_join},         {"last", f_last},           {"length", f_length},
    {"list", f_list},         {"lower", f_lower},       {"map", f_map},             {"max", f_max},
    {"min", f_min},           {"reject", f_reject},     {"rejectattr", f_rejectattr}, {"replace", f_replace},
    {"reverse", f_reverse},   {"round", f_round},       {"safe", f_safe},           {"select", f_select},
    {"selectattr", f_selectattr}, {"sort", f_sort},     {"string", f_string},       {"sum", f_sum},
    {"title", f_title},       {"tojson", f_tojson},     {"trim", f_trim}, {"truncate", f_truncate},           {"unique", f_unique},
    {"upper", f_upper},       {"wordcount", f_wordcount},
}};

}  // namespace

const FilterDef* find_filter(std::string_view name) {
  for (const FilterDef& f : kFilters) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace banyan::jinja
