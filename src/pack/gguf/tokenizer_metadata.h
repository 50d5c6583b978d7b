// tokenizer.ggml.* metadata for llama.cpp from a Hugging Face tokenizer.json (+ tokenizer_config.json).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "model/model_spec.h"
#include "pack/gguf/gguf_format.h"

namespace banyan::gguf {

// llama.cpp token types.
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// Two kinds of tokenizer.json export:
//  byte-level BPE → "gpt2": tokens, types, merges "a b", pre-tokenizer name (tokenizer.ggml.pre);
//  SentencePiece-style BPE with byte fallback ("▁" for spaces) → "llama": tokens, scores, types (bytes <0xNN>,
//  unknown), add_space_prefix.
// Both: tokens padded to the model's vocab size with unused placeholders, bos/eos/unk/padding ids, add_bos/add_eos
// (from the post-processor), the chat template. Errors name the file and what llama.cpp could not reproduce.
std::vector<KeyValue> tokenizer_metadata(const std::filesystem::path& model_dir, const ModelSpec& spec);

// The llama.cpp pre-tokenizer name for a Split regex ("qwen2", ...); empty when not recognised.
std::string pretokenizer_name(const std::string& split_regex);

}  // namespace banyan::gguf
