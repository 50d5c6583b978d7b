// tokenizer.ggml.* metadata for llama.cpp from a Hugging Face tokenizer.json (+ tokenizer_config.json).
#pragma once
#include <filesystem>
#include <vector>

#include "model/model_spec.h"
#include "pack/gguf/gguf_format.h"

namespace banyan::gguf {

// llama.cpp token types.
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// Byte-level BPE tokenizers ("gpt2" model): tokens padded to the model's vocab size with unused placeholders,
// token types, merges as "a b", pre-tokenizer name, special ids and the chat template. Errors name the file and
// what is unsupported (SentencePiece-style tokenizers, unknown pre-tokenizer regexes).
std::vector<KeyValue> tokenizer_metadata(const std::filesystem::path& model_dir, const ModelSpec& spec);

// The llama.cpp pre-tokenizer name for a Split regex ("qwen2", ...); empty when not recognised.
std::string pretokenizer_name(const std::string& split_regex);

}  // namespace banyan::gguf
