// tokenizer.ggml.model = "gpt2": byte-level BPE (tokens are byte-level strings, merges by rank, a pre-tokenizer
// regex llama.cpp knows by name).
#include "core/error.h"
#include "pack/gguf/tokenizer_json.h"
#include "pack/gguf/tokenizer_metadata.h"

namespace banyan::gguf {
namespace {

// The Split regex of a Sequence/Split pre-tokenizer, or "" for plain ByteLevel (GPT-2's built-in regex).
std::string split_regex(const nlohmann::json& pre, const std::string& label) {
  BANYAN_CHECK(pre.is_object(), "{}: tokenizer without a pre_tokenizer is not byte-level BPE", label);
  const std::string type = pre.value("type", "");
  if (type == "Split") return pre.at("pattern").value("Regex", pre.at("pattern").value("String", ""));
  // ByteLevel splits with GPT-2's regex only when use_regex is on; without it there is no llama.cpp equivalent.
  if (type == "ByteLevel") return pre.value("use_regex", true) ? "" : "(ByteLevel without a regex)";
  if (type == "Sequence") {
    std::string found;
    for (const auto& p : pre.at("pretokenizers"))
      if (p.value("type", "") == "Split") found = split_regex(p, label);
    return found;
  }
  fail("{}: pre_tokenizer type {} is not supported for GGUF export", label, type);
}

}  // namespace

std::string pretokenizer_name(const std::string& regex) {
  // Qwen2's split regex (single digits, case-insensitive contractions).
  static const std::string kQwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  if (regex == kQwen2) return "qwen2";
  if (regex.empty()) return "gpt-2";  // llama.cpp's name for GPT-2's own regex (ByteLevel use_regex)
  return "";
}

std::vector<KeyValue> gpt2_vocab_metadata(const nlohmann::json& tok, const TokenTable& table,
                                          const std::string& label) {
  static const nlohmann::json kNone;
  const std::string regex = split_regex(tok.contains("pre_tokenizer") ? tok["pre_tokenizer"] : kNone, label);
  const std::string pre = pretokenizer_name(regex);
  BANYAN_CHECK(!pre.empty(), "{}: pre-tokenizer regex not known to llama.cpp: {}", label, regex);
  std::vector<std::string> merges;
  for (const auto& [a, b] : read_merges(tok.at("model"), label)) merges.push_back(a + " " + b);
  return {
      {"tokenizer.ggml.model", std::string("gpt2")},
      {"tokenizer.ggml.pre", pre},
      {"tokenizer.ggml.tokens", table.tokens},
      {"tokenizer.ggml.token_type", table.types},
      {"tokenizer.ggml.merges", std::move(merges)},
  };
}

}  // namespace banyan::gguf
