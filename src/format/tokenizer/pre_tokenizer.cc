#include "format/tokenizer/pre_tokenizer.h"

#include "format/tokenizer/byte_level.h"
#include "format/tokenizer/pattern.h"
#include "format/tokenizer/unicode.h"

namespace banyan::tok {

void split_piece(const Piece& piece, const std::vector<std::pair<size_t, size_t>>& matches, SplitBehavior behavior,
                 bool invert, std::vector<Piece>& out) {
  // Segments covering the whole text, each flagged as delimiter or not (the `find_matches` of tokenizers).
  struct Segment {
    size_t begin, end;
    bool delimiter;
  };
  std::vector<Segment> segments;
  segments.reserve(matches.size() * 2 + 1);
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (b > prev) segments.push_back({prev, b, invert});
    segments.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < piece.text.size() || segments.empty()) segments.push_back({prev, piece.text.size(), invert});

  // Merge according to the behavior; `keep` is false for removed delimiters.
  struct Range {
    size_t begin, end;
    bool keep;
  };
  std::vector<Range> ranges;
  ranges.reserve(segments.size());
  switch (behavior) {
    case SplitBehavior::Removed:
      for (const auto& s : segments) ranges.push_back({s.begin, s.end, !s.delimiter});
      break;
    case SplitBehavior::Isolated:
      for (const auto& s : segments) ranges.push_back({s.begin, s.end, true});
      break;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (const auto& s : segments) {
        if (s.delimiter == previous && !ranges.empty())
          ranges.back().end = s.end;
        else
          ranges.push_back({s.begin, s.end, true});
        previous = s.delimiter;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (const auto& s : segments) {
        if (s.delimiter && !previous && !ranges.empty())
          ranges.back().end = s.end;
        else
          ranges.push_back({s.begin, s.end, true});
        previous = s.delimiter;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (size_t k = segments.size(); k-- > 0;) {
        const auto& s = segments[k];
        if (s.delimiter && !previous && !ranges.empty())
          ranges.back().begin = s.begin;
        else
          ranges.push_back({s.begin, s.end, true});
        previous = s.delimiter;
      }
      std::reverse(ranges.begin(), ranges.end());
      break;
    }
  }
  for (const auto& r : ranges) {
    if (!r.keep || r.end == r.begin) continue;
    out.push_back({piece.text.substr(r.begin, r.end - r.begin), piece.at_start && r.begin == 0});
  }
}

namespace {

SplitBehavior parse_behavior(const json& j, const char* key, SplitBehavior fallback, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  std::string name = it->is_string() ? it->get<std::string>() : "";
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  fail("tokenizer.json: {}.{}: unknown split behavior '{}'", where, key, it->dump());
}

// Applies a per-piece splitter to every piece.
template <class Fn>
void for_each_piece(std::vector<Piece>& pieces, Fn&& split_one) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  for (const auto& p : pieces) split_one(p, out);
  pieces = std::move(out);
}

// Each character satisfying `pred` is its own match (the char-predicate patterns of tokenizers).
template <class Pred>
void char_matches(std::string_view text, Pred&& pred, std::vector<std::pair<size_t, size_t>>& out) {
  out.clear();
  for (size_t i = 0; i < text.size();) {
    size_t start = i;
    if (pred(next_code_point(text, i))) out.emplace_back(start, i);
  }
}

class SplitPre final : public PreTokenizer {
 public:
  SplitPre(Regex pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>& out) {
      pattern_.find_all(p.text, matches);
      split_piece(p, matches, behavior_, invert_, out);
    });
  }

 private:
  Regex pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// GPT-2's pattern, used by ByteLevel when use_regex is set.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPre final : public PreTokenizer {
 public:
  ByteLevelPre(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {
    if (use_regex_) regex_ = std::make_unique<Regex>(kGpt2Pattern, false);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>& out) {
      Piece prefixed{"", p.at_start};
      // Built by appending rather than string::insert(0, " "), which trips a GCC 12 -Wrestrict false positive.
      if (add_prefix_space_ && (p.text.empty() || p.text[0] != ' ')) prefixed.text.push_back(' ');
      prefixed.text += p.text;
      size_t first = out.size();
      if (use_regex_) {
        regex_->find_all(prefixed.text, matches);
        split_piece(prefixed, matches, SplitBehavior::Isolated, false, out);
      } else if (!prefixed.text.empty()) {
        out.push_back(std::move(prefixed));
      }
      for (size_t k = first; k < out.size(); ++k) {
        std::string mapped;
        mapped.reserve(out[k].text.size() * 2);
        append_byte_level(mapped, out[k].text);
        out[k].text = std::move(mapped);
      }
    });
  }

 private:
  bool add_prefix_space_, use_regex_;
  std::unique_ptr<Regex> regex_;
};

class MetaspacePre final : public PreTokenizer {
 public:
  enum class Prepend { Always, First, Never };
  MetaspacePre(std::string replacement, Prepend scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {
    size_t i = 0;
    replacement_cp_ = replacement_.empty() ? 0 : next_code_point(replacement_, i);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>& out) {
      Piece q{"", p.at_start};
      q.text.reserve(p.text.size() + 8);
      for (char ch : p.text) {
        if (ch == ' ')
          q.text += replacement_;
        else
          q.text.push_back(ch);
      }
      bool starts = q.text.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == Prepend::Always || (scheme_ == Prepend::First && q.at_start)))
        q.text.insert(0, replacement_);
      if (split_) {
        char_matches(q.text, [&](char32_t c) { return c == replacement_cp_; }, matches);
        split_piece(q, matches, SplitBehavior::MergedWithNext, false, out);
      } else if (!q.text.empty()) {
        out.push_back(std::move(q));
      }
    });
  }

 private:
  std::string replacement_;
  char32_t replacement_cp_;
  Prepend scheme_;
  bool split_;
};

// Splits on characters matching a predicate (Digits, Punctuation, WhitespaceSplit, CharDelimiterSplit).
template <class Pred>
class CharSplitPre final : public PreTokenizer {
 public:
  CharSplitPre(Pred pred, SplitBehavior behavior) : pred_(std::move(pred)), behavior_(behavior) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>& out) {
      char_matches(p.text, pred_, matches);
      split_piece(p, matches, behavior_, false, out);
    });
  }

 private:
  Pred pred_;
  SplitBehavior behavior_;
};

template <class Pred>
std::unique_ptr<PreTokenizer> char_split(Pred pred, SplitBehavior behavior) {
  return std::make_unique<CharSplitPre<Pred>>(std::move(pred), behavior);
}

// Rust regex's \w and \s (Whitespace uses the `regex` crate), spelled for PCRE2.
constexpr const char* kWhitespacePattern =
    R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\p{White_Space}]+)";

class SequencePre final : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

MetaspacePre::Prepend parse_prepend_scheme(const json& j, const std::string& where) {
  auto it = j.find("prepend_scheme");
  if (it == j.end() || it->is_null()) {
    // Older files spell it as add_prefix_space.
    return bool_field(j, "add_prefix_space", true, where) ? MetaspacePre::Prepend::Always
                                                            : MetaspacePre::Prepend::Never;
  }
  std::string s = it->is_string() ? it->get<std::string>() : "";
  if (s == "always") return MetaspacePre::Prepend::Always;
  if (s == "first") return MetaspacePre::Prepend::First;
  if (s == "never") return MetaspacePre::Prepend::Never;
  fail("tokenizer.json: {}.prepend_scheme: unknown value {}", where, it->dump());
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "Split")
    return std::make_unique<SplitPre>(parse_pattern(require_field(j, "pattern", where), where + ".pattern"),
                                      parse_behavior(j, "behavior", SplitBehavior::Isolated, where),
                                      bool_field(j, "invert", false, where));
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPre>(bool_field(j, "add_prefix_space", true, where),
                                          bool_field(j, "use_regex", true, where));
  if (type == "Metaspace") {
    return std::make_unique<MetaspacePre>(optional_string(j, "replacement", "\xE2\x96\x81", where),
                                          parse_prepend_scheme(j, where), bool_field(j, "split", true, where));
  }
  if (type == "Digits") {
    bool individual = bool_field(j, "individual_digits", false, where);
    return char_split([](char32_t c) { return is_numeric(c); },
                      individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
  }
  if (type == "Punctuation")
    return char_split([](char32_t c) { return is_punctuation(c); },
                      parse_behavior(j, "behavior", SplitBehavior::Isolated, where));
  if (type == "WhitespaceSplit") return char_split([](char32_t c) { return is_whitespace(c); }, SplitBehavior::Removed);
  if (type == "CharDelimiterSplit") {
    std::string delim = string_field(j, "delimiter", where);
    size_t i = 0;
    BANYAN_CHECK(!delim.empty(), "tokenizer.json: {}.delimiter: empty", where);
    char32_t d = next_code_point(delim, i);
    return char_split([d](char32_t c) { return c == d; }, SplitBehavior::Removed);
  }
  if (type == "Whitespace")
    return std::make_unique<SplitPre>(Regex(kWhitespacePattern, false), SplitBehavior::Removed, true);
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    parts.push_back(char_split([](char32_t c) { return is_whitespace(c); }, SplitBehavior::Removed));
    parts.push_back(char_split([](char32_t c) { return is_punctuation(c); }, SplitBehavior::Isolated));
    return std::make_unique<SequencePre>(std::move(parts));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    const json& list = array_field(j, "pretokenizers", where);
    for (size_t i = 0; i < list.size(); ++i) {
      auto part = make_pre_tokenizer(list[i], fmt::format("{}.pretokenizers[{}]", where, i));
      if (part) parts.push_back(std::move(part));
    }
    return std::make_unique<SequencePre>(std::move(parts));
  }
  fail("tokenizer.json: {}: unsupported pre-tokenizer type '{}'", where, type);
}

}  // namespace banyan::tok
