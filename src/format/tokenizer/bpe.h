// The BPE model of tokenizer.json: vocab + ranked merges, with unk/fuse_unk, byte_fallback (<0xXX> tokens),
// continuing_subword_prefix / end_of_word_suffix and ignore_merges, as in Hugging Face `tokenizers`.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "format/tokenizer/json_fields.h"

namespace banyan::tok {

using TokenId = int32_t;

// Transparent hashing so string_view lookups do not allocate.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using VocabMap = std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // `j` is tokenizer.json's "model" object with "type": "BPE".
  explicit BpeModel(const json& j);
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one pre-token (already byte-level mapped / normalized).
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;

  std::optional<TokenId> token_to_id(std::string_view token) const;
  const std::string* id_to_token(TokenId id) const;
  // One past the largest id in the model vocab.
  size_t id_limit() const { return id_to_token_.size(); }

 private:
  struct Merge {
    uint32_t rank;
    TokenId result;
  };
  static uint64_t pair_key(TokenId a, TokenId b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void merge_word(std::string_view word, std::vector<TokenId>& out) const;
  void apply_merges(std::vector<TokenId>& symbols) const;

  VocabMap vocab_;
  std::vector<std::string> id_to_token_;  // empty strings for ids not in the vocab
  std::vector<bool> id_present_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<TokenId> unk_id_;
  std::string continuing_subword_prefix_, end_of_word_suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  TokenId byte_tokens_[256];  // ids of <0x00>..<0xFF>, -1 where absent

  // Words seen before -> ids. Bounded; cleared when full (a cache, never a source of truth).
  static constexpr size_t kCacheCapacity = 1 << 18;
  static constexpr size_t kMaxCachedWordBytes = 256;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<TokenId>, StringHash, std::equal_to<>> cache_;
};

}  // namespace banyan::tok
