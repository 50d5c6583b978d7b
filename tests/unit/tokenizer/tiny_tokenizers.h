// Small hand-written tokenizer.json documents whose ids can be worked out by hand.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "format/tokenizer/byte_level.h"

namespace banyan::test {

// Byte-level BPE: the 256 byte-alphabet characters get ids 0..255 in byte order, then the merges below.
// Merges (rank order): "b c" -> bc (256), "a b" -> ab (257), "ab c" -> abc (258), "Ġ a" -> Ġa (259),
// "Ġa b" -> Ġab (260). Specials: <|end|> (261, special), <tool> (262, not special, normalized).
inline nlohmann::json tiny_byte_level_json(bool merges_as_pairs = false) {
  nlohmann::json vocab = nlohmann::json::object();
  const auto& table = tok::byte_to_unicode_table();
  for (int b = 0; b < 256; ++b) vocab[table[b]] = b;
  vocab["bc"] = 256;
  vocab["ab"] = 257;
  vocab["abc"] = 258;
  vocab["\xC4\xA0" "a"] = 259;
  vocab["\xC4\xA0" "ab"] = 260;
  nlohmann::json merges = nlohmann::json::array();
  for (auto [l, r] : {std::pair{"b", "c"}, {"a", "b"}, {"ab", "c"}, {"\xC4\xA0", "a"}, {"\xC4\xA0" "a", "b"}}) {
    if (merges_as_pairs)
      merges.push_back({l, r});
    else
      merges.push_back(std::string(l) + " " + r);
  }
  return {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 261}, {"content", "<|end|>"}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
         {"normalized", false}, {"special", true}},
        {{"id", 262}, {"content", "<tool>"}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
         {"normalized", true}, {"special", false}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"fuse_unk", false},
                 {"byte_fallback", false}, {"vocab", vocab}, {"merges", merges}}},
  };
}

// SentencePiece-style BPE (Llama-2 / Mixtral layout): <unk>=0 <s>=1 </s>=2, <0x00>..<0xFF> = 3..258,
// then ▁=259 h=260 i=261 ▁h=262 ▁hi=263 (merges "▁ h", "▁h i").
inline nlohmann::json tiny_sentencepiece_json() {
  nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) vocab[fmt::format("<0x{:02X}>", b)] = 3 + b;
  const std::string sp = "\xE2\x96\x81";
  vocab[sp] = 259;
  vocab["h"] = 260;
  vocab["i"] = 261;
  vocab[sp + "h"] = 262;
  vocab[sp + "hi"] = 263;
  auto special = [](int id, const char* content) {
    return nlohmann::json{{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
                          {"rstrip", false}, {"normalized", false}, {"special", true}};
  };
  return {
      {"version", "1.0"},
      {"added_tokens", {special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")}},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", sp}},
                                                             {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", sp}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", nlohmann::json::array()},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "Sequence"},
                   {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", sp}}}, {"content", " "}},
                                 {{"type", "ByteFallback"}},
                                 {{"type", "Fuse"}},
                                 {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"fuse_unk", true},
                 {"byte_fallback", true}, {"vocab", vocab}, {"merges", {sp + " h", sp + "h i"}}}},
  };
}

}  // namespace banyan::test
