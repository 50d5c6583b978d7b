// A string plus the byte ranges of it that came from chat-message content.
//
// Why: the server must tokenize text that a user wrote as plain text, even when it spells a special token such as
// "<|im_end|>". Chat templates build the prompt by concatenating, slicing and stripping content strings, so the
// interpreter carries these ranges through every string operation: positional operations (concatenation, slices,
// strip, split) keep exact ranges; other transforms (upper, replace, tojson...) mark the whole result as content when
// any input was content, which errs towards treating text as plain (never towards letting content become special).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace banyan::jinja {

struct ByteSpan {
  size_t begin = 0;
  size_t end = 0;  // exclusive
};

class TaggedString {
 public:
  TaggedString() = default;
  explicit TaggedString(std::string text, bool from_content = false);

  const std::string& text() const { return text_; }
  const std::vector<ByteSpan>& content_spans() const { return spans_; }
  bool has_content() const { return !spans_.empty(); }

  void append(const TaggedString& other);
  void append(std::string_view plain);
  // Bytes [begin, begin+len) with the content ranges that fall inside them.
  TaggedString substr(size_t begin, size_t len) const;
  // A string computed from this one by a non-positional transform.
  TaggedString derived(std::string text) const;

 private:
  void add_span(size_t begin, size_t end);

  std::string text_;
  std::vector<ByteSpan> spans_;  // sorted, disjoint, non-empty, adjacent ones merged
};

}  // namespace banyan::jinja
