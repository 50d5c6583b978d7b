// The interpreter's value model: Python's view of template data (None, bool, int, float, str, list/tuple, dict,
// callables) plus jinja2's Undefined. Lists and dicts have reference semantics like Python objects.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "format/jinja/tagged_string.h"

namespace banyan::jinja {

class Value;
class Interpreter;

struct ListData;
class DictData;
struct CallArgs;
struct FunctionData;
using NativeFunction = std::function<Value(CallArgs& args, Interpreter& interp)>;

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Function };

  Value() : data_(UndefinedData{}) {}  // jinja2's Undefined
  static Value undefined(std::string hint);
  static Value none() { return Value(nullptr); }
  static Value boolean(bool b) { return Value(b); }
  static Value integer(int64_t i) { return Value(i); }
  static Value number(double d) { return Value(d); }
  static Value string(std::string s, bool from_content = false);
  static Value string(TaggedString s);
  static Value list(std::vector<Value> items = {});
  static Value tuple(std::vector<Value> items);
  static Value dict();
  static Value dict(std::shared_ptr<DictData> data);
  static Value function(std::string name, NativeFunction fn);

  Kind kind() const { return static_cast<Kind>(data_.index()); }
  bool is_undefined() const { return kind() == Kind::Undefined; }
  bool is_none() const { return kind() == Kind::None; }
  bool is_bool() const { return kind() == Kind::Bool; }
  bool is_int() const { return kind() == Kind::Int; }
  bool is_float() const { return kind() == Kind::Float; }
  bool is_number() const { return is_bool() || is_int() || is_float(); }  // Python: bool is an int
  bool is_string() const { return kind() == Kind::String; }
  bool is_list() const { return kind() == Kind::List; }  // list or tuple
  bool is_tuple() const;
  bool is_dict() const { return kind() == Kind::Dict; }
  bool is_function() const { return kind() == Kind::Function; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const;     // bool or int
  double as_double() const;   // bool, int or float
  const std::string& str() const { return tagged().text(); }
  const TaggedString& tagged() const { return *std::get<std::shared_ptr<const TaggedString>>(data_); }
  ListData& list_data() const { return *std::get<std::shared_ptr<ListData>>(data_); }
  const std::vector<Value>& items() const;
  DictData& dict_data() const { return *std::get<std::shared_ptr<DictData>>(data_); }
  const std::shared_ptr<DictData>& dict_ptr() const { return std::get<std::shared_ptr<DictData>>(data_); }
  const FunctionData& function_data() const { return *std::get<std::shared_ptr<const FunctionData>>(data_); }
  // Why this value is undefined ("'x' is undefined"), for error messages.
  const std::string& undefined_hint() const;

  bool truthy() const;
  // Python's type name, as in its error messages ("str", "list", "dict", "NoneType"...).
  std::string type_name() const;

 private:
  struct UndefinedData {
    std::shared_ptr<const std::string> hint;
  };
  using Data = std::variant<UndefinedData, std::nullptr_t, bool, int64_t, double, std::shared_ptr<const TaggedString>,
                            std::shared_ptr<ListData>, std::shared_ptr<DictData>, std::shared_ptr<const FunctionData>>;
  explicit Value(std::nullptr_t) : data_(nullptr) {}
  explicit Value(bool b) : data_(b) {}
  explicit Value(int64_t i) : data_(i) {}
  explicit Value(double d) : data_(d) {}
  template <class T>
  explicit Value(std::in_place_t, T v) : data_(std::move(v)) {}

  Data data_;
};

struct ListData {
  std::vector<Value> items;
  bool is_tuple = false;
};

// Insertion-ordered dict (Python 3.7+ semantics). Namespaces (jinja2's namespace()) are dicts whose attributes
// may be assigned with `{% set ns.x = ... %}`.
class DictData {
 public:
  const Value* find(const Value& key) const;
  Value* find(const Value& key);
  void set(const Value& key, Value value);
  size_t size() const { return entries_.size(); }
  void clear() {
    entries_.clear();
    index_.clear();
  }
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }
  bool is_namespace = false;

 private:
  std::vector<std::pair<Value, Value>> entries_;
  std::unordered_map<std::string, size_t> index_;
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
};

struct FunctionData {
  std::string name;
  NativeFunction call;
};

inline bool Value::is_tuple() const { return is_list() && list_data().is_tuple; }
inline const std::vector<Value>& Value::items() const { return list_data().items; }

// Python `==` (1 == 1.0 == True; list vs tuple differ; dicts compare as mappings).
bool values_equal(const Value& a, const Value& b);
// Python `<`; throws banyan::Error for unorderable types.
bool value_less(const Value& a, const Value& b);
// Python str() and repr(). Undefined prints as "" (jinja2's default Undefined).
std::string to_str(const Value& v);
std::string to_repr(const Value& v);
// Whether any string inside v (recursively) came from message content.
bool contains_content(const Value& v);
// str() keeping content tags for strings (other values are never content).
TaggedString to_tagged_str(const Value& v);
// Python repr of a float ("1.0", "1e-05", "inf").
std::string float_repr(double d);
std::string string_repr(std::string_view s);

}  // namespace banyan::jinja
