// SentencePiece-style tokenizers (BPE with byte fallback, "▁" for spaces) → tokenizer.ggml.model = "llama".
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "pack/gguf/gguf_export.h"
#include "pack/gguf/gguf_reader.h"
#include "pack/gguf/tokenizer_metadata.h"
#include "pack/synth.h"
#include "test_paths.h"

using namespace banyan;
using namespace banyan::gguf;
using banyan::test::fixtures_dir;
using banyan::test::make_temp_dir;
namespace fs = std::filesystem;

namespace {

const fs::path kTokenizer = fixtures_dir() / "tokenizer" / "sentencepiece-bpe";

nlohmann::json read(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// A Mixtral-shaped model (the fixture's config, random weights) whose vocabulary is the SentencePiece fixture's.
fs::path sentencepiece_model(const std::string& name) {
  const fs::path dir = make_temp_dir(name);
  auto cfg = read(fixtures_dir() / "models" / "mixtral" / "config.json");
  cfg["vocab_size"] = read(kTokenizer / "tokenizer.json")["model"]["vocab"].size();
  cfg["bos_token_id"] = 1;
  std::ofstream(dir / "in-config.json") << cfg.dump(2);
  SynthOptions o;
  o.dtype = DType::F32;
  synth_checkpoint(dir / "in-config.json", dir / "model", o);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(kTokenizer / f, dir / "model" / f);
  return dir / "model";
}

template <class T>
const T& get(const Reader& r, const std::string& key) {
  return std::get<T>(r.value(key).v);
}

}  // namespace

TEST(GgufSentencePiece, LlamaVocabularyReadsBackFromTheGguf) {
  const fs::path model = sentencepiece_model("gguf_spm");
  const fs::path out = model.parent_path() / "m.gguf";
  export_gguf(model, out, TensorType::F32);
  Reader r(out);
  const auto tok = read(kTokenizer / "tokenizer.json");
  EXPECT_EQ(get<std::string>(r, "general.architecture"), "llama");
  EXPECT_EQ(get<std::string>(r, "tokenizer.ggml.model"), "llama");
  EXPECT_FALSE(r.has("tokenizer.ggml.merges"));  // llama.cpp's SentencePiece tokenizer merges by score
  const auto& tokens = get<std::vector<std::string>>(r, "tokenizer.ggml.tokens");
  const auto& types = get<std::vector<int32_t>>(r, "tokenizer.ggml.token_type");
  const auto& scores = get<std::vector<float>>(r, "tokenizer.ggml.scores");
  ASSERT_EQ(tokens.size(), tok["model"]["vocab"].size());
  ASSERT_EQ(types.size(), tokens.size());
  ASSERT_EQ(scores.size(), tokens.size());
  for (const auto& [text, id] : tok["model"]["vocab"].items()) ASSERT_EQ(tokens.at(id.get<size_t>()), text);
  // Types: every <0xNN> is a byte token, <unk> unknown, <s> and </s> control, the rest normal.
  int bytes = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const bool is_byte = tokens[i].size() == 6 && tokens[i].rfind("<0x", 0) == 0 && tokens[i].back() == '>';
    bytes += is_byte;
    const int32_t want = is_byte ? kByte : tokens[i] == "<unk>" ? kUnknown
                         : (tokens[i] == "<s>" || tokens[i] == "</s>") ? kControl : kNormal;
    EXPECT_EQ(types[i], want) << i << " " << tokens[i];
  }
  EXPECT_EQ(bytes, 256);
  EXPECT_EQ(tokens.at(3), "<0x00>");
  // Scores: the token made by merge r scores -r, so earlier merges win as in BPE; "er" is merge 0, "▁d" merge 4.
  const auto id = [&](const std::string& t) { return tok["model"]["vocab"].at(t).get<size_t>(); };
  EXPECT_EQ(scores[id("er")], 0.0f);
  EXPECT_EQ(scores[id("\xE2\x96\x81" "d")], -4.0f);
  const auto& merges = tok["model"]["merges"];
  for (size_t m = 0; m < merges.size(); ++m) {
    const std::string made = merges[m][0].get<std::string>() + merges[m][1].get<std::string>();
    EXPECT_LE(scores[id(made)], -float(0)) << made;
    EXPECT_GE(scores[id(made)], -float(m)) << made;  // the first merge making a token decides its score
  }
  EXPECT_LT(scores[id("<0x41>")], -float(merges.size()) + 0.5f);  // no merge makes it: below every merge
  // Specials from tokenizer_config.json; BOS added as the TemplateProcessing post-processor does; a "▁" prefix.
  EXPECT_EQ(get<uint32_t>(r, "tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(get<uint32_t>(r, "tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(get<uint32_t>(r, "tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_TRUE(get<bool>(r, "tokenizer.ggml.add_bos_token"));
  EXPECT_FALSE(get<bool>(r, "tokenizer.ggml.add_eos_token"));
  EXPECT_TRUE(get<bool>(r, "tokenizer.ggml.add_space_prefix"));
  fs::remove_all(model.parent_path());
}

TEST(GgufSentencePiece, AddBosFollowsThePostProcessorNotTheConfig) {
  const fs::path model = sentencepiece_model("gguf_spm_bos");
  auto tok = read(model / "tokenizer.json");
  tok["post_processor"]["single"].erase(0);  // template "$A" only: encoding adds nothing
  std::ofstream(model / "tokenizer.json") << tok.dump();
  auto kvs = tokenizer_metadata(model, load_model_spec(model));
  bool found = false;
  for (const auto& kv : kvs)
    if (kv.key == "tokenizer.ggml.add_bos_token") {
      found = true;
      EXPECT_FALSE(std::get<bool>(kv.value.v));  // although tokenizer_config.json says add_bos_token: true
    }
  EXPECT_TRUE(found);
  fs::remove_all(model.parent_path());
}

TEST(GgufSentencePiece, WhatLlamaCppCannotReproduceIsAClearError) {
  const fs::path model = sentencepiece_model("gguf_spm_bad");
  const auto good = read(model / "tokenizer.json");
  const ModelSpec spec = load_model_spec(model);
  auto expect_error = [&](nlohmann::json tok, const std::string& what) {
    std::ofstream(model / "tokenizer.json") << tok.dump();
    try {
      tokenizer_metadata(model, spec);
      ADD_FAILURE() << "expected an error mentioning " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
    }
  };
  auto nfkc = good;
  nfkc["normalizer"]["normalizers"].push_back({{"type", "NFKC"}});
  expect_error(nfkc, "NFKC");
  auto split = good;
  split["normalizer"] = nullptr;
  split["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"},
                            {"split", true}};
  expect_error(split, "split=true");
  auto no_byte = good;
  no_byte["model"]["vocab"].erase("<0x41>");
  no_byte["model"]["vocab"]["<0x41>x"] = 68;  // same id, another text
  expect_error(no_byte, "<0x41>");
  fs::remove_all(model.parent_path());
}

TEST(GgufSentencePiece, MetaspaceWithoutSplitIsTheSameVocabulary) {
  const fs::path model = sentencepiece_model("gguf_spm_meta");
  const ModelSpec spec = load_model_spec(model);
  const auto normalizer_form = tokenizer_metadata(model, spec);
  auto tok = read(model / "tokenizer.json");
  tok["normalizer"] = nullptr;
  tok["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"},
                          {"split", false}};
  std::ofstream(model / "tokenizer.json") << tok.dump();
  const auto metaspace_form = tokenizer_metadata(model, spec);
  ASSERT_EQ(normalizer_form.size(), metaspace_form.size());
  for (size_t i = 0; i < normalizer_form.size(); ++i) {
    EXPECT_EQ(normalizer_form[i].key, metaspace_form[i].key);
    EXPECT_TRUE(normalizer_form[i].value == metaspace_form[i].value) << normalizer_form[i].key;
  }
  fs::remove_all(model.parent_path());
}
