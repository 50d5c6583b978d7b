#include "format/jinja/parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>

#include "core/error.h"
#include "format/jinja/builtins.h"

namespace banyan::jinja {

namespace {

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : toks_(tokens) {}

  Body parse_all() {
    Body body = subparse({});
    if (cur().type != TokenType::Eof) fail_at(cur(), fmt::format("unexpected {}", describe(cur())));
    return body;
  }

 private:
  const Token& cur() const { return toks_[i_]; }
  const Token& peek(size_t n = 1) const { return toks_[std::min(i_ + n, toks_.size() - 1)]; }
  const Token& next() { return toks_[i_ < toks_.size() - 1 ? i_++ : i_]; }
  bool is_op(const char* op) const { return cur().type == TokenType::Operator && cur().value == op; }
  bool is_name(const char* name) const { return cur().type == TokenType::Name && cur().value == name; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }

  [[noreturn]] void fail_at(const Token& t, const std::string& msg) const {
    fail("line {} column {}: {}", t.line, t.column, msg);
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail_at(cur(), fmt::format("expected '{}', got {}", op, describe(cur())));
  }
  void expect_name(const char* name) {
    if (!skip_name(name)) fail_at(cur(), fmt::format("expected '{}', got {}", name, describe(cur())));
  }
  std::string expect_identifier() {
    if (cur().type != TokenType::Name) fail_at(cur(), fmt::format("expected a name, got {}", describe(cur())));
    return next().value;
  }
  void expect_block_end() {
    if (cur().type != TokenType::BlockEnd) fail_at(cur(), fmt::format("expected '%}}', got {}", describe(cur())));
    next();
  }
  template <class T>
  std::unique_ptr<T> make(const Token& at) {
    auto node = std::make_unique<T>();
    node->pos = {at.line, at.column};
    return node;
  }

  // Parses statements until a block tag whose name is in `end_tags`; leaves the cursor on that name.
  Body subparse(std::initializer_list<const char*> end_tags) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == TokenType::Eof) {
        if (end_tags.size() != 0) {
          fail_at(t, fmt::format("unexpected end of template, expected '{}'", *end_tags.begin()));
        }
        return body;
      }
      if (t.type == TokenType::Data) {
        auto node = make<DataStmt>(t);
        node->text = t.value;
        body.push_back(std::move(node));
        next();
      } else if (t.type == TokenType::VariableBegin) {
        next();
        auto node = make<PrintStmt>(t);
        node->expr = parse_tuple(true);
        if (cur().type != TokenType::VariableEnd) {
          fail_at(cur(), fmt::format("expected '}}}}', got {}", describe(cur())));
        }
        next();
        body.push_back(std::move(node));
      } else if (t.type == TokenType::BlockBegin) {
        const Token& name = peek();
        if (name.type == TokenType::Name) {
          for (const char* end : end_tags) {
            if (name.value == end) {
              next();
              return body;
            }
          }
        }
        next();
        body.push_back(parse_statement());
      } else {
        fail_at(t, fmt::format("unexpected {}", describe(t)));
      }
    }
  }

  StmtPtr parse_statement() {
    DepthGuard guard(*this);
    const Token& t = cur();
    if (t.type != TokenType::Name) fail_at(t, "tag name expected");
    const std::string& tag = t.value;
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "call") return parse_call_block();
    if (tag == "filter") return parse_filter_block();
    if (tag == "with") return parse_with();
    if (tag == "generation") {
      auto node = make<ScopeStmt>(t);
      next();
      expect_block_end();
      node->body = subparse({"endgeneration"});
      end_tag();
      return node;
    }
    if (tag == "print") {
      auto node = make<PrintStmt>(t);
      next();
      node->expr = parse_tuple(true);
      expect_block_end();
      return node;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail_at(t, fmt::format("'{}' outside of a loop", tag));
      auto node = make<LoopControlStmt>(t);
      node->flow = tag == "break" ? Flow::Break : Flow::Continue;
      next();
      expect_block_end();
      return node;
    }
    static const std::initializer_list<const char*> kUnsupported = {
        "extends", "block", "include", "import", "from", "autoescape", "do", "trans", "pluralize"};
    for (const char* u : kUnsupported) {
      if (tag == u) fail_at(t, fmt::format("the '{}' tag is not supported by banyan's chat-template interpreter", tag));
    }
    fail_at(t, fmt::format("unknown tag '{}'", tag));
  }

  // Consumes the end tag's name (cursor is on it) and the closing %}.
  void end_tag() {
    next();
    expect_block_end();
  }

  StmtPtr parse_if() {
    auto node = make<IfStmt>(cur());
    next();
    while (true) {
      ExprPtr cond = parse_tuple(false);
      expect_block_end();
      Body body = subparse({"elif", "else", "endif"});
      node->branches.emplace_back(std::move(cond), std::move(body));
      const std::string tag = cur().value;
      next();
      if (tag == "elif") continue;
      if (tag == "else") {
        expect_block_end();
        node->otherwise = subparse({"endif"});
        end_tag();
      } else {
        expect_block_end();
      }
      return node;
    }
  }

  Target parse_target(bool allow_namespace) {
    Target target;
    const Token& t = cur();
    if (allow_namespace && t.type == TokenType::Name && peek().type == TokenType::Operator && peek().value == "." &&
        peek(2).type == TokenType::Name) {
      target.names.push_back(next().value);
      next();
      target.attribute = next().value;
      return target;
    }
    const bool paren = skip_op("(");
    target.names.push_back(expect_identifier());
    while (skip_op(",")) {
      target.is_tuple = true;
      if (cur().type != TokenType::Name) break;  // trailing comma
      target.names.push_back(next().value);
    }
    if (paren) {
      target.is_tuple = true;
      expect_op(")");
    }
    for (const std::string& n : target.names) {
      if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None") {
        fail_at(t, fmt::format("cannot assign to '{}'", n));
      }
    }
    return target;
  }

  StmtPtr parse_for() {
    auto node = make<ForStmt>(cur());
    next();
    node->target = parse_target(false);
    expect_name("in");
    node->iterable = parse_tuple(false, /*stop_at_if=*/true);
    if (skip_name("if")) node->filter = parse_expression(true);
    if (is_name("recursive")) fail_at(cur(), "recursive for loops are not supported");
    expect_block_end();
    ++loop_depth_;
    node->body = subparse({"endfor", "else"});
    --loop_depth_;
    if (cur().value == "else") {
      next();
      expect_block_end();
      node->otherwise = subparse({"endfor"});
    }
    end_tag();
    return node;
  }

  std::vector<std::unique_ptr<FilterExpr>> parse_filter_chain(bool first_without_pipe) {
    std::vector<std::unique_ptr<FilterExpr>> chain;
    bool need_pipe = !first_without_pipe;
    while (true) {
      if (need_pipe && !skip_op("|")) break;
      need_pipe = true;
      chain.push_back(parse_filter_call(nullptr));
    }
    return chain;
  }

  StmtPtr parse_set() {
    const Token& at = cur();
    next();
    Target target = parse_target(true);
    if (skip_op("=")) {
      auto node = make<SetStmt>(at);
      node->target = std::move(target);
      node->value = parse_tuple(true);
      expect_block_end();
      return node;
    }
    if (!target.attribute.empty() || target.is_tuple) fail_at(at, "block set needs a single name");
    auto node = make<SetBlockStmt>(at);
    node->target = std::move(target);
    node->filters = parse_filter_chain(false);
    expect_block_end();
    node->body = subparse({"endset"});
    end_tag();
    return node;
  }

  std::vector<MacroParam> parse_params() {
    std::vector<MacroParam> params;
    expect_op("(");
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(")")) break;
      MacroParam p;
      p.name = expect_identifier();
      if (skip_op("=")) p.default_value = parse_expression(true);
      params.push_back(std::move(p));
    }
    expect_op(")");
    return params;
  }

  StmtPtr parse_macro() {
    auto node = make<MacroStmt>(cur());
    next();
    node->name = expect_identifier();
    node->params = parse_params();
    expect_block_end();
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;  // break/continue cannot cross a macro boundary
    node->body = subparse({"endmacro"});
    loop_depth_ = saved_loops;
    next();
    if (cur().type == TokenType::Name) next();  // {% endmacro name %}
    expect_block_end();
    return node;
  }

  StmtPtr parse_call_block() {
    auto node = make<CallBlockStmt>(cur());
    next();
    if (is_op("(")) node->params = parse_params();
    ExprPtr call = parse_expression(true);
    auto* as_call = dynamic_cast<CallExpr*>(call.get());
    if (!as_call) fail_at(cur(), "expected a call after {% call %}");
    call.release();
    node->call.reset(as_call);
    expect_block_end();
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    node->body = subparse({"endcall"});
    loop_depth_ = saved_loops;
    end_tag();
    return node;
  }

  StmtPtr parse_filter_block() {
    auto node = make<FilterBlockStmt>(cur());
    next();
    node->filters = parse_filter_chain(true);
    expect_block_end();
    node->body = subparse({"endfilter"});
    end_tag();
    return node;
  }

  StmtPtr parse_with() {
    auto node = make<WithStmt>(cur());
    next();
    while (cur().type != TokenType::BlockEnd) {
      if (!node->assignments.empty()) expect_op(",");
      Target target = parse_target(false);
      expect_op("=");
      node->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    expect_block_end();
    node->body = subparse({"endwith"});
    end_tag();
    return node;
  }

  // ---- expressions ----

  bool at_expression_end() const {
    const Token& t = cur();
    return t.type == TokenType::VariableEnd || t.type == TokenType::BlockEnd || t.type == TokenType::Eof ||
           (t.type == TokenType::Operator && (t.value == ")" || t.value == "]" || t.value == "}"));
  }

  // Comma-separated expressions; a comma makes a tuple. `stop_at_if` ends the tuple at `if` (for-loop filters).
  ExprPtr parse_tuple(bool with_condexpr, bool stop_at_if = false) {
    const Token& at = cur();
    std::vector<ExprPtr> items;
    bool saw_comma = false;
    while (true) {
      if (!items.empty()) {
        if (!skip_op(",")) break;
        saw_comma = true;
        if (at_expression_end() || (stop_at_if && is_name("if"))) break;
      }
      items.push_back(parse_expression(with_condexpr));
    }
    if (!saw_comma) return std::move(items[0]);
    auto node = make<ListExpr>(at);
    node->items = std::move(items);
    node->is_tuple = true;
    return node;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    DepthGuard guard(*this);
    const Token& at = cur();
    ExprPtr expr = parse_or();
    while (skip_name("if")) {
      auto node = make<ConditionalExpr>(at);
      deepen(*node, expr.get(), at);
      node->then = std::move(expr);
      node->cond = parse_or();
      deepen(*node, node->cond.get(), at);
      if (skip_name("else")) node->otherwise = parse_condexpr();
      expr = std::move(node);
    }
    return expr;
  }

  // Records that `node` sits above `child`, failing when expression chains get absurdly deep.
  void deepen(Expr& node, const Expr* child, const Token& at) {
    if (!child) return;
    node.depth = std::max(node.depth, child->depth + 1);
    if (node.depth > kMaxExprDepth) fail_at(at, "expression is too deeply nested");
  }
  static constexpr int kMaxExprDepth = 1000;

  ExprPtr binary(BinaryOp op, ExprPtr lhs, ExprPtr rhs, const Token& at) {
    auto node = make<BinaryExpr>(at);
    deepen(*node, lhs.get(), at);
    deepen(*node, rhs.get(), at);
    node->op = op;
    node->lhs = std::move(lhs);
    node->rhs = std::move(rhs);
    return node;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const Token& at = next();
      left = binary(BinaryOp::Or, std::move(left), parse_and(), at);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const Token& at = next();
      left = binary(BinaryOp::And, std::move(left), parse_not(), at);
    }
    return left;
  }

  ExprPtr parse_not() {
    DepthGuard guard(*this);
    if (is_name("not")) {
      auto node = make<UnaryExpr>(next());
      node->op = UnaryOp::Not;
      node->operand = parse_not();
      return node;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token& at = cur();
    ExprPtr first = parse_math1();
    std::vector<std::pair<CompareOp, ExprPtr>> rest;
    while (true) {
      std::optional<CompareOp> op;
      if (cur().type == TokenType::Operator) {
        const std::string& v = cur().value;
        if (v == "==") op = CompareOp::Eq;
        else if (v == "!=") op = CompareOp::Ne;
        else if (v == "<") op = CompareOp::Lt;
        else if (v == "<=") op = CompareOp::Le;
        else if (v == ">") op = CompareOp::Gt;
        else if (v == ">=") op = CompareOp::Ge;
        if (op) next();
      } else if (is_name("in")) {
        next();
        op = CompareOp::In;
      } else if (is_name("not") && peek().type == TokenType::Name && peek().value == "in") {
        next();
        next();
        op = CompareOp::NotIn;
      }
      if (!op) break;
      rest.emplace_back(*op, parse_math1());
    }
    if (rest.empty()) return first;
    auto node = make<CompareExpr>(at);
    deepen(*node, first.get(), at);
    for (const auto& r : rest) deepen(*node, r.second.get(), at);
    node->first = std::move(first);
    node->rest = std::move(rest);
    return node;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = next();
      left = binary(at.value == "+" ? BinaryOp::Add : BinaryOp::Sub, std::move(left), parse_concat(), at);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      const Token& at = next();
      left = binary(BinaryOp::Concat, std::move(left), parse_math2(), at);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = next();
      const BinaryOp op = at.value == "*"    ? BinaryOp::Mul
                          : at.value == "/"  ? BinaryOp::Div
                          : at.value == "//" ? BinaryOp::FloorDiv
                                             : BinaryOp::Mod;
      left = binary(op, std::move(left), parse_pow(), at);
    }
    return left;
  }

  ExprPtr parse_pow() {  // left-associative, as in jinja2
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const Token& at = next();
      left = binary(BinaryOp::Pow, std::move(left), parse_unary(true), at);
    }
    return left;
  }

  // Bounds recursion so hostile input cannot overflow the stack.
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth) p.fail_at(p.cur(), "template nesting is too deep");
    }
    ~DepthGuard() { --p.depth_; }
  };
  static constexpr int kMaxDepth = 200;

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      auto u = make<UnaryExpr>(cur());
      u->op = next().value == "-" ? UnaryOp::Neg : UnaryOp::Pos;
      u->operand = parse_unary(false);
      node = std::move(u);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr literal(Value v, const Token& at) {
    auto node = make<LiteralExpr>(at);
    node->value = std::move(v);
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    switch (t.type) {
      case TokenType::Name: {
        next();
        if (t.value == "true" || t.value == "True") return literal(Value::boolean(true), t);
        if (t.value == "false" || t.value == "False") return literal(Value::boolean(false), t);
        if (t.value == "none" || t.value == "None") return literal(Value::none(), t);
        auto node = make<NameExpr>(t);
        node->name = t.value;
        return node;
      }
      case TokenType::String: {
        std::string s = next().value;
        while (cur().type == TokenType::String) s += next().value;  // adjacent literals concatenate
        return literal(Value::string(std::move(s)), t);
      }
      case TokenType::Integer:
        next();
        try {
          return literal(Value::integer(std::stoll(t.value)), t);
        } catch (const std::exception&) {
          fail_at(t, "integer literal out of range");
        }
      case TokenType::Float:
        next();
        return literal(Value::number(std::strtod(t.value.c_str(), nullptr)), t);
      case TokenType::Operator:
        if (t.value == "(") {
          next();
          if (skip_op(")")) {
            auto node = make<ListExpr>(t);
            node->is_tuple = true;
            return node;
          }
          ExprPtr inner = parse_tuple(true);
          expect_op(")");
          return inner;
        }
        if (t.value == "[") {
          next();
          auto node = make<ListExpr>(t);
          while (!is_op("]")) {
            if (!node->items.empty()) expect_op(",");
            if (is_op("]")) break;
            node->items.push_back(parse_expression(true));
          }
          expect_op("]");
          return node;
        }
        if (t.value == "{") {
          next();
          auto node = make<DictExpr>(t);
          while (!is_op("}")) {
            if (!node->items.empty()) expect_op(",");
            if (is_op("}")) break;
            ExprPtr key = parse_expression(true);
            expect_op(":");
            node->items.emplace_back(std::move(key), parse_expression(true));
          }
          expect_op("}");
          return node;
        }
        break;
      default: break;
    }
    fail_at(t, fmt::format("unexpected {}", describe(t)));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        next();
        node = parse_filter_call(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object) {
    const Token& at = next();
    if (at.value == ".") {
      const Token& attr = cur();
      if (attr.type == TokenType::Name) {
        next();
        auto node = make<AttributeExpr>(at);
        deepen(*node, object.get(), at);
        node->object = std::move(object);
        node->name = attr.value;
        return node;
      }
      if (attr.type == TokenType::Integer) {
        next();
        auto node = make<SubscriptExpr>(at);
        deepen(*node, object.get(), at);
        node->object = std::move(object);
        node->index = literal(Value::integer(std::stoll(attr.value)), attr);
        return node;
      }
      fail_at(attr, "expected a name or number after '.'");
    }
    // '[' subscript: an index, a slice, or a tuple of indexes
    ExprPtr parts[3];
    int colons = 0;
    for (;;) {
      if (is_op(":")) {
        next();
        if (++colons > 2) fail_at(cur(), "invalid slice");
        continue;
      }
      if (is_op("]")) break;
      if (parts[colons]) fail_at(cur(), "invalid subscript");
      parts[colons] = colons == 0 ? parse_tuple(true) : parse_expression(true);
      if (colons == 0 && !is_op(":")) break;
    }
    expect_op("]");
    if (colons == 0) {
      if (!parts[0]) fail_at(at, "empty subscript");
      auto node = make<SubscriptExpr>(at);
      deepen(*node, object.get(), at);
      node->object = std::move(object);
      node->index = std::move(parts[0]);
      return node;
    }
    auto node = make<SliceExpr>(at);
    deepen(*node, object.get(), at);
    node->object = std::move(object);
    node->start = std::move(parts[0]);
    node->stop = std::move(parts[1]);
    node->step = std::move(parts[2]);
    return node;
  }

  void parse_arguments(Arguments& args) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) {
        const bool kw = next().value == "**";
        (kw ? args.star_kwargs : args.star_args) = parse_expression(true);
        continue;
      }
      if (cur().type == TokenType::Name && peek().type == TokenType::Operator && peek().value == "=") {
        std::string name = next().value;
        next();
        args.named.emplace_back(std::move(name), parse_expression(true));
        continue;
      }
      if (!args.named.empty()) fail_at(cur(), "positional argument follows keyword argument");
      args.positional.push_back(parse_expression(true));
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    const Token& at = cur();
    if (auto* attr = dynamic_cast<AttributeExpr*>(callee.get()); attr && !is_known_method(attr->name)) {
      fail_at(at, fmt::format("calling method '{}' is not supported", attr->name));
    }
    auto node = make<CallExpr>(at);
    deepen(*node, callee.get(), at);
    node->callee = std::move(callee);
    parse_arguments(node->args);
    return node;
  }

  std::string dotted_name() {
    std::string name = expect_identifier();
    while (is_op(".") && peek().type == TokenType::Name) {
      next();
      name += "." + next().value;
    }
    return name;
  }

  std::unique_ptr<FilterExpr> parse_filter_call(ExprPtr operand) {
    const Token& at = cur();
    auto node = make<FilterExpr>(at);
    deepen(*node, operand.get(), at);
    node->operand = std::move(operand);
    node->name = dotted_name();
    node->filter = find_filter(node->name);
    if (!node->filter) fail_at(at, fmt::format("no filter named '{}'", node->name));
    if (is_op("(")) parse_arguments(node->args);
    return node;
  }

  ExprPtr parse_test(ExprPtr operand) {
    const Token& is_tok = next();
    auto node = make<TestExpr>(is_tok);
    deepen(*node, operand.get(), is_tok);
    node->operand = std::move(operand);
    node->negated = skip_name("not");
    const Token& name_tok = cur();
    node->name = dotted_name();
    node->test = find_test(node->name);
    if (!node->test) fail_at(name_tok, fmt::format("no test named '{}'", node->name));
    if (is_op("(")) {
      parse_arguments(node->args);
    } else {
      const Token& t = cur();
      const bool starts_primary =
          t.type == TokenType::String || t.type == TokenType::Integer || t.type == TokenType::Float ||
          (t.type == TokenType::Name && t.value != "else" && t.value != "or" && t.value != "and") ||
          (t.type == TokenType::Operator && (t.value == "[" || t.value == "{"));
      if (starts_primary) {
        if (is_name("is")) fail_at(t, "you cannot chain multiple tests with is");
        node->args.positional.push_back(parse_postfix(parse_primary()));
      }
    }
    return node;
  }

  const std::vector<Token>& toks_;
  size_t i_ = 0;
  int loop_depth_ = 0;
  int depth_ = 0;
};

}  // namespace

Body parse_template(const std::vector<Token>& tokens) { return Parser(tokens).parse_all(); }

}  // namespace banyan::jinja
