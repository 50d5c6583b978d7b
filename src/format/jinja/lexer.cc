#include "format/jinja/lexer.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <cstring>
#include <optional>

#include "core/error.h"

namespace banyan::jinja {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

std::string rstrip_ws(const std::string& s) {
  size_t end = s.size();
  while (end > 0 && is_space(s[end - 1])) --end;
  return s.substr(0, end);
}

// jinja2 normalises \r\n and \r to \n and drops one trailing newline (keep_trailing_newline=False).
std::string normalize_source(const std::string& source, bool keep_trailing_newline) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  Lexer(const std::string& source, const LexerOptions& options)
      : src_(normalize_source(source, options.keep_trailing_newline)), opt_(options) {}

  std::vector<Token> run() {
    bool line_starting = true;  // previous match ended a line (jinja2's lstrip_blocks condition)
    while (pos_ < src_.size()) {
      const size_t start = find_tag_start(pos_);
      if (start == std::string::npos) {
        emit(TokenType::Data, src_.substr(pos_), pos_);
        pos_ = src_.size();
        break;
      }
      const char kind = src_[start + 1];  // '{', '%' or '#'
      char modifier = start + 2 < src_.size() ? src_[start + 2] : '\0';
      if (modifier != '-' && modifier != '+') modifier = '\0';
      std::string text = src_.substr(pos_, start - pos_);
      const size_t text_pos = pos_;
      if (modifier == '-') {
        text = rstrip_ws(text);
      } else if (modifier != '+' && opt_.lstrip_blocks && kind != '{') {
        const size_t l_pos = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
        if ((l_pos > 0 || line_starting) && l_pos < text.size()) {
          bool all_space = true;
          for (size_t i = l_pos; i < text.size(); ++i) all_space = all_space && is_space(text[i]);
          if (all_space) text.resize(l_pos);
        }
      }
      if (!text.empty()) emit(TokenType::Data, text, text_pos);
      pos_ = start + 2 + (modifier ? 1 : 0);
      if (kind == '#') {
        line_starting = lex_comment(start);
      } else if (kind == '%' && is_raw_begin()) {
        line_starting = lex_raw(start);
      } else if (kind == '%') {
        emit(TokenType::BlockBegin, "{%", start);
        line_starting = lex_tag(false);
      } else {
        emit(TokenType::VariableBegin, "{{", start);
        line_starting = lex_tag(true);
      }
    }
    emit(TokenType::Eof, "", src_.size());
    return std::move(tokens_);
  }

 private:
  size_t find_tag_start(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  [[noreturn]] void error_at(size_t offset, const std::string& msg) const {
    auto [line, col] = line_col(offset);
    fail("line {} column {}: {}", line, col, msg);
  }

  std::pair<int, int> line_col(size_t offset) const {
    // Tokens are emitted in order, so resume counting from the last position.
    if (offset < lc_offset_) {
      lc_offset_ = 0;
      lc_line_ = 1;
      lc_col_ = 1;
    }
    for (; lc_offset_ < offset && lc_offset_ < src_.size(); ++lc_offset_) {
      if (src_[lc_offset_] == '\n') {
        ++lc_line_;
        lc_col_ = 1;
      } else if ((static_cast<unsigned char>(src_[lc_offset_]) & 0xC0) != 0x80) {
        ++lc_col_;
      }
    }
    return {lc_line_, lc_col_};
  }

  void emit(TokenType type, std::string value, size_t offset) {
    auto [line, col] = line_col(offset);
    tokens_.push_back(Token{type, std::move(value), line, col});
  }

  // After "{%" + modifier: is this `raw` followed by the tag end?
  bool is_raw_begin() const {
    size_t p = pos_;
    while (p < src_.size() && is_space(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    while (p < src_.size() && is_space(src_[p])) ++p;
    return src_.compare(p, 2, "%}") == 0 || src_.compare(p, 3, "-%}") == 0;
  }

  // Consumes a block end at pos_ if there is one: `+%}`, `-%}` + whitespace, or `%}` + one newline (trim_blocks).
  // Returns whether the consumed text ended with a newline.
  std::optional<bool> match_block_end(bool allow_trim) {
    if (src_.compare(pos_, 3, "+%}") == 0) {
      pos_ += 3;
      return false;
    }
    if (src_.compare(pos_, 3, "-%}") == 0) {
      pos_ += 3;
      bool newline = false;
      while (pos_ < src_.size() && is_space(src_[pos_])) newline = src_[pos_++] == '\n';
      return newline;
    }
    if (src_.compare(pos_, 2, "%}") == 0) {
      pos_ += 2;
      if (allow_trim && opt_.trim_blocks && pos_ < src_.size() && src_[pos_] == '\n') {
        ++pos_;
        return true;
      }
      return false;
    }
    return std::nullopt;
  }

  bool lex_comment(size_t start) {
    for (size_t j = src_.find("#}", pos_); j != std::string::npos; j = src_.find("#}", j + 1)) {
      const char before = j > pos_ ? src_[j - 1] : '\0';
      pos_ = j + 2;
      if (before == '+') return false;
      if (before == '-') {
        bool newline = false;
        while (pos_ < src_.size() && is_space(src_[pos_])) newline = src_[pos_++] == '\n';
        return newline;
      }
      if (opt_.trim_blocks && pos_ < src_.size() && src_[pos_] == '\n') {
        ++pos_;
        return true;
      }
      return false;
    }
    error_at(start, "missing end of comment tag");
  }

  bool lex_raw(size_t start) {
    while (pos_ < src_.size() && is_space(src_[pos_])) ++pos_;
    pos_ += 3;  // "raw"
    while (pos_ < src_.size() && is_space(src_[pos_])) ++pos_;
    if (src_.compare(pos_, 3, "-%}") == 0) {
      pos_ += 3;
      while (pos_ < src_.size() && is_space(src_[pos_])) ++pos_;
    } else {
      pos_ += 2;  // raw's opening tag never trims the following newline (as in jinja2)
    }
    for (size_t j = src_.find("{%", pos_); j != std::string::npos; j = src_.find("{%", j + 1)) {
      size_t p = j + 2;
      char modifier = '\0';
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) modifier = src_[p++];
      while (p < src_.size() && is_space(src_[p])) ++p;
      if (src_.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      while (p < src_.size() && is_space(src_[p])) ++p;
      const size_t saved = pos_;
      pos_ = p;
      auto end = match_block_end(true);
      if (!end) {
        pos_ = saved;
        continue;
      }
      std::string text = src_.substr(saved, j - saved);
      if (modifier == '-') {
        text = rstrip_ws(text);
      } else if (modifier != '+' && opt_.lstrip_blocks) {
        const size_t nl = text.rfind('\n');
        if (nl != std::string::npos) {
          bool all_space = true;
          for (size_t i = nl + 1; i < text.size(); ++i) all_space = all_space && is_space(text[i]);
          if (all_space) text.resize(nl + 1);
        }
      }
      if (!text.empty()) emit(TokenType::Data, text, saved);
      return *end;
    }
    error_at(start, "missing end of raw directive");
  }

  // Tokens inside {{ }} or {% %}; returns whether the closing match ended with a newline.
  bool lex_tag(bool variable) {
    std::vector<char> brackets;
    const size_t tag_start = pos_;
    while (true) {
      if (pos_ >= src_.size()) error_at(tag_start, variable ? "unexpected end of template, expected '}}'"
                                                             : "unexpected end of template, expected '%}'");
      if (brackets.empty()) {
        if (variable) {
          if (src_.compare(pos_, 3, "-}}") == 0) {
            emit(TokenType::VariableEnd, "}}", pos_);
            pos_ += 3;
            bool newline = false;
            while (pos_ < src_.size() && is_space(src_[pos_])) newline = src_[pos_++] == '\n';
            return newline;
          }
          if (src_.compare(pos_, 2, "}}") == 0) {
            emit(TokenType::VariableEnd, "}}", pos_);
            pos_ += 2;
            return false;
          }
        } else {
          const size_t at = pos_;
          if (auto end = match_block_end(true)) {
            emit(TokenType::BlockEnd, "%}", at);
            return *end;
          }
        }
      }
      const char c = src_[pos_];
      if (is_space(c)) {
        ++pos_;
      } else if (is_digit(c)) {
        lex_number();
      } else if (is_name_start(c)) {
        const size_t b = pos_;
        while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
        emit(TokenType::Name, src_.substr(b, pos_ - b), b);
      } else if (c == '\'' || c == '"') {
        lex_string();
      } else {
        lex_operator(brackets);
      }
    }
  }

  void lex_number() {
    const size_t b = pos_;
    auto digits = [&] {  // (\d+_)*\d+
      size_t p = pos_;
      if (p >= src_.size() || !is_digit(src_[p])) return false;
      while (p < src_.size() && (is_digit(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1])))) {
        ++p;
      }
      pos_ = p;
      return true;
    };
    if (src_[pos_] == '0' && pos_ + 1 < src_.size() && std::strchr("bBoOxX", src_[pos_ + 1])) {
      const char base_char = static_cast<char>(std::tolower(src_[pos_ + 1]));
      const int base = base_char == 'b' ? 2 : base_char == 'o' ? 8 : 16;
      size_t p = pos_ + 2;
      std::string clean;
      while (p < src_.size() && (std::isxdigit(static_cast<unsigned char>(src_[p])) || src_[p] == '_')) {
        if (src_[p] != '_') clean += src_[p];
        ++p;
      }
      pos_ = p;
      try {
        emit(TokenType::Integer, std::to_string(std::stoll(clean, nullptr, base)), b);
      } catch (const std::exception&) {
        error_at(b, "invalid integer literal");
      }
      return;
    }
    digits();
    bool is_float = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
      ++pos_;
      digits();
      is_float = true;
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      const size_t save = pos_;
      ++pos_;
      if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) ++pos_;
      if (digits()) {
        is_float = true;
      } else {
        pos_ = save;
      }
    }
    std::string text;
    for (size_t i = b; i < pos_; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    emit(is_float ? TokenType::Float : TokenType::Integer, text, b);
  }

  void lex_string() {
    const size_t b = pos_;
    const char quote = src_[pos_++];
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) error_at(b, "unterminated string literal");
      const char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= src_.size()) error_at(b, "unterminated string literal");
      const char e = src_[pos_++];
      auto hex = [&](int n) {
        uint32_t cp = 0;
        for (int i = 0; i < n; ++i) {
          if (pos_ >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[pos_]))) {
            error_at(b, "truncated \\x/\\u escape in string literal");
          }
          const char h = src_[pos_++];
          cp = cp * 16 + static_cast<uint32_t>(is_digit(h) ? h - '0' : std::tolower(h) - 'a' + 10);
        }
        return cp;
      };
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': append_utf8(out, hex(2)); break;
        case 'u': append_utf8(out, hex(4)); break;
        case 'U': append_utf8(out, hex(8)); break;
        case 'N': error_at(b, "\\N{...} escapes are not supported");
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int i = 0; i < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++i) {
              cp = cp * 8 + static_cast<uint32_t>(src_[pos_++] - '0');
            }
            append_utf8(out, cp);
          } else {  // Python keeps unknown escapes verbatim
            out += '\\';
            out += e;
          }
      }
    }
    emit(TokenType::String, out, b);
  }

  void lex_operator(std::vector<char>& brackets) {
    static const std::array<const char*, 6> kTwo = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwo) {
      if (src_.compare(pos_, 2, op) == 0) {
        emit(TokenType::Operator, op, pos_);
        pos_ += 2;
        return;
      }
    }
    const char c = src_[pos_];
    if (!std::strchr("+-/*%~[](){}><=.:|,;", c)) error_at(pos_, fmt::format("unexpected character '{}'", c));
    if (c == '(' || c == '[' || c == '{') {
      brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) error_at(pos_, fmt::format("unexpected '{}'", c));
      if (brackets.back() != c) error_at(pos_, fmt::format("unexpected '{}', expected '{}'", c, brackets.back()));
      brackets.pop_back();
    }
    emit(TokenType::Operator, std::string(1, c), pos_);
    ++pos_;
  }

  std::string src_;
  LexerOptions opt_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
  mutable size_t lc_offset_ = 0;
  mutable int lc_line_ = 1;
  mutable int lc_col_ = 1;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source, const LexerOptions& options) {
  return Lexer(source, options).run();
}

std::string describe(const Token& token) {
  switch (token.type) {
    case TokenType::Data: return "template data";
    case TokenType::VariableBegin: return "'{{'";
    case TokenType::VariableEnd: return "'}}'";
    case TokenType::BlockBegin: return "'{%'";
    case TokenType::BlockEnd: return "'%}'";
    case TokenType::Name: return "'" + token.value + "'";
    case TokenType::String: return "string literal";
    case TokenType::Integer:
    case TokenType::Float: return "number " + token.value;
    case TokenType::Operator: return "'" + token.value + "'";
    case TokenType::Eof: return "end of template";
  }
  return "?";
}

}  // namespace banyan::jinja
