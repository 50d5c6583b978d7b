// Execution of statement nodes.
#include <fmt/format.h>

#include "format/jinja/ast.h"
#include "format/jinja/builtins.h"
#include "format/jinja/interpreter.h"

namespace banyan::jinja {

Flow exec_body(const Body& body, Interpreter& interp, Output& out) {
  for (const StmtPtr& stmt : body) {
    Flow flow;
    try {
      interp.step();
      flow = stmt->exec(interp, out);
      interp.check_size(out.size());
    } catch (const TemplateRaisedError&) {
      throw;
    } catch (const RenderError&) {
      throw;
    } catch (const std::exception& e) {
      throw RenderError(fmt::format("line {}: {}", stmt->pos.line, e.what()));
    }
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

Flow DataStmt::exec(Interpreter&, Output& out) const {
  out.write(text);
  return Flow::Normal;
}

Flow PrintStmt::exec(Interpreter& interp, Output& out) const {
  out.write(to_tagged_str(expr->eval(interp)));
  return Flow::Normal;
}

Flow IfStmt::exec(Interpreter& interp, Output& out) const {
  for (const auto& [cond, body] : branches) {
    if (cond->eval(interp).truthy()) return exec_body(body, interp, out);
  }
  return exec_body(otherwise, interp, out);
}

namespace {

Value make_loop_object(const std::vector<Value>& items, size_t i, std::shared_ptr<std::optional<CallArgs>> changed) {
  Value loop = Value::dict();
  DictData& d = loop.dict_data();
  const auto n = static_cast<int64_t>(items.size());
  const auto idx = static_cast<int64_t>(i);
  auto set = [&](const char* k, Value v) { d.set(Value::string(k), std::move(v)); };
  set("index0", Value::integer(idx));
  set("index", Value::integer(idx + 1));
  set("revindex0", Value::integer(n - idx - 1));
  set("revindex", Value::integer(n - idx));
  set("first", Value::boolean(i == 0));
  set("last", Value::boolean(idx == n - 1));
  set("length", Value::integer(n));
  set("depth", Value::integer(1));
  set("depth0", Value::integer(0));
  set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
  set("nextitem", idx + 1 < n ? items[i + 1] : Value::undefined("there is no next item"));
  set("cycle", Value::function("loop.cycle", [i](CallArgs& args, Interpreter&) {
        if (args.positional.empty()) fail("no items for cycling given");
        return args.positional[i % args.positional.size()];
      }));
  set("changed", Value::function("loop.changed", [changed](CallArgs& args, Interpreter&) {
        bool differs = !changed->has_value() || (*changed)->positional.size() != args.positional.size();
        for (size_t k = 0; !differs && k < args.positional.size(); ++k) {
          differs = !values_equal((*changed)->positional[k], args.positional[k]);
        }
        if (differs) *changed = args;
        return Value::boolean(differs);
      }));
  return loop;
}

}  // namespace

Flow ForStmt::exec(Interpreter& interp, Output& out) const {
  std::vector<Value> items = iterate(iterable->eval(interp));
  if (filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      interp.step();
      Interpreter::ScopeGuard scope(interp);
      interp.assign(target, item);
      if (filter->eval(interp).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(otherwise, interp, out);
  auto changed = std::make_shared<std::optional<CallArgs>>();
  for (size_t i = 0; i < items.size(); ++i) {
    interp.step();
    Interpreter::ScopeGuard scope(interp);  // jinja2: each iteration starts from the enclosing scope's variables
    interp.assign(target, items[i]);
    Value loop = make_loop_object(items, i, changed);
    interp.track_cyclable(loop.dict_ptr());
    interp.assign("loop", std::move(loop));
    if (exec_body(body, interp, out) == Flow::Break) break;
  }
  return Flow::Normal;
}

Flow SetStmt::exec(Interpreter& interp, Output&) const {
  interp.assign(target, value->eval(interp));
  return Flow::Normal;
}

namespace {

TaggedString render_scoped(const Body& body, Interpreter& interp) {
  Output inner;
  Interpreter::ScopeGuard scope(interp);
  exec_body(body, interp, inner);
  return inner.take();
}

Value apply_filters(const std::vector<std::unique_ptr<FilterExpr>>& filters, Interpreter& interp, Value v) {
  for (const auto& f : filters) v = f->apply(interp, v);
  return v;
}

// A callable that renders `body` with `params` bound, in the scopes visible where it was defined.
Value make_macro(std::string name, const std::vector<MacroParam>* params, const Body* body, Interpreter& interp) {
  FrameStack captured = interp.frames();
  return Value::function(name, [name, params, body, captured](CallArgs& args, Interpreter& in) {
    if (in.macro_depth > 200) fail("macro '{}': recursion too deep", name);
    Interpreter::FramesSwap swap(in, captured);
    Interpreter::ScopeGuard scope(in);
    ++in.macro_depth;
    struct DepthGuard {
      Interpreter& i;
      ~DepthGuard() { --i.macro_depth; }
    } depth_guard{in};
    std::vector<Value> varargs;
    for (size_t i = 0; i < args.positional.size(); ++i) {
      if (i < params->size()) {
        in.assign((*params)[i].name, args.positional[i]);
      } else {
        varargs.push_back(args.positional[i]);
      }
    }
    Value kwargs = Value::dict();
    std::vector<bool> bound(params->size(), false);
    for (size_t i = 0; i < params->size() && i < args.positional.size(); ++i) bound[i] = true;
    for (const auto& [key, v] : args.named) {
      bool matched = false;
      for (size_t i = 0; i < params->size(); ++i) {
        if ((*params)[i].name == key) {
          if (bound[i]) fail("macro '{}' got multiple values for argument '{}'", name, key);
          in.assign(key, v);
          bound[i] = true;
          matched = true;
        }
      }
      if (matched) continue;
      if (key == "caller") {
        in.assign("caller", v);
      } else {
        kwargs.dict_data().set(Value::string(key), v);
      }
    }
    for (size_t i = 0; i < params->size(); ++i) {
      if (bound[i]) continue;
      const MacroParam& p = (*params)[i];
      in.assign(p.name, p.default_value ? p.default_value->eval(in)
                                        : Value::undefined("parameter '" + p.name + "' was not provided"));
    }
    in.assign("varargs", Value::list(std::move(varargs)));
    in.assign("kwargs", kwargs);
    Output out;
    exec_body(*body, in, out);
    return Value::string(out.take());
  });
}

}  // namespace

Flow SetBlockStmt::exec(Interpreter& interp, Output&) const {
  Value v = Value::string(render_scoped(body, interp));
  interp.assign(target, apply_filters(filters, interp, std::move(v)));
  return Flow::Normal;
}

Flow MacroStmt::exec(Interpreter& interp, Output&) const {
  interp.assign(name, make_macro(name, &params, &body, interp));
  return Flow::Normal;
}

Flow CallBlockStmt::exec(Interpreter& interp, Output& out) const {
  Value callee = call->callee->eval(interp);
  CallArgs args = call->args.eval(interp);
  args.named.emplace_back("caller", make_macro("caller", &params, &body, interp));
  out.write(to_tagged_str(interp.call(callee, args)));
  return Flow::Normal;
}

Flow FilterBlockStmt::exec(Interpreter& interp, Output& out) const {
  Value v = Value::string(render_scoped(body, interp));
  out.write(to_tagged_str(apply_filters(filters, interp, std::move(v))));
  return Flow::Normal;
}

Flow WithStmt::exec(Interpreter& interp, Output& out) const {
  std::vector<Value> values;
  for (const auto& [target, expr] : assignments) values.push_back(expr->eval(interp));
  Interpreter::ScopeGuard scope(interp);
  for (size_t i = 0; i < values.size(); ++i) interp.assign(assignments[i].first, values[i]);
  return exec_body(body, interp, out);
}

Flow ScopeStmt::exec(Interpreter& interp, Output& out) const { return exec_body(body, interp, out); }

Flow LoopControlStmt::exec(Interpreter&, Output&) const { return flow; }

}  // namespace banyan::jinja
