// Render-time state: variable scopes, output buffer, and the operations expressions and statements share
// (attribute/item access, calls, operators). One Interpreter renders one template once.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "format/jinja/ast.h"
#include "format/jinja/value.h"

namespace banyan::jinja {

// raise_exception(msg) from a template: the message is exactly the template's (no location prefix).
class TemplateRaisedError : public Error {
 public:
  using Error::Error;
};
// Any other render failure, prefixed with the template line it happened on.
class RenderError : public Error {
 public:
  using Error::Error;
};

class Output {
 public:
  void write(const TaggedString& s) { buffer_.append(s); }
  void write(std::string_view s) { buffer_.append(s); }
  TaggedString take() { return std::move(buffer_); }
  size_t size() const { return buffer_.text().size(); }

 private:
  TaggedString buffer_;
};

using Frame = std::unordered_map<std::string, Value>;
// Scopes are owned by the Interpreter for the whole render (see arena_), so macros can refer to the scopes they
// were defined in by plain pointer: no reference cycle between a scope and the macros stored in it.
using FrameStack = std::vector<Frame*>;

class Interpreter {
 public:
  explicit Interpreter(std::shared_ptr<Frame> globals);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;
  // Dicts that can end up referencing themselves (namespace() via `set ns.me = ns`, loop objects via
  // `loop.changed(loop)`): emptied when the render ends so no reference cycle outlives it.
  void track_cyclable(const std::shared_ptr<DictData>& d) { cyclables_.push_back(d); }

  Value lookup(const std::string& name) const;
  void assign(const std::string& name, Value value);  // in the innermost scope
  void assign(const Target& target, Value value);

  // A new innermost scope for the lifetime of the guard (loop iterations, macro calls, with-blocks).
  class ScopeGuard {
   public:
    explicit ScopeGuard(Interpreter& interp);
    ~ScopeGuard();
    ScopeGuard(const ScopeGuard&) = delete;
    ScopeGuard& operator=(const ScopeGuard&) = delete;

   private:
    Interpreter& interp_;
  };
  // Runs with `frames` as the scope chain (macros see the scopes of their definition), restoring afterwards.
  class FramesSwap {
   public:
    FramesSwap(Interpreter& interp, FrameStack frames);
    ~FramesSwap();
    FramesSwap(const FramesSwap&) = delete;
    FramesSwap& operator=(const FramesSwap&) = delete;

   private:
    Interpreter& interp_;
    FrameStack saved_;
  };
  const FrameStack& frames() const { return frames_; }

  Value call(const Value& callee, CallArgs& args);
  Value get_attribute(const Value& object, const std::string& name);  // obj.name: methods first, then items
  Value get_item(const Value& object, const Value& key);              // obj[key]: items first, then methods

  int macro_depth = 0;  // guards against runaway recursion
  uint64_t steps_left = UINT64_MAX;
  size_t max_output_bytes = SIZE_MAX;  // also bounds any single string or list a template builds
  void step() {
    if (steps_left-- == 0) fail("template render exceeded its step limit (runaway loop?)");
  }
  void check_size(size_t bytes) const {
    if (bytes > max_output_bytes) fail("template render exceeded its output limit of {} bytes", max_output_bytes);
  }

 private:
  Frame* new_frame();

  FrameStack frames_;
  std::vector<std::unique_ptr<Frame>> arena_;
  std::shared_ptr<Frame> globals_;
  std::vector<std::weak_ptr<DictData>> cyclables_;
};

// Raises jinja2's UndefinedError for an operation on an undefined value.
[[noreturn]] void fail_undefined(const Value& v);

// Python operators with jinja2's semantics.
Value op_add(const Value& a, const Value& b);
Value op_sub(const Value& a, const Value& b);
Value op_mul(const Value& a, const Value& b);
Value op_div(const Value& a, const Value& b);
Value op_floordiv(const Value& a, const Value& b);
Value op_mod(const Value& a, const Value& b);
Value op_pow(const Value& a, const Value& b);
Value op_neg(const Value& a);
bool op_contains(const Value& container, const Value& item);  // `item in container`

// Iteration as Python does it: list items, dict keys, string characters; undefined iterates as empty.
std::vector<Value> iterate(const Value& v);
// Number of Unicode code points / items; throws for values without a length.
int64_t length_of(const Value& v);

}  // namespace banyan::jinja
