#include "format/jinja/tagged_string.h"

#include <algorithm>

namespace banyan::jinja {

TaggedString::TaggedString(std::string text, bool from_content) : text_(std::move(text)) {
  if (from_content) add_span(0, text_.size());
}

void TaggedString::add_span(size_t begin, size_t end) {
  if (begin >= end) return;
  if (!spans_.empty() && spans_.back().end >= begin) {
    spans_.back().end = std::max(spans_.back().end, end);
    return;
  }
  spans_.push_back({begin, end});
}

void TaggedString::append(const TaggedString& other) {
  const size_t offset = text_.size();
  text_ += other.text_;
  for (const ByteSpan& s : other.spans_) add_span(s.begin + offset, s.end + offset);
}

void TaggedString::append(std::string_view plain) { text_ += plain; }

TaggedString TaggedString::substr(size_t begin, size_t len) const {
  begin = std::min(begin, text_.size());
  const size_t end = std::min(text_.size(), begin + std::min(len, text_.size() - begin));
  TaggedString out(text_.substr(begin, end - begin));
  for (const ByteSpan& s : spans_) {
    const size_t b = std::max(s.begin, begin);
    const size_t e = std::min(s.end, end);
    if (b < e) out.add_span(b - begin, e - begin);
  }
  return out;
}

TaggedString TaggedString::derived(std::string text) const { return TaggedString(std::move(text), has_content()); }

}  // namespace banyan::jinja
