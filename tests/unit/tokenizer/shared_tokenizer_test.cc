// The shared model's real tokenizer (Qwen2-style byte-level BPE): invariants and cases worked out from its vocab.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "format/jsonl_reader.h"
#include "format/tokenizer/tokenizer.h"
#include "format/tokenizer/unicode.h"
#include "test_paths.h"

namespace banyan {
namespace {

using Ids = std::vector<TokenId>;

TEST(SharedTokenizer, SpecialTokensFromFiles) {
  BANYAN_REQUIRE_SHARED(shared);
  auto t = Tokenizer::load(shared / "models" / "tiny-qwen3moe");
  EXPECT_EQ(t.token_to_id("<|endoftext|>"), 0);
  EXPECT_EQ(t.token_to_id("<|im_start|>"), 1);
  EXPECT_EQ(t.token_to_id("<|im_end|>"), 2);
  EXPECT_EQ(t.vocab_size(), 8192u);
  EXPECT_EQ(t.special_tokens().eos_id, 2);
  EXPECT_EQ(t.special_tokens().pad_id, 0);
  EXPECT_FALSE(t.special_tokens().bos_id.has_value());

  Ids ids = t.encode("<|im_start|>user\nhi<|im_end|>");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);
  // "user" and "\n" follow the special token as ordinary text.
  Ids inner(ids.begin() + 1, ids.end() - 1);
  EXPECT_EQ(inner, t.encode("user\nhi"));
  // No post-processor: add_special_tokens adds nothing.
  EXPECT_EQ(t.encode("hello", true), t.encode("hello", false));
  // With parsing off the special token text is plain text.
  Ids plain = t.encode("<|im_end|>", false, false);
  for (TokenId id : plain) EXPECT_GT(id, 2);
  EXPECT_EQ(t.decode(plain), "<|im_end|>");
  EXPECT_EQ(t.decode(ids, true), "user\nhi");
}

TEST(SharedTokenizer, WholeWordsInVocabAreOneToken) {
  BANYAN_REQUIRE_SHARED(shared);
  auto t = Tokenizer::load(shared / "models" / "tiny-qwen3moe");
  // Every vocab entry that is a whole pre-token spells itself: a letter word with a leading space ("Ġthe")
  // is one pre-token under the Qwen regex, so BPE must reach that single token.
  int checked = 0;
  for (const char* word : {"the", "and", "of", "to", "in", "is", "for", "that", "with", "def", "return"}) {
    auto id = t.token_to_id(std::string("\xC4\xA0") + word);
    if (!id) continue;
    EXPECT_EQ(t.encode(std::string(" ") + word), (Ids{*id})) << word;
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

std::vector<std::string> corpus_texts(const std::filesystem::path& shared, size_t count) {
  JsonlReader reader(shared / "data" / "heldout-dev.jsonl.xz");
  std::vector<std::string> out;
  std::string line;
  while (out.size() < count && reader.next(line)) out.push_back(nlohmann::json::parse(line).at("text"));
  return out;
}

TEST(SharedTokenizer, RoundTripsCorpusText) {
  BANYAN_REQUIRE_SHARED(shared);
  auto t = Tokenizer::load(shared / "models" / "tiny-qwen3moe");
  auto texts = corpus_texts(shared, 200);
  ASSERT_EQ(texts.size(), 200u);
  size_t total_ids = 0, total_bytes = 0;
  for (const auto& text : texts) {
    Ids ids = t.encode(text);
    total_ids += ids.size();
    total_bytes += text.size();
    // Byte-level BPE is lossless up to the NFC normalizer.
    EXPECT_EQ(t.decode(ids), tok::normalize_unicode(text, tok::NormalForm::NFC));
    for (TokenId id : ids) ASSERT_TRUE(id >= 0 && static_cast<size_t>(id) < t.vocab_size());
  }
  // A trained 8k vocab compresses text well below one token per byte.
  EXPECT_LT(total_ids * 2, total_bytes);
}

TEST(SharedTokenizer, StreamingDecodeEqualsDecode) {
  BANYAN_REQUIRE_SHARED(shared);
  auto t = Tokenizer::load(shared / "models" / "tiny-qwen3moe");
  auto texts = corpus_texts(shared, 60);
  texts.push_back("emoji 😀 and 👨‍👩‍👧 and 中文 <|im_end|> done");
  for (bool skip : {false, true}) {
    for (const auto& text : texts) {
      Ids ids = t.encode(text);
      StreamingDecoder stream(t, skip);
      std::string total;
      for (TokenId id : ids) {
        std::string piece = stream.push(id);
        EXPECT_TRUE(tok::is_valid_utf8(piece));
        EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << "emitted a replacement character";
        total += piece;
      }
      total += stream.finish();
      EXPECT_EQ(total, t.decode(ids, skip));
    }
  }
}

}  // namespace
}  // namespace banyan
