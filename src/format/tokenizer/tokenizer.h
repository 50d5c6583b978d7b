// banyan's reader of Hugging Face tokenizer.json (+ tokenizer_config.json): encode/decode with the ids of the
// Python `tokenizers` library. Supported: BPE models (byte-level and SentencePiece-style with byte fallback),
// added/special tokens, the normalizers, pre-tokenizers, decoders and post-processors listed in their headers.
// Anything else is an error at load time that names the component.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace banyan {

using TokenId = int32_t;

// Special tokens named by tokenizer_config.json (empty / nullopt when it names none or is absent).
struct SpecialTokenInfo {
  std::string bos_token, eos_token, pad_token, unk_token;
  std::optional<TokenId> bos_id, eos_id, pad_id, unk_id;
  // As configured; encode() follows tokenizer.json's post-processor, which is what `tokenizers` does.
  bool add_bos_token = false, add_eos_token = false;
};

class Tokenizer {
 public:
  // Reads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json.
  static Tokenizer load(const std::filesystem::path& dir);
  // From file contents; `config_json` may be empty. `origin` names the source in error messages.
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view config_json = {},
                             std::string_view origin = "tokenizer.json");

  // Text -> ids. add_special_tokens applies the post-processor (e.g. a BOS). parse_special=false keeps the
  // text of special tokens as plain text (for untrusted message content). Throws on invalid UTF-8.
  std::vector<TokenId> encode(std::string_view text, bool add_special_tokens = false, bool parse_special = true) const;
  // A whole chat prompt whose byte ranges `plain_spans` (sorted, disjoint, within text) came from untrusted message
  // content: tokenized exactly like encode(text) — one normalization, pre-tokenization and BPE pass over the whole
  // string — except that a special token whose text overlaps one of the spans is not matched, so it stays plain
  // text (like `tokenizers`' encode_special_tokens, which also leaves non-special added tokens matched). When the
  // content spells no special token the ids equal encode(text), i.e. transformers' apply_chat_template(tokenize=True).
  std::vector<TokenId> encode_spans(std::string_view text, std::span<const std::pair<size_t, size_t>> plain_spans,
                                    bool add_special_tokens = false) const;
  // Ids -> text. Ids outside the vocabulary are skipped, as `tokenizers` does.
  std::string decode(std::span<const TokenId> ids, bool skip_special_tokens = false) const;

  std::optional<TokenId> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(TokenId id) const;
  // One past the largest id of the model vocab and the added tokens.
  size_t vocab_size() const;
  bool is_special(TokenId id) const;
  const SpecialTokenInfo& special_tokens() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // immutable after load, so copies are cheap and thread-safe to share
};

// Decodes ids one at a time, returning only complete UTF-8 text (never half a character). The concatenation
// of every push() and the final finish() equals tokenizer.decode(all ids).
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  // Text that became final with this id (often empty while a multi-byte character is incomplete).
  std::string push(TokenId id);
  // Whatever is still held back (e.g. a truncated character, decoded as U+FFFD like decode()).
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::vector<TokenId> ids_;
  size_t prefix_start_ = 0;  // ids before this are fully emitted and no longer needed
  size_t read_start_ = 0;    // ids_[prefix_start_, read_start_) were emitted; they give the next ids context
  std::string prefix_text_;  // decode(ids_[prefix_start_, read_start_))
};

}  // namespace banyan
