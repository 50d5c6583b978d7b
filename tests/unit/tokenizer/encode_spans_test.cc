// Tokenizer::encode_spans: the whole prompt tokenized as one string (ids as encode(text)) while special tokens whose
// text overlaps a content span stay plain text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "format/jinja/chat_template.h"
#include "format/tokenizer/tokenizer.h"
#include "test_paths.h"
#include "tiny_tokenizers.h"

namespace banyan {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;
using Spans = std::vector<std::pair<size_t, size_t>>;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<TokenId> special_ids_of(const Tokenizer& t, const std::vector<TokenId>& ids) {
  std::vector<TokenId> out;
  for (TokenId id : ids)
    if (t.is_special(id)) out.push_back(id);
  return out;
}

std::vector<std::string> special_texts(const Tokenizer& t) {
  std::vector<std::string> out;
  for (size_t id = 0; id < t.vocab_size(); ++id)
    if (t.is_special(static_cast<TokenId>(id))) out.push_back(*t.id_to_token(static_cast<TokenId>(id)));
  return out;
}

// Whether some special token's text occurs in `text` overlapping one of the spans.
bool content_spells_special(const std::string& text, const Spans& spans, const std::vector<std::string>& specials) {
  for (const std::string& s : specials) {
    for (size_t at = text.find(s); at != std::string::npos; at = text.find(s, at + 1)) {
      for (const auto& [b, e] : spans)
        if (at < e && b < at + s.size()) return true;
    }
  }
  return false;
}

// The previous, segment-by-segment tokenization (content segments with special matching off): a reviewed
// reference for WHICH special tokens must come out of an injection attempt.
std::vector<TokenId> encode_segmentwise(const Tokenizer& t, const std::string& text, const Spans& spans) {
  std::vector<TokenId> ids;
  size_t pos = 0;
  auto add = [&](size_t b, size_t e, bool content) {
    if (b >= e) return;
    auto part = t.encode(text.substr(b, e - b), false, !content);
    ids.insert(ids.end(), part.begin(), part.end());
  };
  for (const auto& [b, e] : spans) {
    add(pos, b, false);
    add(b, e, true);
    pos = e;
  }
  add(pos, text.size(), false);
  return ids;
}

Tokenizer tiny() { return Tokenizer::from_json(test::tiny_byte_level_json().dump()); }

TEST(EncodeSpans, NoSpansEqualsEncode) {
  const Tokenizer t = tiny();
  for (std::string text : {"", "abc", "ab<|end|>c <tool> abc", " a<|end|><|end|>"})
    EXPECT_EQ(t.encode_spans(text, {}), t.encode(text)) << text;
}

TEST(EncodeSpans, SpecialTokenInsideContentIsPlainText) {
  const Tokenizer t = tiny();
  const std::string text = "ab<|end|>c<|end|>";
  // Content is "<|end|>c" (bytes 2..10): its special token is plain text; the template's final one is special.
  const Spans spans = {{2, 10}};
  const auto ids = t.encode_spans(text, spans);
  EXPECT_EQ(special_ids_of(t, ids), std::vector<TokenId>{261});
  EXPECT_EQ(ids.back(), 261);
  EXPECT_EQ(t.decode(ids), text);
  // The whole "ab<|end|>c" is one plain stretch: byte-level pre-tokenization of the joined text, not of pieces.
  std::vector<TokenId> expected = t.encode("ab<|end|>c", false, /*parse_special=*/false);
  expected.push_back(261);
  EXPECT_EQ(ids, expected);
}

TEST(EncodeSpans, MatchStraddlingASpanBoundaryStaysPlain) {
  const Tokenizer t = tiny();
  const std::string text = "a<|end|>b";
  // Only the last byte of the token's text is content: the token must still not be formed.
  const auto ids = t.encode_spans(text, Spans{{7, 9}});
  EXPECT_TRUE(special_ids_of(t, ids).empty());
  EXPECT_EQ(t.decode(ids), text);
  // A span that ends exactly where the token starts does not touch it.
  EXPECT_EQ(special_ids_of(t, t.encode_spans(text, Spans{{0, 1}})), std::vector<TokenId>{261});
}

TEST(EncodeSpans, NonSpecialAddedTokensStillMatchInContent) {
  // As `tokenizers` with encode_special_tokens=True: only special tokens are split.
  const Tokenizer t = tiny();
  const std::string text = "x<tool>y";
  EXPECT_EQ(t.encode_spans(text, Spans{{0, text.size()}}), t.encode(text));
  EXPECT_EQ(t.encode_spans(text, Spans{{0, text.size()}}), t.encode(text, false, false));
}

TEST(EncodeSpans, WholeTextAsContentEqualsParseSpecialOff) {
  const Tokenizer t = tiny();
  for (std::string text : {"abc<|end|>abc", "<|end|>", " <|end|> a"})
    EXPECT_EQ(t.encode_spans(text, Spans{{0, text.size()}}), t.encode(text, false, false)) << text;
}

TEST(EncodeSpans, RejectsBadSpans) {
  const Tokenizer t = tiny();
  EXPECT_THROW(t.encode_spans("abc", Spans{{1, 4}}), Error);
  EXPECT_THROW(t.encode_spans("abc", Spans{{2, 1}}), Error);
  EXPECT_THROW(t.encode_spans("abcdef", Spans{{2, 4}, {3, 5}}), Error);
  EXPECT_THROW(t.encode_spans("a\xff", Spans{}), Error);
  EXPECT_THROW(t.encode_spans("\xC3\xA9", Spans{{1, 2}}), Error);  // inside "é"
  EXPECT_NO_THROW(t.encode_spans("abcdef", Spans{{2, 4}, {4, 5}, {5, 5}}));
}

// A normalized special token: matched on normalized text, so the content ranges are mapped through the normalizer.
nlohmann::json sentencepiece_with_normalized_specials() {
  auto j = test::tiny_sentencepiece_json();
  for (auto& t : j["added_tokens"]) t["normalized"] = true;
  return j;
}

TEST(EncodeSpans, NormalizedSpecialTokensAreMappedThroughTheNormalizer) {
  const Tokenizer t = Tokenizer::from_json(sentencepiece_with_normalized_specials().dump());
  // Prepend("▁") + Replace(" ", "▁") shift every later offset, and the token's own text is normalized too, so it
  // matches as "▁</s>" (after a space). The content "</s> hi" must stay plain, even though the "▁" its match starts
  // with comes from the template's space before it; the template's final " </s>" is the token.
  const std::string text = "hi </s> hi </s>";
  const Spans spans = {{3, 10}};
  const auto ids = t.encode_spans(text, spans);
  EXPECT_EQ(special_ids_of(t, ids), std::vector<TokenId>{2});
  EXPECT_EQ(ids.back(), 2);
  EXPECT_EQ(t.encode_spans(text, {}), t.encode(text));
  EXPECT_EQ(special_ids_of(t, t.encode(text)), (std::vector<TokenId>{2, 2}));
}

TEST(EncodeSpans, NormalizationAcrossASpanBoundaryKeepsSpecialsPlain) {
  // NFC composes "e" + U+0301 across the boundary: offsets cannot be mapped, so the whole stretch counts as
  // content (safe: a special token can only stay plain).
  auto j = test::tiny_byte_level_json();
  j["normalizer"] = {{"type", "NFC"}};
  j["added_tokens"][0]["normalized"] = true;
  const Tokenizer t = Tokenizer::from_json(j.dump());
  const std::string text = "e\xCC\x81<|end|>";
  EXPECT_EQ(special_ids_of(t, t.encode(text)), std::vector<TokenId>{261});
  EXPECT_TRUE(special_ids_of(t, t.encode_spans(text, Spans{{1, 3}})).empty());
}

// --- Chat goldens: every render of tests/fixtures/chat/golden.jsonl, tokenized whole ---

std::optional<fs::path> tokenizer_dir(const std::string& name) {
  if (name == "tiny-qwen3moe") {
    auto shared = test::shared_dir();
    if (!shared) return std::nullopt;
    return *shared / "models" / "tiny-qwen3moe";
  }
  return test::fixtures_dir() / "tokenizer" / name;
}

std::optional<ChatTemplate> chat_template(const std::string& name) {
  const auto fixture = test::fixtures_dir() / "chat" / name / "tokenizer_config.json";
  if (fs::exists(fixture)) return ChatTemplate::load(fixture);
  auto shared = test::shared_dir();
  if (name == "tiny-qwen3moe" && shared) return ChatTemplate::load(*shared / "models" / "tiny-qwen3moe");
  return std::nullopt;
}

struct ChatCase {
  std::string name;
  size_t index = 0;
  RenderedChat rendered;
};

// Every golden render banyan reproduces, with banyan's content spans (render parity is test_jinja's job).
std::vector<ChatCase> chat_cases() {
  const ojson cases = ojson::parse(slurp(test::source_dir() / "tools" / "fixtures" / "chat_cases.json"));
  std::map<std::string, std::optional<ChatTemplate>> templates;
  std::vector<ChatCase> out;
  std::ifstream in(test::fixtures_dir() / "chat" / "golden.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const ojson g = ojson::parse(line);
    if (!g.contains("render")) continue;
    ChatCase c{g["template"].get<std::string>(), g["case"].get<size_t>(), {}};
    if (!templates.count(c.name)) templates.emplace(c.name, chat_template(c.name));
    if (!templates[c.name]) continue;
    const ojson& k = cases.at(c.index);
    c.rendered = templates[c.name]->render_with_spans(k["messages"], k["add_generation_prompt"].get<bool>(),
                                                      k["tools"], k.contains("kwargs") ? k["kwargs"] : ojson(nullptr));
    if (c.rendered.text != g["render"].get<std::string>()) {
      ADD_FAILURE() << c.name << " case " << c.index << ": banyan's render differs from the golden";
      continue;
    }
    out.push_back(std::move(c));
  }
  return out;
}

void check_chat_goldens(const Tokenizer& t, const std::string& tokenizer_name) {
  const auto cases = chat_cases();
  ASSERT_FALSE(cases.empty());
  const auto specials = special_texts(t);
  size_t equal = 0, injections = 0;
  for (const ChatCase& c : cases) {
    SCOPED_TRACE(tokenizer_name + " / " + c.name + " case " + std::to_string(c.index));
    const std::string& text = c.rendered.text;
    const Spans& spans = c.rendered.content_spans;
    const auto ids = t.encode_spans(text, spans);
    EXPECT_EQ(t.decode(ids), text);
    if (!content_spells_special(text, spans, specials)) {
      EXPECT_EQ(ids, t.encode(text));
      ++equal;
    } else {
      // Injection attempt: exactly the template's own special tokens, as tokenizing content apart would give.
      EXPECT_EQ(special_ids_of(t, ids), special_ids_of(t, encode_segmentwise(t, text, spans)));
      EXPECT_NE(ids, t.encode(text));
      ++injections;
    }
  }
  std::printf("[ %s ] %zu chat renders equal encode(), %zu injection renders checked\n", tokenizer_name.c_str(), equal,
              injections);
  EXPECT_GT(equal, 0u);
  EXPECT_GT(injections, 0u);
}

TEST(EncodeSpans, ChatGoldensFixtureTokenizer) {
  if (!fs::exists(test::fixtures_dir() / "chat" / "golden.jsonl")) GTEST_SKIP() << "no chat goldens yet";
  // The tokenizer the chat goldens were rendered with (tools/fixtures/chat_fixtures.py).
  check_chat_goldens(Tokenizer::load(*tokenizer_dir("bytelevel-bpe")), "bytelevel-bpe");
}

TEST(EncodeSpans, ChatGoldensSharedTokenizer) {
  BANYAN_REQUIRE_SHARED(shared);
  if (!fs::exists(test::fixtures_dir() / "chat" / "golden.jsonl")) GTEST_SKIP() << "no chat goldens yet";
  check_chat_goldens(Tokenizer::load(shared / "models" / "tiny-qwen3moe"), "tiny-qwen3moe");
}

// --- Goldens from `tokenizers` (tools/fixtures/chat_ids.py): ids of the whole render, and of the render with
// special-token matching off inside content (encode_special_tokens=True on the content slices) ---

TEST(EncodeSpans, MatchesTokenizersChatIds) {
  const fs::path golden = test::fixtures_dir() / "chat" / "chat_ids.jsonl";
  if (!fs::exists(golden))
    GTEST_SKIP() << golden << " not generated yet (make_fixtures.py --only chat_ids on the GPU machine)";
  std::map<std::string, std::optional<Tokenizer>> tokenizers;
  std::map<std::string, RenderedChat> renders;
  for (const ChatCase& c : chat_cases()) renders[c.name + "#" + std::to_string(c.index)] = c.rendered;
  std::ifstream in(golden);
  std::string line;
  size_t whole = 0, safe = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const ojson g = ojson::parse(line);
    const std::string tok_name = g["tokenizer"].get<std::string>();
    const std::string key = g["template"].get<std::string>() + "#" + std::to_string(g["case"].get<size_t>());
    SCOPED_TRACE(tok_name + " / " + key);
    if (!tokenizers.count(tok_name)) {
      auto dir = tokenizer_dir(tok_name);
      tokenizers.emplace(tok_name, dir ? std::optional<Tokenizer>(Tokenizer::load(*dir)) : std::nullopt);
    }
    if (!tokenizers[tok_name] || !renders.count(key)) continue;
    const Tokenizer& t = *tokenizers[tok_name];
    const RenderedChat& r = renders[key];
    EXPECT_EQ(t.encode(r.text), g["ids"].get<std::vector<TokenId>>());
    ++whole;
    if (g.contains("safe_ids")) {
      // The fixture located content by searching the render; its spans must be banyan's.
      EXPECT_EQ(g["content_spans"].get<Spans>(), r.content_spans);
      EXPECT_EQ(t.encode_spans(r.text, r.content_spans), g["safe_ids"].get<std::vector<TokenId>>());
      ++safe;
    }
  }
  std::printf("[ chat_ids ] %zu whole-prompt goldens, %zu content-safe goldens\n", whole, safe);
  EXPECT_GT(whole, 0u);
  EXPECT_GT(safe, 0u);
}

}  // namespace
}  // namespace banyan
