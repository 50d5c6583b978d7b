// Evaluation of expression nodes.
#include <fmt/format.h>

#include "format/jinja/ast.h"
#include "format/jinja/builtins.h"
#include "format/jinja/interpreter.h"

namespace banyan::jinja {

CallArgs Arguments::eval(Interpreter& interp) const {
  CallArgs out;
  for (const ExprPtr& e : positional) out.positional.push_back(e->eval(interp));
  if (star_args) {
    for (Value& v : iterate(star_args->eval(interp))) out.positional.push_back(std::move(v));
  }
  for (const auto& [name, e] : named) out.named.emplace_back(name, e->eval(interp));
  if (star_kwargs) {
    Value kw = star_kwargs->eval(interp);
    if (!kw.is_dict()) fail("argument after ** must be a mapping, not {}", kw.type_name());
    for (const auto& [k, v] : kw.dict_data().entries()) {
      if (!k.is_string()) fail("keywords must be strings");
      out.named.emplace_back(k.str(), v);
    }
  }
  return out;
}

Value LiteralExpr::eval(Interpreter&) const { return value; }

Value NameExpr::eval(Interpreter& interp) const { return interp.lookup(name); }

Value ListExpr::eval(Interpreter& interp) const {
  std::vector<Value> values;
  values.reserve(items.size());
  for (const ExprPtr& e : items) values.push_back(e->eval(interp));
  return is_tuple ? Value::tuple(std::move(values)) : Value::list(std::move(values));
}

Value DictExpr::eval(Interpreter& interp) const {
  Value d = Value::dict();
  for (const auto& [k, v] : items) {
    Value key = k->eval(interp);
    d.dict_data().set(key, v->eval(interp));
  }
  return d;
}

Value AttributeExpr::eval(Interpreter& interp) const { return interp.get_attribute(object->eval(interp), name); }

Value SubscriptExpr::eval(Interpreter& interp) const {
  Value obj = object->eval(interp);
  return interp.get_item(obj, index->eval(interp));
}

namespace {

// Python's slice index computation for a sequence of length n.
std::vector<size_t> slice_indices(const Value& start_v, const Value& stop_v, const Value& step_v, size_t n) {
  auto as_index = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) fail("slice {} must be an integer or None, not {}", what, v.type_name());
    return v.as_int();
  };
  const int64_t len = static_cast<int64_t>(n);
  const int64_t step = as_index(step_v, "step").value_or(1);
  if (step == 0) fail("slice step cannot be zero");
  auto adjust = [&](std::optional<int64_t> i, int64_t if_missing) {
    if (!i) return if_missing;
    int64_t x = *i;
    if (x < 0) {
      x += len;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= len) {
      x = step < 0 ? len - 1 : len;
    }
    return x;
  };
  const int64_t start = adjust(as_index(start_v, "start"), step < 0 ? len - 1 : 0);
  const int64_t stop = adjust(as_index(stop_v, "stop"), step < 0 ? -1 : len);
  std::vector<size_t> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(static_cast<size_t>(i));
  return out;
}

}  // namespace

Value SliceExpr::eval(Interpreter& interp) const {
  Value obj = object->eval(interp);
  const Value none = Value::none();
  Value b = start ? start->eval(interp) : none;
  Value e = stop ? stop->eval(interp) : none;
  Value s = step ? step->eval(interp) : none;
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.is_list()) {
    std::vector<Value> items;
    for (size_t i : slice_indices(b, e, s, obj.items().size())) items.push_back(obj.items()[i]);
    return obj.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }
  if (obj.is_string()) {
    const std::vector<size_t> offsets = code_point_offsets(obj.str());
    TaggedString out;
    for (size_t i : slice_indices(b, e, s, offsets.size() - 1)) {
      out.append(obj.tagged().substr(offsets[i], offsets[i + 1] - offsets[i]));
    }
    return Value::string(std::move(out));
  }
  // jinja2 compiles slices to a plain Python subscript (not its forgiving getitem), so this is a TypeError.
  fail("'{}' object is not subscriptable", obj.type_name());
}

Value CallExpr::eval(Interpreter& interp) const {
  Value fn = callee->eval(interp);
  CallArgs call_args = args.eval(interp);
  return interp.call(fn, call_args);
}

Value FilterExpr::eval(Interpreter& interp) const { return apply(interp, operand->eval(interp)); }

Value FilterExpr::apply(Interpreter& interp, const Value& input) const {
  CallArgs call_args = args.eval(interp);
  return filter->apply(interp, input, call_args);
}

Value TestExpr::eval(Interpreter& interp) const {
  Value v = operand->eval(interp);
  CallArgs call_args = args.eval(interp);
  const bool result = test->check(interp, v, call_args);
  return Value::boolean(negated ? !result : result);
}

Value UnaryExpr::eval(Interpreter& interp) const {
  Value v = operand->eval(interp);
  switch (op) {
    case UnaryOp::Not: return Value::boolean(!v.truthy());
    case UnaryOp::Neg: return op_neg(v);
    case UnaryOp::Pos:
      if (v.is_undefined()) fail_undefined(v);
      if (!v.is_number()) fail("bad operand type for unary +: '{}'", v.type_name());
      return v.is_bool() ? Value::integer(v.as_int()) : v;
  }
  return v;
}

Value BinaryExpr::eval(Interpreter& interp) const {
  if (op == BinaryOp::And) {
    Value a = lhs->eval(interp);
    return a.truthy() ? rhs->eval(interp) : a;
  }
  if (op == BinaryOp::Or) {
    Value a = lhs->eval(interp);
    return a.truthy() ? a : rhs->eval(interp);
  }
  Value a = lhs->eval(interp);
  Value b = rhs->eval(interp);
  switch (op) {
    case BinaryOp::Add: return op_add(a, b);
    case BinaryOp::Sub: return op_sub(a, b);
    case BinaryOp::Mul: return op_mul(a, b);
    case BinaryOp::Div: return op_div(a, b);
    case BinaryOp::FloorDiv: return op_floordiv(a, b);
    case BinaryOp::Mod: return op_mod(a, b);
    case BinaryOp::Pow: return op_pow(a, b);
    case BinaryOp::Concat: {
      TaggedString s = to_tagged_str(a);
      s.append(to_tagged_str(b));
      return Value::string(std::move(s));
    }
    default: break;
  }
  fail("internal error: unknown binary operator");
}

Value CompareExpr::eval(Interpreter& interp) const {
  Value left = first->eval(interp);
  for (const auto& [op, expr] : rest) {
    Value right = expr->eval(interp);
    bool ok = false;
    switch (op) {
      case CompareOp::Eq: ok = values_equal(left, right); break;
      case CompareOp::Ne: ok = !values_equal(left, right); break;
      case CompareOp::Lt: ok = value_less(left, right); break;
      case CompareOp::Le: ok = !value_less(right, left); break;
      case CompareOp::Gt: ok = value_less(right, left); break;
      case CompareOp::Ge: ok = !value_less(left, right); break;
      case CompareOp::In: ok = op_contains(right, left); break;
      case CompareOp::NotIn: ok = !op_contains(right, left); break;
    }
    if (!ok) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value ConditionalExpr::eval(Interpreter& interp) const {
  if (cond->eval(interp).truthy()) return then->eval(interp);
  if (otherwise) return otherwise->eval(interp);
  return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
}

}  // namespace banyan::jinja
