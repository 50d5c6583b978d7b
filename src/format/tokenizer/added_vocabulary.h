// tokenizer.json's added_tokens: matched in the input before pre-tokenization and never split, with the
// lstrip/rstrip/single_word/normalized flags of Hugging Face `tokenizers` (leftmost-longest matching).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "format/tokenizer/bpe.h"
#include "format/tokenizer/normalizer.h"

namespace banyan::tok {

struct AddedToken {
  std::string content;
  TokenId id = -1;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

// Bytes [begin, end) of a string.
struct ByteRange {
  size_t begin = 0, end = 0;
};

// A stretch of input: either plain text (id < 0) still to be tokenized, or one matched added token.
struct Segment {
  std::string text;
  TokenId id = -1;
  bool at_start = false;  // begins at offset 0 of the original input
  // Ranges of `text` (sorted, disjoint) where special tokens are plain text: a special token whose match
  // overlaps one is not matched. Untrusted chat-message content, located in the whole prompt.
  std::vector<ByteRange> plain_special;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `normalizer` (may be null) normalizes the content of tokens flagged normalized, for matching.
  AddedVocabulary(const json& added_tokens, const Normalizer* normalizer);

  // Splits `text` around the tokens of one matching pass: normalized=false tokens on the raw input,
  // normalized=true tokens on normalized text. With parse_special=false, special tokens stay plain text
  // everywhere; otherwise only inside text.plain_special, whose ranges are carried (shifted) into the output's
  // plain pieces. Non-special added tokens match everywhere, as with `tokenizers`' encode_special_tokens.
  void split(const Segment& text, bool normalized_pass, bool parse_special, std::vector<Segment>& out) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find(std::string_view content) const;
  const AddedToken* find(TokenId id) const;
  bool empty() const { return tokens_.empty(); }
  // Whether some special token is matched on normalized text (then plain_special ranges must be mapped
  // through the normalizer).
  bool has_normalized_special() const { return has_normalized_special_; }

 private:
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;
      int32_t token = -1;  // index into tokens_
    };
    std::vector<Node> nodes{1};
    bool first_byte[256] = {};
    void insert(std::string_view key, int32_t token);
    // Longest token starting at text[pos]; -1 if none. Sets `end` past it.
    int32_t longest_at(std::string_view text, size_t pos, size_t& end) const;
  };

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, size_t> by_content_;
  std::unordered_map<TokenId, size_t> by_id_;
  Trie raw_trie_, normalized_trie_;
  bool has_normalized_special_ = false;
};

}  // namespace banyan::tok
