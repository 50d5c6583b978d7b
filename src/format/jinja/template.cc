#include "format/jinja/template.h"

#include "format/jinja/ast.h"
#include "format/jinja/builtins.h"
#include "format/jinja/interpreter.h"
#include "format/jinja/lexer.h"
#include "format/jinja/parser.h"

namespace banyan::jinja {

struct Template::Parsed {
  jinja::Body body;
  TemplateOptions options;
};

Template::Template(const std::string& source, const TemplateOptions& options) : parsed_(std::make_unique<Parsed>()) {
  LexerOptions lex;
  lex.trim_blocks = options.trim_blocks;
  lex.lstrip_blocks = options.lstrip_blocks;
  lex.keep_trailing_newline = options.keep_trailing_newline;
  parsed_->options = options;
  parsed_->body = parse_template(tokenize(source, lex));
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

TaggedString Template::render_tagged(const Variables& variables) const {
  auto globals = std::make_shared<Frame>();
  add_builtin_globals(*globals);
  for (const auto& [name, value] : variables) (*globals)[name] = value;
  Interpreter interp(std::move(globals));
  interp.steps_left = parsed_->options.max_steps;
  interp.max_output_bytes = parsed_->options.max_output_bytes;
  Interpreter::ScopeGuard top_level(interp);  // template-level `set`s never touch the caller's variables
  Output out;
  exec_body(parsed_->body, interp, out);
  return out.take();
}

std::string Template::render(const Variables& variables) const { return render_tagged(variables).text(); }

}  // namespace banyan::jinja
