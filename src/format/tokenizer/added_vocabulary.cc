#include "format/tokenizer/added_vocabulary.h"

#include <algorithm>

#include "format/tokenizer/unicode.h"

namespace banyan::tok {

void AddedVocabulary::Trie::insert(std::string_view key, int32_t token) {
  if (key.empty()) return;
  first_byte[static_cast<unsigned char>(key[0])] = true;
  int32_t node = 0;
  for (char ch : key) {
    auto b = static_cast<unsigned char>(ch);
    auto& children = nodes[node].children;
    auto it = std::find_if(children.begin(), children.end(), [&](const auto& c) { return c.first == b; });
    if (it != children.end()) {
      node = it->second;
    } else {
      auto next = static_cast<int32_t>(nodes.size());
      nodes[node].children.emplace_back(b, next);
      nodes.emplace_back();
      node = next;
    }
  }
  // The first token with a given content wins, like a map keyed by content.
  if (nodes[node].token < 0) nodes[node].token = token;
}

int32_t AddedVocabulary::Trie::longest_at(std::string_view text, size_t pos, size_t& end) const {
  int32_t best = -1;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto b = static_cast<unsigned char>(text[i]);
    const auto& children = nodes[node].children;
    auto it = std::find_if(children.begin(), children.end(), [&](const auto& c) { return c.first == b; });
    if (it == children.end()) break;
    node = it->second;
    if (nodes[node].token >= 0) {
      best = nodes[node].token;
      end = i + 1;
    }
  }
  return best;
}

AddedVocabulary::AddedVocabulary(const json& added_tokens, const Normalizer* normalizer) {
  if (added_tokens.is_null()) return;
  if (!added_tokens.is_array()) fail("tokenizer.json: added_tokens: expected a list");
  for (size_t i = 0; i < added_tokens.size(); ++i) {
    const json& t = added_tokens[i];
    const std::string where = fmt::format("added_tokens[{}]", i);
    AddedToken tok;
    tok.content = string_field(t, "content", where);
    int64_t id = int_field(t, "id", -1, where);
    if (id < 0 || id >= (1 << 30)) fail("tokenizer.json: {}: id must be a non-negative integer below 2^30", where);
    tok.id = static_cast<TokenId>(id);
    tok.special = bool_field(t, "special", false, where);
    tok.single_word = bool_field(t, "single_word", false, where);
    tok.lstrip = bool_field(t, "lstrip", false, where);
    tok.rstrip = bool_field(t, "rstrip", false, where);
    tok.normalized = bool_field(t, "normalized", !tok.special, where);
    if (tok.content.empty()) fail("tokenizer.json: {}: empty content", where);
    size_t index = tokens_.size();
    by_content_.emplace(tok.content, index);
    by_id_[tok.id] = index;
    if (tok.normalized) {
      std::string key = tok.content;
      if (normalizer) normalizer->normalize(key);
      normalized_trie_.insert(key, static_cast<int32_t>(index));
      has_normalized_special_ = has_normalized_special_ || tok.special;
    } else {
      raw_trie_.insert(tok.content, static_cast<int32_t>(index));
    }
    tokens_.push_back(std::move(tok));
  }
}

const AddedToken* AddedVocabulary::find(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::find(TokenId id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

namespace {

bool is_word_char(char32_t c) { return c == '_' || is_alphanumeric(c) || is_nonspacing_mark(c); }

// The code point that ends just before byte `pos` (pos > 0).
char32_t code_point_before(std::string_view s, size_t pos) {
  size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return next_code_point(s, start);
}

// Whether [begin, end) overlaps one of the sorted ranges, starting the scan at ranges[first].
bool overlaps(const std::vector<ByteRange>& ranges, size_t& first, size_t begin, size_t end) {
  while (first < ranges.size() && ranges[first].end <= begin) ++first;
  return first < ranges.size() && ranges[first].begin < end;
}

// The parts of `ranges` inside [begin, end), shifted to start at `begin`.
std::vector<ByteRange> ranges_within(const std::vector<ByteRange>& ranges, size_t begin, size_t end) {
  std::vector<ByteRange> out;
  for (const ByteRange& r : ranges) {
    size_t b = std::max(r.begin, begin), e = std::min(r.end, end);
    if (b < e) out.push_back({b - begin, e - begin});
  }
  return out;
}

}  // namespace

void AddedVocabulary::split(const Segment& segment, bool normalized_pass, bool parse_special,
                            std::vector<Segment>& out) const {
  const Trie& trie = normalized_pass ? normalized_trie_ : raw_trie_;
  std::string_view text = segment.text;
  size_t emitted = 0;  // text before this offset has been output
  size_t pos = 0;
  size_t next_plain = 0;  // first range of segment.plain_special that may still overlap a match
  auto plain_piece = [&](size_t begin, size_t end) {
    out.push_back({std::string(text.substr(begin, end - begin)), -1, segment.at_start && begin == 0,
                   ranges_within(segment.plain_special, begin, end)});
  };
  if (trie.nodes[0].children.empty()) pos = text.size();
  while (pos < text.size()) {
    if (!trie.first_byte[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t end = 0;
    int32_t index = trie.longest_at(text, pos, end);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = tokens_[index];
    size_t start = pos;
    pos = end;  // matching resumes after this match whether or not it is used
    if (tok.special && (!parse_special || overlaps(segment.plain_special, next_plain, start, end))) continue;
    if (tok.single_word) {
      bool word_before = start > 0 && is_word_char(code_point_before(text, start));
      size_t k = end;
      bool word_after = end < text.size() && is_word_char(next_code_point(text, k));
      if (word_before || word_after) continue;
    }
    if (tok.lstrip) {
      size_t s = start;
      while (s > emitted && is_whitespace(code_point_before(text, s))) {
        --s;
        while (s > 0 && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
      }
      start = std::max(s, emitted);
    }
    if (tok.rstrip) {
      while (end < text.size()) {
        size_t k = end;
        if (!is_whitespace(next_code_point(text, k))) break;
        end = k;
      }
      pos = end;
    }
    if (start > emitted) plain_piece(emitted, start);
    out.push_back({std::string(text.substr(start, end - start)), tok.id, false, {}});
    emitted = end;
  }
  if (emitted < text.size() || text.empty()) plain_piece(emitted, text.size());
}

}  // namespace banyan::tok
