#include "format/tokenizer/decoder.h"

#include <charconv>

#include "format/tokenizer/byte_level.h"
#include "format/tokenizer/pattern.h"
#include "format/tokenizer/unicode.h"

namespace banyan::tok {
namespace {

// Replaces invalid UTF-8 with U+FFFD, one per maximal invalid byte, like String::from_utf8_lossy.
std::string utf8_lossy(std::string_view bytes) {
  if (is_valid_utf8(bytes)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() + 8);
  size_t i = 0;
  while (i < bytes.size()) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    if (b0 < 0x80) {
      out.push_back(static_cast<char>(b0));
      ++i;
      continue;
    }
    // Length of the valid prefix of a sequence starting here (Unicode "maximal subpart" rule).
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) len = 2;
    else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    }
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k < len && i + k < bytes.size(); ++k) {
      const auto b = static_cast<unsigned char>(bytes[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) break;
    }
    if (k == len) {
      out.append(bytes.substr(i, len));
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += k;
  }
  return out;
}

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      size_t before = bytes.size();
      bool all_mapped = true;
      for (size_t i = 0; i < t.size();) {
        auto b = unicode_to_byte(next_code_point(t, i));
        if (!b) {
          all_mapped = false;
          break;
        }
        bytes.push_back(static_cast<char>(*b));
      }
      // A token with characters outside the alphabet (e.g. an added token) contributes its own bytes.
      if (!all_mapped) {
        bytes.resize(before);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first_space)
      : replacement_(std::move(replacement)), strip_first_space_(strip_first_space) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t k = 0; k < t.size();) {
        if (!replacement_.empty() && t.compare(k, replacement_.size(), replacement_) == 0) {
          // Like tokenizers, every replacement in the first token is dropped (it was the prepended space).
          if (!(i == 0 && strip_first_space_)) out.push_back(' ');
          k += replacement_.size();
        } else {
          out.push_back(t[k++]);
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_space_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(Regex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) t = pattern_.replace_all(t, content_);
  }

 private:
  Regex pattern_;
  std::string content_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string bytes;
    size_t byte_count = 0;
    auto flush = [&] {
      if (byte_count == 0) return;
      if (is_valid_utf8(bytes)) {
        out.push_back(bytes);
      } else {
        // Invalid byte runs become one U+FFFD per byte token, as tokenizers does.
        std::string repl;
        for (size_t k = 0; k < byte_count; ++k) repl += "\xEF\xBF\xBD";
        out.push_back(std::move(repl));
      }
      bytes.clear();
      byte_count = 0;
    };
    for (auto& t : tokens) {
      unsigned value = 0;
      if (t.size() == 6 && t.starts_with("<0x") && t.back() == '>') {
        auto [p, ec] = std::from_chars(t.data() + 3, t.data() + 5, value, 16);
        if (ec == std::errc() && p == t.data() + 5) {
          bytes.push_back(static_cast<char>(value));
          ++byte_count;
          continue;
        }
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens = std::move(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::vector<std::pair<size_t, char32_t>> chars;  // (byte offset, code point)
      for (size_t i = 0; i < t.size();) {
        size_t at = i;
        chars.emplace_back(at, next_code_point(t, i));
      }
      size_t begin = 0;
      while (begin < start_ && begin < chars.size() && chars[begin].second == content_) ++begin;
      size_t end = chars.size();
      for (size_t k = 0; k < stop_ && end > begin && chars[end - 1].second == content_; ++k) --end;
      size_t byte_begin = begin < chars.size() ? chars[begin].first : t.size();
      size_t byte_end = end < chars.size() ? chars[end].first : t.size();
      t = t.substr(byte_begin, byte_end > byte_begin ? byte_end - byte_begin : 0);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

// Written out rather than string::insert(0, " "), which trips a GCC 12 -Wrestrict false positive.
std::string prefixed_with_space(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 1);
  out.push_back(' ');
  out += s;
  return out;
}

class WordPieceDecoder final : public Decoder {
 public:
  explicit WordPieceDecoder(std::string prefix) : prefix_(std::move(prefix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) {
        if (tokens[i].starts_with(prefix_))
          tokens[i].erase(0, prefix_.size());
        else
          tokens[i] = prefixed_with_space(tokens[i]);
      }
    }
  }

 private:
  std::string prefix_;
};

class BpeSuffixDecoder final : public Decoder {
 public:
  explicit BpeSuffixDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string replacement = i + 1 == tokens.size() ? "" : " ";
      std::string out;
      for (size_t k = 0; k < tokens[i].size();) {
        if (!suffix_.empty() && tokens[i].compare(k, suffix_.size(), suffix_) == 0) {
          out += replacement;
          k += suffix_.size();
        } else {
          out.push_back(tokens[i][k++]);
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string suffix_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    bool strip = true;
    if (auto it = j.find("prepend_scheme"); it != j.end() && it->is_string())
      strip = it->get<std::string>() != "never";
    else
      strip = bool_field(j, "add_prefix_space", true, where);
    return std::make_unique<MetaspaceDecoder>(optional_string(j, "replacement", "\xE2\x96\x81", where), strip);
  }
  if (type == "Replace")
    return std::make_unique<ReplaceDecoder>(parse_pattern(require_field(j, "pattern", where), where + ".pattern"),
                                            string_field(j, "content", where));
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    std::string content = string_field(j, "content", where);
    size_t i = 0;
    BANYAN_CHECK(!content.empty(), "tokenizer.json: {}.content: empty", where);
    char32_t c = next_code_point(content, i);
    int64_t start = int_field(j, "start", 0, where), stop = int_field(j, "stop", 0, where);
    BANYAN_CHECK(start >= 0 && stop >= 0, "tokenizer.json: {}: start/stop must be non-negative", where);
    return std::make_unique<StripDecoder>(c, static_cast<size_t>(start), static_cast<size_t>(stop));
  }
  if (type == "WordPiece") {
    // Its `cleanup` step rewrites spaces around punctuation; not implemented, so refuse it rather than differ.
    if (bool_field(j, "cleanup", true, where))
      fail("tokenizer.json: {}: WordPiece decoder with cleanup=true is not supported", where);
    return std::make_unique<WordPieceDecoder>(optional_string(j, "prefix", "##", where));
  }
  if (type == "BPEDecoder") return std::make_unique<BpeSuffixDecoder>(optional_string(j, "suffix", "</w>", where));
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    const json& list = array_field(j, "decoders", where);
    for (size_t i = 0; i < list.size(); ++i) {
      auto part = make_decoder(list[i], fmt::format("{}.decoders[{}]", where, i));
      if (part) parts.push_back(std::move(part));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  fail("tokenizer.json: {}: unsupported decoder type '{}'", where, type);
}

}  // namespace banyan::tok
