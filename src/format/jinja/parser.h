// Recursive-descent parser for jinja2's template grammar (the subset chat templates use). Every unsupported
// construct (extends, include, import, block, recursive loops, unknown filters/tests/methods) is a load-time
// error carrying line and column.
#pragma once
#include <vector>

#include "format/jinja/ast.h"
#include "format/jinja/lexer.h"

namespace banyan::jinja {

Body parse_template(const std::vector<Token>& tokens);

}  // namespace banyan::jinja
