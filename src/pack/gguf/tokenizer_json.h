// Pieces of a Hugging Face tokenizer.json that both GGUF vocabulary kinds ("gpt2" byte-level BPE, "llama"
// SentencePiece) need. Internal to the GGUF exporter.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/model_spec.h"
#include "pack/gguf/gguf_format.h"

namespace banyan::gguf {

nlohmann::json read_json(const std::filesystem::path& p);

// The token table of tokenizer.json: model.vocab plus added_tokens, padded to the model's embedding rows.
struct TokenTable {
  std::vector<std::string> tokens;   // index = id; rows without a token are "[PAD<id>]"
  std::vector<int32_t> types;        // llama.cpp token types (TokenType)
  std::map<std::string, int32_t> ids;
};
// Model-vocab tokens are normal; added tokens are control (special) or user-defined; padding rows are unused.
// Errors name `label` (the tokenizer.json path).
TokenTable read_token_table(const nlohmann::json& tok, const ModelSpec& spec, const std::string& label);

// The merges of a BPE model as pairs, whichever of the two tokenizer.json forms ("a b" or ["a", "b"]) it uses.
std::vector<std::pair<std::string, std::string>> read_merges(const nlohmann::json& model, const std::string& label);

// The id tokenizer_config.json's `key` names (a string or {"content": ...}), when it is in `ids`.
std::optional<int32_t> special_id(const nlohmann::json& cfg, const char* key, const std::map<std::string, int32_t>& ids);

// Whether encoding with special tokens adds BOS / EOS: from the TemplateProcessing post-processor ("single"
// starting/ending with that special token) when there is one, else tokenizer_config.json's add_bos_token /
// add_eos_token.
struct AddedSpecials {
  bool bos = false, eos = false;
};
AddedSpecials added_specials(const nlohmann::json& tok, const nlohmann::json& cfg, std::optional<int32_t> bos,
                             std::optional<int32_t> eos, const std::map<std::string, int32_t>& ids);

// The `tokenizer.ggml.model`-specific keys (model name, tokens, types, scores/merges, pre, space prefix).
std::vector<KeyValue> gpt2_vocab_metadata(const nlohmann::json& tok, const TokenTable& table, const std::string& label);
// SentencePiece scores reproducing the BPE merge order (see vocab_llama.cc).
std::vector<float> sentencepiece_scores(const nlohmann::json& model, const TokenTable& table, const std::string& label);
std::vector<KeyValue> llama_vocab_metadata(const nlohmann::json& tok, const ModelSpec& spec, TokenTable& table,
                                           const std::string& label);

}  // namespace banyan::gguf
