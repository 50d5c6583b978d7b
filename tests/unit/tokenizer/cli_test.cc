// `banyan tokenize` through the real binary: encode then --decode gives the text back, ids match the library.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "format/tokenizer/tokenizer.h"
#include "test_paths.h"

namespace banyan {
namespace {

namespace fs = std::filesystem;

TEST(TokenizeCli, EncodeDecodeRoundTrip) {
  fs::path binary = test::banyan_binary();
  if (!fs::exists(binary)) GTEST_SKIP() << binary << " not built (build the `banyan` target)";
  fs::path model = test::fixtures_dir() / "tokenizer" / "bytelevel-bpe";
  if (!fs::exists(model / "tokenizer.json")) GTEST_SKIP() << model << " not generated yet";
  auto dir = test::make_temp_dir("tokenize_cli");
  const std::vector<std::string> texts = {"Hello, world!", "", "line\r\nbreak <|im_end|> \xE4\xBD\xA0\xE5\xA5\xBD",
                                          "emoji \xF0\x9F\x98\x80 \"quoted\" \\ backslash"};
  {
    std::ofstream in(dir / "in.jsonl");
    for (const auto& t : texts) in << nlohmann::json{{"text", t}}.dump() << "\n";
  }
  std::string cmd = binary.string() + " tokenize --model " + model.string() + " --jsonl " + (dir / "in.jsonl").string() +
                    " > " + (dir / "ids.jsonl").string();
  ASSERT_EQ(test::run_command(cmd), 0) << cmd;
  auto tokenizer = Tokenizer::load(model);
  std::ifstream ids_file(dir / "ids.jsonl");
  std::string line;
  size_t n = 0;
  while (std::getline(ids_file, line)) {
    ASSERT_LT(n, texts.size());
    auto ids = nlohmann::json::parse(line).at("ids").get<std::vector<TokenId>>();
    EXPECT_EQ(ids, tokenizer.encode(texts[n], false)) << texts[n];
    ++n;
  }
  EXPECT_EQ(n, texts.size());

  std::string out;
  cmd = "cat " + (dir / "ids.jsonl").string() + " | " + binary.string() + " tokenize --decode --model " +
        model.string() + " --jsonl -";
  ASSERT_EQ(test::run_command(cmd, &out), 0) << cmd;
  std::istringstream decoded(out);
  for (const auto& t : texts) {
    ASSERT_TRUE(std::getline(decoded, line));
    EXPECT_EQ(nlohmann::json::parse(line).at("text").get<std::string>(), t);
  }

  // A malformed line is an error naming the file and line.
  { std::ofstream(dir / "bad.jsonl") << "{\"text\": \"ok\"}\n{\"txt\": 1}\n"; }
  cmd = binary.string() + " tokenize --model " + model.string() + " --jsonl " + (dir / "bad.jsonl").string() +
        " 2>&1 >/dev/null";
  EXPECT_NE(test::run_command(cmd, &out), 0);
  EXPECT_NE(out.find("bad.jsonl:2"), std::string::npos) << out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace banyan
