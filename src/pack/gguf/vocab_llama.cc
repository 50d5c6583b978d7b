// tokenizer.ggml.model = "llama": SentencePiece-style BPE with byte fallback (tokens carry "▁" for spaces, bytes
// missing from the vocabulary become <0xNN> tokens).
//
// llama.cpp's SentencePiece tokenizer does not read merges: it repeatedly joins the adjacent pair whose
// concatenation is the vocabulary token with the highest score (leftmost first on ties). Scoring each token produced
// by merge number r with -r makes that the same order as Hugging Face's BPE (lowest merge rank first, leftmost
// first); tokens no merge produces get a score below every merge.
#include "core/error.h"
#include "pack/gguf/tokenizer_json.h"
#include "pack/gguf/tokenizer_metadata.h"

namespace banyan::gguf {
namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's visible space

bool is_string_pattern(const nlohmann::json& j, const std::string& s) {
  return j.is_object() && j.contains("pattern") && j["pattern"].value("String", "\x01") == s;
}

// Reads the normalizer / pre-tokenizer pair that makes text SentencePiece-style: spaces become "▁" and (when
// `add_space_prefix`) a "▁" is put in front of each text segment. Anything llama.cpp's tokenizer would not
// reproduce (other normalizers, splitting on "▁") is an error naming it.
bool space_prefix(const nlohmann::json& tok, const std::string& label) {
  static const nlohmann::json kNone;
  const auto& norm = tok.contains("normalizer") ? tok["normalizer"] : kNone;
  const auto& pre = tok.contains("pre_tokenizer") ? tok["pre_tokenizer"] : kNone;
  bool prepend = false, replace = false;
  auto one = [&](const nlohmann::json& n) {
    const std::string type = n.value("type", "");
    if (type == "Prepend" && n.value("prepend", "") == kSpace) prepend = true;
    else if (type == "Replace" && is_string_pattern(n, " ") && n.value("content", "") == kSpace) replace = true;
    else fail("{}: normalizer {} has no llama.cpp SentencePiece equivalent", label, n.dump());
  };
  if (norm.is_object() && norm.value("type", "") == "Sequence") {
    for (const auto& n : norm.at("normalizers")) one(n);
  } else if (norm.is_object()) {
    one(norm);
  }
  if (pre.is_object()) {
    BANYAN_CHECK(pre.value("type", "") == "Metaspace" && pre.value("replacement", kSpace) == kSpace,
                 "{}: pre_tokenizer {} has no llama.cpp SentencePiece equivalent", label, pre.dump());
    BANYAN_CHECK(!pre.value("split", true), "{}: Metaspace with split=true (words tokenized apart) has no llama.cpp "
                 "SentencePiece equivalent", label);
    const std::string scheme = pre.value("prepend_scheme", pre.value("add_prefix_space", true) ? "always" : "never");
    BANYAN_CHECK(scheme != "first", "{}: Metaspace prepend_scheme \"first\" (no \"▁\" after special tokens) differs "
                 "from llama.cpp, which prefixes every segment", label);
    replace = true;
    prepend = prepend || scheme == "always";
  }
  BANYAN_CHECK(replace, "{}: spaces are not replaced by \"▁\": not a SentencePiece-style tokenizer", label);
  return prepend;
}

}  // namespace

std::vector<float> sentencepiece_scores(const nlohmann::json& model, const TokenTable& table,
                                        const std::string& label) {
  const auto merges = read_merges(model, label);
  std::vector<float> scores(table.tokens.size(), -float(merges.size()));
  std::vector<bool> produced(table.tokens.size(), false);
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto it = table.ids.find(merges[r].first + merges[r].second);
    BANYAN_CHECK(it != table.ids.end(), "{}: merge {} \"{} {}\" produces a token missing from the vocab", label, r,
                 merges[r].first, merges[r].second);
    if (produced[size_t(it->second)]) continue;  // the first (lowest-rank) merge decides
    produced[size_t(it->second)] = true;
    scores[size_t(it->second)] = -float(r);
  }
  return scores;
}

std::vector<KeyValue> llama_vocab_metadata(const nlohmann::json& tok, const ModelSpec&, TokenTable& table,
                                           const std::string& label) {
  const auto& model = tok.at("model");
  BANYAN_CHECK(model.value("type", "") == "BPE" && model.value("byte_fallback", false),
               "{}: a SentencePiece-style tokenizer must be BPE with byte_fallback (model type {})", label,
               model.value("type", "?"));
  BANYAN_CHECK(model.value("dropout", nlohmann::json()).is_null() && !model.value("ignore_merges", false),
               "{}: BPE dropout / ignore_merges have no llama.cpp equivalent", label);
  const bool prefix = space_prefix(tok, label);
  // Byte fallback needs all 256 byte tokens; llama.cpp looks them up by their "<0xNN>" text.
  for (int b = 0; b < 256; ++b) {
    const std::string text = fmt::format("<0x{:02X}>", b);
    const auto it = table.ids.find(text);
    BANYAN_CHECK(it != table.ids.end(), "{}: byte-fallback token {} is missing from the vocab", label, text);
    table.types[size_t(it->second)] = kByte;
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const auto it = table.ids.find(model["unk_token"].get<std::string>());
    BANYAN_CHECK(it != table.ids.end(), "{}: unk_token {} is not in the vocab", label, model["unk_token"].dump());
    table.types[size_t(it->second)] = kUnknown;
  }
  return {
      {"tokenizer.ggml.model", std::string("llama")},
      {"tokenizer.ggml.tokens", table.tokens},
      {"tokenizer.ggml.scores", sentencepiece_scores(model, table, label)},
      {"tokenizer.ggml.token_type", table.types},
      {"tokenizer.ggml.add_space_prefix", prefix},
  };
}

}  // namespace banyan::gguf
