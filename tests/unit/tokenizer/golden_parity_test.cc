// Parity with Hugging Face `tokenizers`: tests/fixtures/tokenizer/<name>.jsonl holds ids and decodes produced by
// tools/fixtures/tokenizer_fixtures.py; <name>/ holds the tokenizer files (tiny-qwen3moe's are in ../shared).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "format/jsonl_reader.h"
#include "format/tokenizer/tokenizer.h"
#include "test_paths.h"

namespace banyan {
namespace {

namespace fs = std::filesystem;

std::optional<fs::path> tokenizer_dir_for(const std::string& name) {
  fs::path local = test::fixtures_dir() / "tokenizer" / name;
  if (fs::exists(local / "tokenizer.json")) return local;
  if (auto shared = test::shared_dir()) {
    fs::path model = *shared / "models" / name;
    if (fs::exists(model / "tokenizer.json")) return model;
  }
  return std::nullopt;
}

std::string show(const std::vector<TokenId>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

TEST(GoldenParity, MatchesHuggingFaceTokenizers) {
  fs::path dir = test::fixtures_dir() / "tokenizer";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " not generated yet (tools/fixtures/make_fixtures.py)";
  std::vector<fs::path> goldens;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".jsonl") goldens.push_back(entry.path());
  std::sort(goldens.begin(), goldens.end());
  ASSERT_FALSE(goldens.empty()) << "no golden .jsonl files in " << dir;

  size_t tokenizers_checked = 0;
  for (const auto& golden : goldens) {
    const std::string name = golden.stem().string();
    auto tok_dir = tokenizer_dir_for(name);
    if (!tok_dir) {
      // Only the shared model's tokenizer may be absent (it lives in ../shared, not in the repo).
      EXPECT_EQ(name, "tiny-qwen3moe") << "golden " << golden << " has no tokenizer directory";
      continue;
    }
    SCOPED_TRACE(name);
    auto t = Tokenizer::load(*tok_dir);
    ++tokenizers_checked;
    JsonlReader reader(golden);
    std::string line;
    size_t cases = 0, failures = 0;
    while (reader.next(line)) {
      auto row = nlohmann::json::parse(line);
      const std::string text = row.at("text");
      auto ids = row.at("ids").get<std::vector<TokenId>>();
      auto ids_special = row.at("ids_with_special").get<std::vector<TokenId>>();
      ++cases;
      auto got = t.encode(text, false);
      auto got_special = t.encode(text, true);
      auto decoded = t.decode(ids, false);
      auto decoded_skip = t.decode(ids, true);
      bool ok = got == ids && got_special == ids_special && decoded == row.at("decoded").get<std::string>() &&
                decoded_skip == row.at("decoded_skip").get<std::string>();
      if (!ok && ++failures <= 5) {
        ADD_FAILURE() << name << " line " << reader.line_number() << " text " << nlohmann::json(text).dump()
                      << "\n  ids      expected " << show(ids) << "\n           got      " << show(got)
                      << "\n  special  expected " << show(ids_special) << "\n           got      " << show(got_special)
                      << "\n  decoded  expected " << row.at("decoded").dump() << "\n           got      "
                      << nlohmann::json(decoded).dump() << "\n  skip     expected " << row.at("decoded_skip").dump()
                      << "\n           got      " << nlohmann::json(decoded_skip).dump();
      }
    }
    std::printf("[ golden   ] %s: %zu cases, %zu differ\n", name.c_str(), cases, failures);
    EXPECT_EQ(failures, 0u) << name << ": " << failures << " of " << cases << " cases differ";
    EXPECT_GT(cases, 0u) << golden << " is empty";
  }
  EXPECT_GT(tokenizers_checked, 0u);
}

}  // namespace
}  // namespace banyan
