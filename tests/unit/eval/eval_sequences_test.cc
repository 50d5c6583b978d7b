// Protocol step 1 as the harness uses it (plan/corpus_walk.h): code-point slicing and the per-domain walk, on
// hand-made corpora and on the real heldout files (counts recorded by independent Python implementations).
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "eval/domain_counts.h"
#include "plan/corpus_walk.h"
#include "eval/quality_protocol.h"
#include "test_paths.h"

namespace banyan {
namespace {

TEST(Utf8Prefix, CountsCodePointsLikePythonSlicing) {
  const std::string s = "a\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80" "b";  // "aé日😀b": 1+2+3+4+1 bytes
  EXPECT_EQ(utf8_prefix(s, 0), "");
  EXPECT_EQ(utf8_prefix(s, 1), "a");
  EXPECT_EQ(utf8_prefix(s, 2), "a\xC3\xA9");
  EXPECT_EQ(utf8_prefix(s, 3), "a\xC3\xA9\xE6\x97\xA5");
  EXPECT_EQ(utf8_prefix(s, 4), "a\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80");
  EXPECT_EQ(utf8_prefix(s, 5), s);
  EXPECT_EQ(utf8_prefix(s, 20000), s);
}

TEST(Utf8Prefix, ProtocolCutIsTwentyThousandCodePoints) {
  std::string text;
  for (int i = 0; i < 30000; ++i) text += i % 2 ? "\xC3\xA9" : "x";  // alternating 1- and 2-byte code points
  EXPECT_EQ(utf8_prefix(text, kProtocolMaxChars).size(), 10000u * 1 + 10000u * 2);
}

// A byte-level tokenizer from the committed fixtures (ids are irrelevant; lengths matter).
Tokenizer fixture_tokenizer() { return Tokenizer::load(test::fixtures_dir() / "models" / "qwen3_moe"); }

TEST(SelectEvalSequences, WalksDomainsSortedFileOrderWithCapAndMinimumLength) {
  const Tokenizer tok = fixture_tokenizer();
  auto dir = test::make_temp_dir("qual-walk");
  auto path = dir / "corpus.jsonl";
  const std::string long_text(400, 'x');
  {
    std::ofstream f(path);
    f << R"({"domain":"zz","source":"z1","text":")" << long_text << "\"}\n";
    f << R"({"domain":"aa","source":"short","text":"too short"})" << "\n";
    f << R"({"domain":"aa","source":"a1","text":")" << long_text << " one\"}\n";
    f << R"({"domain":"aa","source":"a2","text":")" << long_text << " two\"}\n";
    f << R"({"domain":"aa","source":"a3","text":")" << long_text << " three\"}\n";
  }
  // Lengths in tokens of what this tokenizer makes of the texts decide which documents are long enough.
  const int64_t long_len = int64_t(tok.encode(long_text + " one").size());
  ASSERT_GT(long_len, int64_t(tok.encode("too short").size()));
  struct {
    int64_t per_domain = 2, tokens = 0;
  } o;
  o.tokens = std::min<int64_t>(long_len, int64_t(tok.encode(long_text).size()));
  auto seqs = select_documents(path, tok, o.per_domain, o.tokens);
  ASSERT_EQ(seqs.size(), 3u);
  EXPECT_EQ(seqs[0].domain, "aa");
  EXPECT_EQ(seqs[0].source, "a1");
  EXPECT_EQ(seqs[0].line, 3u);
  EXPECT_EQ(seqs[1].source, "a2");  // a3 is over the cap of 2
  EXPECT_EQ(seqs[2].domain, "zz");
  for (const auto& s : seqs) EXPECT_EQ(int64_t(s.tokens.size()), o.tokens);
  EXPECT_EQ(count_by_domain(seqs), (std::map<std::string, int64_t>{{"aa", 2}, {"zz", 1}}));

  std::filesystem::remove_all(dir);
}

TEST(SelectEvalSequences, ErrorsNameTheLine) {
  const Tokenizer tok = fixture_tokenizer();
  auto dir = test::make_temp_dir("qual-walk-bad");
  auto path = dir / "bad.jsonl";
  {
    std::ofstream f(path);
    f << R"({"domain":"aa","text":"fine"})" << "\n" << R"({"domain":"aa"})" << "\n";
  }
  try {
    select_documents(path, tok, 40, 256);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

// The demo model's trainer (tools/demo_model/train.py, Python `tokenizers`) recorded how many heldout sequences
// the same walk gives per domain (models/demo/train_log.json).
TEST(SelectEvalSequences, DemoHeldoutCountsMatchTheTrainer) {
  const auto demo = test::source_dir() / "models" / "demo";
  const Tokenizer tok = Tokenizer::load(demo);
  auto seqs = select_documents(demo / "heldout.jsonl.xz", tok, 40, 256);
  EXPECT_EQ(count_by_domain(seqs), (std::map<std::string, int64_t>{{"c_code", 28},
                                                                  {"de_man", 29},
                                                                  {"en_man", 29},
                                                                  {"es_man", 24},
                                                                  {"fr_man", 21},
                                                                  {"it_man", 3},
                                                                  {"ja_man", 28},
                                                                  {"python_code", 11}}));
}

// QUALITY.md: heldout-dev gives 143 sequences (c_code 40, de 28, en 17, es 12, fr 23, it 3, ja 6, python 14).
TEST(SelectEvalSequences, SharedHeldoutDevCountsMatchTheProtocol) {
  BANYAN_REQUIRE_SHARED(shared);
  const Tokenizer tok = Tokenizer::load(shared / "models" / "tiny-qwen3moe");
  auto seqs = select_documents(shared / "data" / "heldout-dev.jsonl.xz", tok, 40, 256);
  EXPECT_EQ(seqs.size(), 143u);
  EXPECT_EQ(count_by_domain(seqs), (std::map<std::string, int64_t>{{"c_code", 40},
                                                                  {"de_prose", 28},
                                                                  {"en_prose", 17},
                                                                  {"es_prose", 12},
                                                                  {"fr_prose", 23},
                                                                  {"it_prose", 3},
                                                                  {"ja_prose", 6},
                                                                  {"python_code", 14}}));
}

}  // namespace
}  // namespace banyan
