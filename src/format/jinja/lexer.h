// Splits template source into tokens the way jinja2's lexer does, including whitespace control (`-`/`+`
// modifiers, trim_blocks, lstrip_blocks), raw blocks, comments, newline normalisation and the dropped trailing newline.
#pragma once
#include <string>
#include <vector>

namespace banyan::jinja {

enum class TokenType {
  Data,           // literal template text (whitespace control already applied)
  VariableBegin,  // {{
  VariableEnd,    // }}
  BlockBegin,     // {%
  BlockEnd,       // %}
  Name,
  String,         // value holds the decoded string
  Integer,
  Float,
  Operator,
  Eof,
};

struct Token {
  TokenType type;
  std::string value;
  int line = 1;
  int column = 1;
};

struct LexerOptions {
  bool trim_blocks = true;     // transformers sets both
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// Throws banyan::Error "line L column C: ..." on malformed input.
std::vector<Token> tokenize(const std::string& source, const LexerOptions& options);

std::string describe(const Token& token);

}  // namespace banyan::jinja
