// Python str semantics on UTF-8 text: whitespace, strip/split, case mapping, %-formatting and str.format.
#include <fmt/format.h>
#include <utf8proc.h>

#include <cmath>

#include "core/error.h"
#include "format/jinja/builtins.h"

namespace banyan::jinja {

namespace {

struct CodePoint {
  char32_t cp;
  size_t begin, end;
};

std::vector<CodePoint> decode(std::string_view s) {
  std::vector<CodePoint> out;
  size_t i = 0;
  while (i < s.size()) {
    utf8proc_int32_t cp = 0;
    auto len = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (len <= 0) {  // invalid byte: treat as a code point of its own so offsets stay consistent
      cp = static_cast<unsigned char>(s[i]);
      len = 1;
    }
    out.push_back({static_cast<char32_t>(cp), i, i + static_cast<size_t>(len)});
    i += static_cast<size_t>(len);
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

bool is_cased(char32_t c) {
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

}  // namespace

std::vector<size_t> code_point_offsets(std::string_view s) {
  std::vector<size_t> offsets;
  for (const CodePoint& c : decode(s)) offsets.push_back(c.begin);
  offsets.push_back(s.size());
  return offsets;
}

bool py_isspace(char32_t c) {
  if ((c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85) return true;
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

ByteRange py_strip(std::string_view s, std::optional<std::string_view> chars, bool left, bool right) {
  const std::vector<CodePoint> cps = decode(s);
  std::vector<char32_t> set;
  if (chars) {
    for (const CodePoint& c : decode(*chars)) set.push_back(c.cp);
  }
  auto strippable = [&](char32_t c) {
    if (!chars) return py_isspace(c);
    return std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && strippable(cps[b].cp)) ++b;
  }
  if (right) {
    while (e > b && strippable(cps[e - 1].cp)) --e;
  }
  if (b == e) return {0, 0};
  return {cps[b].begin, cps[e - 1].end};
}

std::vector<ByteRange> py_split(std::string_view s, std::optional<std::string_view> sep, int64_t maxsplit) {
  std::vector<ByteRange> out;
  if (sep) {
    if (sep->empty()) fail("empty separator");
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t at = s.find(*sep, start);
      if (at == std::string_view::npos) break;
      out.emplace_back(start, at);
      start = at + sep->size();
    }
    out.emplace_back(start, s.size());
    return out;
  }
  const std::vector<CodePoint> cps = decode(s);
  size_t i = 0;
  while (true) {
    while (i < cps.size() && py_isspace(cps[i].cp)) ++i;
    if (i == cps.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      size_t e = cps.size();
      while (e > i && py_isspace(cps[e - 1].cp)) --e;
      out.emplace_back(cps[i].begin, cps[e - 1].end);
      break;
    }
    const size_t b = i;
    while (i < cps.size() && !py_isspace(cps[i].cp)) ++i;
    out.emplace_back(cps[b].begin, cps[i - 1].end);
  }
  return out;
}

std::vector<ByteRange> py_rsplit(std::string_view s, std::optional<std::string_view> sep, int64_t maxsplit) {
  if (maxsplit < 0) return py_split(s, sep, maxsplit);
  std::vector<ByteRange> out;
  if (sep) {
    if (sep->empty()) fail("empty separator");
    size_t end = s.size();
    while (static_cast<int64_t>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t at = s.rfind(*sep, end - sep->size());
      if (at == std::string_view::npos) break;
      out.emplace_back(at + sep->size(), end);
      end = at;
    }
    out.emplace_back(0, end);
    std::reverse(out.begin(), out.end());
    return out;
  }
  const std::vector<CodePoint> cps = decode(s);
  size_t i = cps.size();
  while (true) {
    while (i > 0 && py_isspace(cps[i - 1].cp)) --i;
    if (i == 0) break;
    if (static_cast<int64_t>(out.size()) == maxsplit) {
      size_t b = 0;
      while (b < i && py_isspace(cps[b].cp)) ++b;
      out.emplace_back(cps[b].begin, cps[i - 1].end);
      break;
    }
    const size_t e = i;
    while (i > 0 && !py_isspace(cps[i - 1].cp)) --i;
    out.emplace_back(cps[i].begin, cps[e - 1].end);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<ByteRange> py_splitlines(std::string_view s, bool keepends) {
  std::vector<ByteRange> out;
  const std::vector<CodePoint> cps = decode(s);
  size_t line_start = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    const char32_t c = cps[i].cp;
    const bool brk = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e ||
                     c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    const size_t break_begin = cps[i].begin;
    if (c == '\r' && i + 1 < cps.size() && cps[i + 1].cp == '\n') ++i;
    const size_t end_of_break = cps[i].end;
    out.emplace_back(line_start, keepends ? end_of_break : break_begin);
    line_start = end_of_break;
  }
  if (line_start < s.size()) out.emplace_back(line_start, s.size());
  return out;
}

std::string py_upper(std::string_view s) {
  std::string out;
  for (const CodePoint& c : decode(s)) {
    if (c.cp == 0xDF) {  // ß has no single-character uppercase; Python maps it to "SS"
      out += "SS";
      continue;
    }
    append_utf8(out, static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c.cp))));
  }
  return out;
}

std::string py_lower(std::string_view s) {
  std::string out;
  for (const CodePoint& c : decode(s)) {
    append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c.cp))));
  }
  return out;
}

std::string py_title(std::string_view s) {
  std::string out;
  bool previous_cased = false;
  for (const CodePoint& c : decode(s)) {
    const auto cp = static_cast<utf8proc_int32_t>(c.cp);
    if (is_cased(c.cp)) {
      append_utf8(out, static_cast<char32_t>(previous_cased ? utf8proc_tolower(cp) : utf8proc_totitle(cp)));
      previous_cased = true;
    } else {
      append_utf8(out, c.cp);
      previous_cased = false;
    }
  }
  return out;
}

std::string py_capitalize(std::string_view s) {
  std::string out;
  bool first = true;
  for (const CodePoint& c : decode(s)) {
    const auto cp = static_cast<utf8proc_int32_t>(c.cp);
    append_utf8(out, static_cast<char32_t>(first ? utf8proc_totitle(cp) : utf8proc_tolower(cp)));
    first = false;
  }
  return out;
}

std::string py_replace(std::string_view s, std::string_view old, std::string_view replacement, int64_t count) {
  std::string out;
  if (old.empty()) {  // Python inserts the replacement between every code point
    const std::vector<CodePoint> cps = decode(s);
    int64_t done = 0;
    for (const CodePoint& c : cps) {
      if (count < 0 || done < count) {
        out += replacement;
        ++done;
      }
      out += s.substr(c.begin, c.end - c.begin);
    }
    if (count < 0 || done < count) out += replacement;
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(old, start);
    if (at == std::string_view::npos) break;
    out += s.substr(start, at - start);
    out += replacement;
    start = at + old.size();
    ++done;
  }
  out += s.substr(start);
  return out;
}

namespace {

struct Spec {
  char32_t fill = ' ';
  char align = '\0';
  char sign = '-';
  bool zero = false;
  int width = -1;
  bool thousands = false;
  int precision = -1;
  char type = '\0';
};

Spec parse_spec(std::string_view spec) {
  Spec out;
  const std::vector<CodePoint> cps = decode(spec);
  size_t i = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (cps.size() >= 2 && is_align(cps[1].cp)) {
    out.fill = cps[0].cp;
    out.align = static_cast<char>(cps[1].cp);
    i = 2;
  } else if (!cps.empty() && is_align(cps[0].cp)) {
    out.align = static_cast<char>(cps[0].cp);
    i = 1;
  }
  if (i < cps.size() && (cps[i].cp == '+' || cps[i].cp == '-' || cps[i].cp == ' ')) out.sign = static_cast<char>(cps[i++].cp);
  if (i < cps.size() && cps[i].cp == '0') {
    out.zero = true;
    ++i;
  }
  auto number = [&] {
    int n = -1;
    while (i < cps.size() && cps[i].cp >= '0' && cps[i].cp <= '9') {
      n = std::min((n < 0 ? 0 : n * 10) + static_cast<int>(cps[i++].cp - '0'), 1 << 24);
    }
    return n;
  };
  out.width = number();
  if (i < cps.size() && cps[i].cp == ',') {
    out.thousands = true;
    ++i;
  }
  if (i < cps.size() && cps[i].cp == '.') {
    ++i;
    out.precision = number();
    if (out.precision < 0) fail("format specifier missing precision");
  }
  if (i < cps.size()) out.type = static_cast<char>(cps[i++].cp);
  if (i != cps.size()) fail("invalid format specifier '{}'", spec);
  constexpr int kMaxField = 1 << 16;  // bounded so a template cannot request gigabytes of padding
  if (out.width > kMaxField || out.precision > kMaxField) fail("format specifier '{}' is too large", spec);
  return out;
}

std::string pad(std::string body, const Spec& spec, bool numeric) {
  const int64_t len = static_cast<int64_t>(code_point_offsets(body).size() - 1);
  if (spec.width < 0 || len >= spec.width) return body;
  const size_t missing = static_cast<size_t>(spec.width - len);
  char align = spec.align ? spec.align : (numeric ? '>' : '<');
  std::string fill;
  append_utf8(fill, spec.zero && !spec.align ? U'0' : spec.fill);
  if (spec.zero && !spec.align && numeric) align = '=';
  auto repeat = [&](size_t n) {
    std::string r;
    for (size_t k = 0; k < n; ++k) r += fill;
    return r;
  };
  switch (align) {
    case '<': return body + repeat(missing);
    case '^': return repeat(missing / 2) + body + repeat(missing - missing / 2);
    case '=': {
      const size_t sign_len = !body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ') ? 1 : 0;
      return body.substr(0, sign_len) + repeat(missing) + body.substr(sign_len);
    }
    default: return repeat(missing) + body;
  }
}

std::string with_sign(std::string digits, bool negative, char sign) {
  if (negative) return "-" + digits;
  if (sign == '+') return "+" + digits;
  if (sign == ' ') return " " + digits;
  return digits;
}

}  // namespace

std::string py_format_spec(const Value& v, std::string_view spec_text) {
  if (spec_text.empty()) return to_str(v);
  const Spec spec = parse_spec(spec_text);
  switch (spec.type) {
    case '\0':
      if (v.is_float() && spec.precision >= 0) {
        return pad(with_sign(fmt::format("{:.{}g}", std::fabs(v.as_double()), spec.precision), v.as_double() < 0,
                             spec.sign), spec, true);
      }
      if (v.is_number() && !v.is_bool()) {
        std::string s = to_str(v);
        const bool neg = !s.empty() && s[0] == '-';
        return pad(with_sign(neg ? s.substr(1) : s, neg, spec.sign), spec, true);
      }
      [[fallthrough]];
    case 's': {
      if (v.is_number() && !v.is_bool() && spec.type == 's') fail("unknown format code 's' for object of type '{}'", v.type_name());
      std::string s = to_str(v);
      if (spec.precision >= 0) {
        const std::vector<size_t> offs = code_point_offsets(s);
        if (static_cast<size_t>(spec.precision) + 1 < offs.size()) s.resize(offs[static_cast<size_t>(spec.precision)]);
      }
      return pad(s, spec, false);
    }
    case 'd':
    case 'x':
    case 'X':
    case 'o':
    case 'b': {
      if (!(v.is_int() || v.is_bool())) fail("unknown format code '{}' for object of type '{}'", spec.type, v.type_name());
      const int64_t n = v.as_int();
      const uint64_t mag = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
      std::string digits = spec.type == 'd'   ? fmt::format("{}", mag)
                           : spec.type == 'x' ? fmt::format("{:x}", mag)
                           : spec.type == 'X' ? fmt::format("{:X}", mag)
                           : spec.type == 'o' ? fmt::format("{:o}", mag)
                                              : fmt::format("{:b}", mag);
      if (spec.thousands && spec.type == 'd') {
        std::string grouped;
        for (size_t k = 0; k < digits.size(); ++k) {
          if (k && (digits.size() - k) % 3 == 0) grouped += ',';
          grouped += digits[k];
        }
        digits = grouped;
      }
      return pad(with_sign(digits, n < 0, spec.sign), spec, true);
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case '%': {
      if (!v.is_number()) fail("unknown format code '{}' for object of type '{}'", spec.type, v.type_name());
      double d = v.as_double();
      const int precision = spec.precision < 0 ? 6 : spec.precision;
      std::string digits;
      const double mag = std::fabs(d);
      switch (spec.type) {
        case 'f':
        case 'F': digits = fmt::format("{:.{}f}", mag, precision); break;
        case 'e': digits = fmt::format("{:.{}e}", mag, precision); break;
        case 'E': digits = fmt::format("{:.{}E}", mag, precision); break;
        case 'g': digits = fmt::format("{:.{}g}", mag, precision == 0 ? 1 : precision); break;
        case 'G': digits = fmt::format("{:.{}G}", mag, precision == 0 ? 1 : precision); break;
        default: digits = fmt::format("{:.{}f}%", mag * 100.0, precision); break;
      }
      return pad(with_sign(digits, std::signbit(d) && !std::isnan(d), spec.sign), spec, true);
    }
    default: fail("unsupported format code '{}'", spec.type);
  }
}

std::string py_percent_format(std::string_view f, const Value& args) {
  std::vector<Value> positional;
  const bool mapping = args.is_dict();
  // Python treats any non-tuple with __getitem__ (list, dict) as a possible mapping: unused, it is no error.
  const bool lenient = mapping || args.is_undefined() || (args.is_list() && !args.is_tuple());
  if (args.is_tuple()) {
    positional = args.items();
  } else if (!mapping) {
    positional.push_back(args);
  }
  size_t next_arg = 0;
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out += f[i];
      continue;
    }
    if (++i >= f.size()) fail("incomplete format");
    if (f[i] == '%') {
      out += '%';
      continue;
    }
    const Value* arg = nullptr;
    Value keyed;
    if (f[i] == '(') {
      const size_t close = f.find(')', i);
      if (close == std::string_view::npos || !mapping) fail("format requires a mapping");
      const Value* found = args.dict_data().find(Value::string(std::string(f.substr(i + 1, close - i - 1))));
      if (!found) fail("KeyError: '{}'", f.substr(i + 1, close - i - 1));
      keyed = *found;
      arg = &keyed;
      i = close + 1;
    }
    std::string spec;
    while (i < f.size() && std::string_view("-+ #0123456789.").find(f[i]) != std::string_view::npos) spec += f[i++];
    if (i >= f.size()) fail("incomplete format");
    const char type = f[i];
    if (!arg) {
      if (next_arg >= positional.size()) fail("not enough arguments for format string");
      arg = &positional[next_arg++];
    }
    // Translate %-spec flags into the format-spec mini-language.
    std::string mini;
    size_t k = 0;
    bool left = false;
    char sign = '\0';
    bool zero = false;
    for (; k < spec.size() && std::string_view("-+ #0").find(spec[k]) != std::string_view::npos; ++k) {
      if (spec[k] == '-') left = true;
      else if (spec[k] == '+' || spec[k] == ' ') sign = sign == '+' ? '+' : spec[k];
      else if (spec[k] == '0') zero = true;
    }
    // printf right-aligns by default (the format mini-language left-aligns strings), and pads zeros after the sign.
    if (left) mini += '<';
    else if (!zero) mini += '>';
    if (sign) mini += sign;
    if (zero && !left) mini += '0';
    mini += spec.substr(k);
    switch (type) {
      case 's': out += py_format_spec(Value::string(to_str(*arg)), mini); break;
      case 'r': out += py_format_spec(Value::string(to_repr(*arg)), mini); break;
      case 'd':
      case 'i':
      case 'u':
        if (!arg->is_number()) fail("%d format: a real number is required, not {}", arg->type_name());
        out += py_format_spec(Value::integer(arg->is_float() ? static_cast<int64_t>(arg->as_double()) : arg->as_int()),
                              mini + "d");
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
        if (!arg->is_number()) fail("must be real number, not {}", arg->type_name());
        out += py_format_spec(*arg, mini + type);
        break;
      case 'x':
      case 'X':
      case 'o': out += py_format_spec(*arg, mini + type); break;
      default: fail("unsupported format character '{}'", type);
    }
  }
  if (!lenient && next_arg < positional.size()) fail("not all arguments converted during string formatting");
  return out;
}

std::string py_str_format(std::string_view f, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const char c = f[i];
    if (c == '}') {
      if (i + 1 < f.size() && f[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      fail("single '}}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t close = f.find('}', i);
    if (close == std::string_view::npos) fail("single '{{' encountered in format string");
    std::string_view field = f.substr(i + 1, close - i - 1);
    i = close;
    std::string_view spec;
    if (const size_t colon = field.find(':'); colon != std::string_view::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    bool repr = false;
    if (field.size() >= 2 && field[field.size() - 2] == '!') {
      repr = field.back() == 'r';
      if (field.back() != 'r' && field.back() != 's') fail("unsupported conversion in format string");
      field = field.substr(0, field.size() - 2);
    }
    const Value* arg = nullptr;
    if (field.empty()) {
      if (auto_index >= args.positional.size()) fail("Replacement index {} out of range for positional args tuple", auto_index);
      arg = &args.positional[auto_index++];
    } else if (std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      const size_t idx = std::stoul(std::string(field));
      if (idx >= args.positional.size()) fail("Replacement index {} out of range for positional args tuple", idx);
      arg = &args.positional[idx];
    } else {
      for (const auto& [name, v] : args.named) {
        if (name == field) arg = &v;
      }
      if (!arg) fail("KeyError: '{}' in format string", field);
    }
    out += repr ? py_format_spec(Value::string(to_repr(*arg)), spec) : py_format_spec(*arg, spec);
  }
  return out;
}

}  // namespace banyan::jinja
