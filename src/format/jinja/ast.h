// Syntax tree of a parsed template. Nodes evaluate themselves against an Interpreter (expr_eval.cc, stmt_exec.cc).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/jinja/value.h"

namespace banyan::jinja {

class Output;
struct FilterDef;
struct TestDef;

struct SourcePos {
  int line = 0;
  int column = 0;
};

struct Expr {
  SourcePos pos;
  int depth = 1;  // height of this subtree; the parser bounds it so evaluation cannot overflow the stack
  virtual ~Expr() = default;
  virtual Value eval(Interpreter& interp) const = 0;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> named;
  ExprPtr star_args;    // *args
  ExprPtr star_kwargs;  // **kwargs
  CallArgs eval(Interpreter& interp) const;
};

struct LiteralExpr : Expr {
  Value value;
  Value eval(Interpreter& interp) const override;
};
struct NameExpr : Expr {
  std::string name;
  Value eval(Interpreter& interp) const override;
};
struct ListExpr : Expr {
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  Value eval(Interpreter& interp) const override;
};
struct DictExpr : Expr {
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
  Value eval(Interpreter& interp) const override;
};
struct AttributeExpr : Expr {  // obj.name
  ExprPtr object;
  std::string name;
  Value eval(Interpreter& interp) const override;
};
struct SubscriptExpr : Expr {  // obj[index]
  ExprPtr object;
  ExprPtr index;
  Value eval(Interpreter& interp) const override;
};
struct SliceExpr : Expr {  // obj[start:stop:step]
  ExprPtr object;
  ExprPtr start, stop, step;  // each may be null
  Value eval(Interpreter& interp) const override;
};
struct CallExpr : Expr {
  ExprPtr callee;
  Arguments args;
  Value eval(Interpreter& interp) const override;
};
struct FilterExpr : Expr {  // operand | name(args)
  ExprPtr operand;  // null inside {% filter %} / {% set x | f %} chains: applied to a given value
  std::string name;
  const FilterDef* filter = nullptr;
  Arguments args;
  Value eval(Interpreter& interp) const override;
  Value apply(Interpreter& interp, const Value& input) const;
};
struct TestExpr : Expr {  // operand is [not] name(args)
  ExprPtr operand;
  std::string name;
  const TestDef* test = nullptr;
  Arguments args;
  bool negated = false;
  Value eval(Interpreter& interp) const override;
};
enum class UnaryOp { Neg, Pos, Not };
struct UnaryExpr : Expr {
  UnaryOp op;
  ExprPtr operand;
  Value eval(Interpreter& interp) const override;
};
enum class BinaryOp { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Concat, And, Or };
struct BinaryExpr : Expr {
  BinaryOp op;
  ExprPtr lhs, rhs;
  Value eval(Interpreter& interp) const override;
};
enum class CompareOp { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };
struct CompareExpr : Expr {  // chained: a < b <= c, a in b
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
  Value eval(Interpreter& interp) const override;
};
struct ConditionalExpr : Expr {  // then if cond else otherwise
  ExprPtr then, cond, otherwise;  // otherwise may be null (-> undefined)
  Value eval(Interpreter& interp) const override;
};

enum class Flow { Normal, Break, Continue };

struct Stmt {
  SourcePos pos;
  virtual ~Stmt() = default;
  virtual Flow exec(Interpreter& interp, Output& out) const = 0;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

Flow exec_body(const Body& body, Interpreter& interp, Output& out);

struct DataStmt : Stmt {
  std::string text;
  Flow exec(Interpreter& interp, Output& out) const override;
};
struct PrintStmt : Stmt {  // {{ expr }}
  ExprPtr expr;
  Flow exec(Interpreter& interp, Output& out) const override;
};
struct IfStmt : Stmt {
  std::vector<std::pair<ExprPtr, Body>> branches;  // if + elifs
  Body otherwise;
  Flow exec(Interpreter& interp, Output& out) const override;
};
// An assignment target: a name, a tuple of names, or `ns.attr`.
struct Target {
  std::vector<std::string> names;  // one name, or several for tuple unpacking
  bool is_tuple = false;
  std::string attribute;           // non-empty for `ns.attr`: names[0] is the namespace
};
struct ForStmt : Stmt {
  Target target;
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`
  Body body, otherwise;
  Flow exec(Interpreter& interp, Output& out) const override;
};
struct SetStmt : Stmt {
  Target target;
  ExprPtr value;
  Flow exec(Interpreter& interp, Output& out) const override;
};
struct SetBlockStmt : Stmt {  // {% set x | filters %}body{% endset %}
  Target target;
  std::vector<std::unique_ptr<FilterExpr>> filters;
  Body body;
  Flow exec(Interpreter& interp, Output& out) const override;
};
struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};
struct MacroStmt : Stmt {
  std::string name;
  std::vector<MacroParam> params;
  Body body;
  Flow exec(Interpreter& interp, Output& out) const override;
};
struct CallBlockStmt : Stmt {  // {% call(params) callee(args) %}body{% endcall %}
  std::vector<MacroParam> params;
  std::unique_ptr<CallExpr> call;
  Body body;
  Flow exec(Interpreter& interp, Output& out) const override;
};
struct FilterBlockStmt : Stmt {
  std::vector<std::unique_ptr<FilterExpr>> filters;
  Body body;
  Flow exec(Interpreter& interp, Output& out) const override;
};
struct WithStmt : Stmt {
  std::vector<std::pair<Target, ExprPtr>> assignments;
  Body body;
  Flow exec(Interpreter& interp, Output& out) const override;
};
struct ScopeStmt : Stmt {  // transformers' {% generation %}: renders its body unchanged
  Body body;
  Flow exec(Interpreter& interp, Output& out) const override;
};
struct LoopControlStmt : Stmt {
  Flow flow;
  Flow exec(Interpreter& interp, Output& out) const override;
};

}  // namespace banyan::jinja
