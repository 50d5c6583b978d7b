// Hand-computed expectations on tiny tokenizers: merge order, merge forms, added tokens, byte fallback.
#include <gtest/gtest.h>

#include "core/error.h"
#include "format/tokenizer/tokenizer.h"
#include "tiny_tokenizers.h"

namespace banyan {
namespace {

using Ids = std::vector<TokenId>;

Tokenizer byte_level(bool pairs = false) { return Tokenizer::from_json(test::tiny_byte_level_json(pairs).dump()); }

TEST(Bpe, LowestRankMergeWinsFirst) {
  auto t = byte_level();
  // "abc": "b c" (rank 0) beats "a b" (rank 1), and "a bc" is no merge, so a + bc; never abc.
  EXPECT_EQ(t.encode("abc"), (Ids{'a', 256}));
  // "ab": only "a b" applies.
  EXPECT_EQ(t.encode("ab"), (Ids{257}));
  // "abab" -> ab ab (both pairs have the same rank; both merge).
  EXPECT_EQ(t.encode("abab"), (Ids{257, 257}));
}

TEST(Bpe, ByteLevelPreTokenizerSplitsWordsAndMapsSpace) {
  auto t = byte_level();
  // GPT-2 regex: "ab", " ab" -> "ab", "Ġab". In "Ġab", "a b" (rank 1) beats "Ġ a" (rank 3), leaving Ġ + ab.
  EXPECT_EQ(t.encode("ab ab"), (Ids{257, ' ', 257}));
  // "Ġac": "Ġ a" applies (no "a c" merge) -> Ġa, c.
  EXPECT_EQ(t.encode(" ac"), (Ids{259, 'c'}));
  // A byte outside ASCII maps to its alphabet char: é = C3 A9 -> ids 0xC3, 0xA9.
  EXPECT_EQ(t.encode("\xC3\xA9"), (Ids{0xC3, 0xA9}));
  EXPECT_EQ(t.decode(Ids{257, 260, 0xC3, 0xA9}), "ab ab\xC3\xA9");
}

TEST(Bpe, MergeStringAndPairFormsAgree) {
  auto a = byte_level(false), b = byte_level(true);
  for (const char* text : {"abc ab cab", "aaa bbb ccc", "x ab abc"}) EXPECT_EQ(a.encode(text), b.encode(text)) << text;
}

TEST(Bpe, SpecialTokensAreMatchedBeforePreTokenization) {
  auto t = byte_level();
  EXPECT_EQ(t.encode("ab<|end|>ab"), (Ids{257, 261, 257}));
  // With parsing off, the special token's text is ordinary text.
  Ids plain = t.encode("<|end|>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 261), 0);
  EXPECT_EQ(t.decode(plain), "<|end|>");
  // Non-special added tokens still match with parse_special=false.
  EXPECT_EQ(t.encode("<tool>", false, false), (Ids{262}));
  EXPECT_TRUE(t.is_special(261));
  EXPECT_FALSE(t.is_special(262));
  EXPECT_EQ(t.decode(Ids{257, 261, 262}, true), "ab<tool>");
  EXPECT_EQ(t.decode(Ids{257, 261, 262}, false), "ab<|end|><tool>");
  EXPECT_EQ(t.token_to_id("<|end|>"), 261);
  EXPECT_EQ(t.id_to_token(261), "<|end|>");
  EXPECT_EQ(t.id_to_token(5000), std::nullopt);
  EXPECT_EQ(t.vocab_size(), 263u);
}

TEST(Bpe, AddedTokenFlags) {
  auto j = test::tiny_byte_level_json();
  j["added_tokens"][0]["lstrip"] = true;
  j["added_tokens"][0]["rstrip"] = true;
  j["added_tokens"][1]["single_word"] = true;
  auto t = Tokenizer::from_json(j.dump());
  // lstrip/rstrip: the spaces around the token belong to it.
  EXPECT_EQ(t.encode("ab  <|end|>  ab"), (Ids{257, 261, 257}));
  // single_word: "<tool>" glued to a word character is not the added token.
  EXPECT_EQ(t.encode("ab <tool> ab"), (Ids{257, ' ', 262, ' ', 257}));  // "ab", "Ġ", <tool>, "Ġ", "ab"
  Ids glued = t.encode("x<tool>");
  EXPECT_EQ(std::count(glued.begin(), glued.end(), 262), 0);
}

TEST(Bpe, LeftmostLongestAddedToken) {
  auto j = test::tiny_byte_level_json();
  j["added_tokens"].push_back({{"id", 263}, {"content", "<|end|>x"}, {"normalized", false}, {"special", true}});
  auto t = Tokenizer::from_json(j.dump());
  EXPECT_EQ(t.encode("<|end|>x<|end|>"), (Ids{263, 261}));
}

TEST(Bpe, SentencePieceStyleWithByteFallback) {
  auto t = Tokenizer::from_json(test::tiny_sentencepiece_json().dump());
  // Normalized to "▁hi▁ih": ▁hi, ▁ then i h... "▁ih" has no merge for "▁ i", so ▁, i, h.
  EXPECT_EQ(t.encode("hi ih"), (Ids{263, 259, 261, 260}));
  // "x" is not in the vocab: byte fallback <0x78> = 3 + 0x78.
  EXPECT_EQ(t.encode("x"), (Ids{259, 3 + 0x78}));
  // add_special_tokens applies the template: <s> first.
  EXPECT_EQ(t.encode("hi", true), (Ids{1, 263}));
  // Decode: Replace ▁ -> space, bytes fused back into UTF-8, one leading space stripped.
  EXPECT_EQ(t.decode(Ids{263, 259, 3 + 0xC3, 3 + 0xA9}), "hi \xC3\xA9");
  EXPECT_EQ(t.decode(t.encode("hi \xC3\xA9 x")), "hi \xC3\xA9 x");
  // An invalid byte sequence decodes to one U+FFFD per byte token.
  EXPECT_EQ(t.decode(Ids{263, 3 + 0xC3, 3 + 0xC3}), "hi\xEF\xBF\xBD\xEF\xBF\xBD");
  // Specials are skipped when asked.
  EXPECT_EQ(t.decode(Ids{1, 263, 2}, true), "hi");
}

TEST(Bpe, UnknownWithoutFallbackUsesFusedUnk) {
  auto j = test::tiny_sentencepiece_json();
  j["model"]["byte_fallback"] = false;
  auto t = Tokenizer::from_json(j.dump());
  // "xy" -> ▁, then x and y are unknown and fused into one <unk>.
  EXPECT_EQ(t.encode("xy"), (Ids{259, 0}));
  j["model"]["fuse_unk"] = false;
  EXPECT_EQ(Tokenizer::from_json(j.dump()).encode("xy"), (Ids{259, 0, 0}));
}

TEST(Bpe, IgnoreMergesTakesWholeVocabWords) {
  auto j = test::tiny_byte_level_json();
  j["model"]["ignore_merges"] = true;
  auto t = Tokenizer::from_json(j.dump());
  EXPECT_EQ(t.encode("abc"), (Ids{258}));  // in the vocab whole, although merging would give a + bc
}

TEST(Bpe, InvalidUtf8InputIsAnError) {
  auto t = byte_level();
  EXPECT_THROW(t.encode("a\xFF"), Error);
}

}  // namespace
}  // namespace banyan
