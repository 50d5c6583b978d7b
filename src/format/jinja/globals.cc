// Global functions of transformers' chat-template environment: jinja2's range/dict/namespace plus
// raise_exception and strftime_now.
#include <ctime>

#include "core/error.h"
#include "format/jinja/builtins.h"

namespace banyan::jinja {

namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2's sandbox limit

Value g_range(CallArgs& args, Interpreter&) {
  if (!args.named.empty()) fail("range() takes no keyword arguments");
  std::vector<int64_t> n;
  for (const Value& v : args.positional) {
    if (!v.is_int() && !v.is_bool()) fail("'{}' object cannot be interpreted as an integer", v.type_name());
    n.push_back(v.as_int());
  }
  int64_t start = 0, stop = 0, step = 1;
  if (n.size() == 1) stop = n[0];
  else if (n.size() == 2 || n.size() == 3) {
    start = n[0];
    stop = n[1];
    if (n.size() == 3) step = n[2];
  } else {
    fail("range expected 1 to 3 arguments, got {}", n.size());
  }
  if (step == 0) fail("range() arg 3 must not be zero");
  std::vector<Value> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(out.size()) >= kMaxRange) fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    out.push_back(Value::integer(i));
  }
  return Value::list(std::move(out));
}

void fill_dict(DictData& d, CallArgs& args, const char* fn) {
  if (args.positional.size() > 1) fail("{} expected at most 1 positional argument, got {}", fn, args.positional.size());
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (src.is_dict()) {
      for (const auto& [k, v] : src.dict_data().entries()) d.set(k, v);
    } else {
      for (const Value& pair : iterate(src)) {
        std::vector<Value> kv = iterate(pair);
        if (kv.size() != 2) fail("{} update sequence element has length {}; 2 is required", fn, kv.size());
        d.set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [k, v] : args.named) d.set(Value::string(k), v);
}

Value g_dict(CallArgs& args, Interpreter&) {
  Value d = Value::dict();
  fill_dict(d.dict_data(), args, "dict");
  return d;
}

Value g_namespace(CallArgs& args, Interpreter& interp) {
  Value d = Value::dict();
  d.dict_data().is_namespace = true;
  interp.track_cyclable(d.dict_ptr());
  fill_dict(d.dict_data(), args, "namespace");
  return d;
}

Value g_raise_exception(CallArgs& args, Interpreter&) {
  const std::string message = args.positional.empty() ? "" : to_str(args.positional[0]);
  throw TemplateRaisedError(message);
}

Value g_strftime_now(CallArgs& args, Interpreter&) {
  auto a = bind_args(args, {"format"}, "strftime_now");
  if (!a[0] || !a[0]->is_string()) fail("strftime_now needs a format string");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[512];
  const size_t n = std::strftime(buf, sizeof buf, a[0]->str().c_str(), &local);
  if (n == 0 && !a[0]->str().empty()) fail("strftime_now: format '{}' produced no output", a[0]->str());
  return Value::string(std::string(buf, n));
}

}  // namespace

void add_builtin_globals(Frame& globals) {
  globals["range"] = Value::function("range", g_range);
  globals["dict"] = Value::function("dict", g_dict);
  globals["namespace"] = Value::function("namespace", g_namespace);
  globals["raise_exception"] = Value::function("raise_exception", g_raise_exception);
  globals["strftime_now"] = Value::function("strftime_now", g_strftime_now);
}

}  // namespace banyan::jinja
