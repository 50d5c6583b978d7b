// A compiled PCRE2 pattern (UTF + UCP, JIT when available) for the Unicode-property regexes of tokenizer.json.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace banyan::tok {

class Regex {
 public:
  // literal=true matches `pattern` as plain text. Throws banyan::Error naming the pattern and error offset.
  Regex(std::string_view pattern, bool literal);
  // `text` must be valid UTF-8 (the tokenizer validates its input once; PCRE2 would otherwise re-check the
  // whole subject on every call). Non-overlapping matches, left to right, as [begin, end) byte ranges. Empty matches are skipped.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
  // Replaces every match with `replacement` (inserted literally).
  std::string replace_all(std::string_view text, std::string_view replacement) const;
  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::string pattern_;
  std::shared_ptr<Code> code_;
};

}  // namespace banyan::tok
