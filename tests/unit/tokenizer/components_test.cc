// Normalizers, pre-tokenizers and decoders on inputs whose results follow from their definitions
// (split behaviours use the example of the `tokenizers` documentation).
#include <gtest/gtest.h>

#include "core/error.h"
#include "format/tokenizer/decoder.h"
#include "format/tokenizer/normalizer.h"
#include "format/tokenizer/pre_tokenizer.h"
#include "format/tokenizer/tokenizer.h"
#include "tiny_tokenizers.h"

namespace banyan::tok {
namespace {

std::vector<std::string> texts(const std::vector<Piece>& pieces) {
  std::vector<std::string> out;
  for (const auto& p : pieces) out.push_back(p.text);
  return out;
}

std::vector<std::string> pre_tokenize(const json& j, const std::string& text, bool at_start = true) {
  auto pre = make_pre_tokenizer(j, "test");
  std::vector<Piece> pieces{{text, at_start}};
  pre->pre_tokenize(pieces);
  return texts(pieces);
}

using Strings = std::vector<std::string>;

TEST(SplitBehavior, DocumentedExample) {
  // "the-final--countdown" split on "-", from the tokenizers SplitDelimiterBehavior documentation.
  auto split = [](const char* behavior) {
    return pre_tokenize({{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", false}},
                        "the-final--countdown");
  };
  EXPECT_EQ(split("Removed"), (Strings{"the", "final", "countdown"}));
  EXPECT_EQ(split("Isolated"), (Strings{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithPrevious"), (Strings{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithNext"), (Strings{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split("Contiguous"), (Strings{"the", "-", "final", "--", "countdown"}));
}

TEST(SplitBehavior, InvertKeepsTheMatches) {
  json j = {{"type", "Split"}, {"pattern", {{"Regex", "\\p{L}+"}}}, {"behavior", "Removed"}, {"invert", true}};
  EXPECT_EQ(pre_tokenize(j, "héllo, wörld!"), (Strings{"héllo", "wörld"}));
}

TEST(PreTokenizers, QwenRegexSplit) {
  json j = {{"type", "Split"},
            {"pattern", {{"Regex", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
            {"behavior", "Isolated"},
            {"invert", false}};
  EXPECT_EQ(pre_tokenize(j, "Hello  world's 123!\n\nx"),
            (Strings{"Hello", " ", " world", "'s", " ", "1", "2", "3", "!\n\n", "x"}));
  EXPECT_EQ(pre_tokenize(j, "你好 世界"), (Strings{"你好", " 世界"}));
}

TEST(PreTokenizers, ByteLevelPrefixSpaceAndAlphabet) {
  json j = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  EXPECT_EQ(pre_tokenize(j, "hi there"), (Strings{"\xC4\xA0hi", "\xC4\xA0there"}));
  json no_regex = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  EXPECT_EQ(pre_tokenize(no_regex, "a b\n"), (Strings{"a\xC4\xA0" "b\xC4\x8A"}));
}

TEST(PreTokenizers, MetaspacePrependSchemes) {
  auto meta = [](const char* scheme, bool split) {
    return json{{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", scheme}, {"split", split}};
  };
  const std::string sp = "\xE2\x96\x81";
  EXPECT_EQ(pre_tokenize(meta("always", true), "hi there"), (Strings{sp + "hi", sp + "there"}));
  EXPECT_EQ(pre_tokenize(meta("always", false), "hi there"), (Strings{sp + "hi" + sp + "there"}));
  EXPECT_EQ(pre_tokenize(meta("never", true), "hi there"), (Strings{"hi", sp + "there"}));
  // "first" prepends only to the piece that starts the input.
  EXPECT_EQ(pre_tokenize(meta("first", false), "hi", true), (Strings{sp + "hi"}));
  EXPECT_EQ(pre_tokenize(meta("first", false), "hi", false), (Strings{"hi"}));
}

TEST(PreTokenizers, DigitsPunctuationWhitespace) {
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", true}}, "a123b"), (Strings{"a", "1", "2", "3", "b"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", false}}, "a123b4"), (Strings{"a", "123", "b", "4"}));
  EXPECT_EQ(pre_tokenize({{"type", "Punctuation"}}, "hi, there!?"), (Strings{"hi", ",", " there", "!", "?"}));
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "Hey man!! How's it\tgoing?"),
            (Strings{"Hey", "man", "!!", "How", "'", "s", "it", "going", "?"}));
  EXPECT_EQ(pre_tokenize({{"type", "WhitespaceSplit"}}, " a  b\tc\n"), (Strings{"a", "b", "c"}));
  json seq = {{"type", "Sequence"},
              {"pretokenizers", {{{"type", "Whitespace"}}, {{"type", "Digits"}, {"individual_digits", true}}}}};
  EXPECT_EQ(pre_tokenize(seq, "x 42"), (Strings{"x", "4", "2"}));
}

std::string normalize(const json& j, std::string text) {
  make_normalizer(j, "test")->normalize(text);
  return text;
}

TEST(Normalizers, UnicodeForms) {
  EXPECT_EQ(normalize({{"type", "NFC"}}, "e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(normalize({{"type", "NFD"}}, "\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(normalize({{"type", "NFKC"}}, "\xEF\xAC\x81"), "fi");              // ﬁ ligature
  EXPECT_EQ(normalize({{"type", "NFKC"}}, "\xEF\xBC\xA6\xEF\xBC\x91"), "F1");  // full-width
  EXPECT_EQ(normalize({{"type", "NFKD"}}, "\xC3\xA9"), "e\xCC\x81");
}

TEST(Normalizers, LowercaseStripPrependReplaceSequence) {
  EXPECT_EQ(normalize({{"type", "Lowercase"}}, "HeLLo \xC3\x89\xCE\xA3"), "hello \xC3\xA9\xCF\x83");
  EXPECT_EQ(normalize({{"type", "Lowercase"}}, "\xC4\xB0"), "i\xCC\x87");  // İ has a two-code-point lowercase
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, " \t x y \n"), "x y");
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", false}, {"strip_right", true}}, "  x  "), "  x");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "_"}}, "x"), "_x");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "_"}}, ""), "");
  EXPECT_EQ(normalize({{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}}, "a \t\n b"), "a b");
  json seq = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFKC"}}, {{"type", "Lowercase"}}}}};
  EXPECT_EQ(normalize(seq, "\xEF\xBC\xA1"), "a");
  EXPECT_EQ(normalize({{"type", "StripAccents"}}, "e\xCC\x81"), "e");
}

std::string decode(const json& j, std::vector<std::string> tokens) {
  make_decoder(j, "test")->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

TEST(Decoders, Components) {
  EXPECT_EQ(decode({{"type", "ByteLevel"}}, {"\xC4\xA0hi", "\xC3\x83", "\xC2\xA9"}), " hi\xC3\xA9");
  // A truncated character decodes to U+FFFD.
  EXPECT_EQ(decode({{"type", "ByteLevel"}}, {"\xC3\x83"}), "\xEF\xBF\xBD");
  EXPECT_EQ(decode({{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}},
                   {"\xE2\x96\x81hi", "\xE2\x96\x81there"}),
            "hi there");
  EXPECT_EQ(decode({{"type", "ByteFallback"}}, {"a", "<0xE2>", "<0x82>", "<0xAC>", "b"}), "a\xE2\x82\xAC" "b");
  EXPECT_EQ(decode({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 1}}, {"  x  "}), " x ");
  EXPECT_EQ(decode({{"type", "Fuse"}}, {"a", "b"}), "ab");
}

TEST(Loading, UnsupportedComponentsAreNamed) {
  auto expect_error = [](json j, const std::string& needle) {
    try {
      Tokenizer::from_json(j.dump());
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto base = test::tiny_byte_level_json();
  auto j = base;
  j["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", ""}};
  expect_error(j, "unsupported normalizer type 'Precompiled'");
  j = base;
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "UnicodeScripts"}}}}};
  expect_error(j, "pre_tokenizer.pretokenizers[0]: unsupported pre-tokenizer type 'UnicodeScripts'");
  j = base;
  j["decoder"] = {{"type", "CTC"}};
  expect_error(j, "unsupported decoder type 'CTC'");
  j = base;
  j["model"]["type"] = "Unigram";
  expect_error(j, "unsupported model type 'Unigram'");
  j = base;
  j["model"]["merges"].push_back("a zz");
  expect_error(j, "token 'zz' is not in the vocab");
  j = base;
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_error(j, "invalid regex /(unclosed/");
  expect_error(json::array(), "not a JSON object");
}

}  // namespace
}  // namespace banyan::tok
