// Decoders: token strings -> text (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, WordPiece, BPEDecoder,
// Sequence), each a `decode_chain` over the list of tokens as in Hugging Face `tokenizers`.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "format/tokenizer/json_fields.h"

namespace banyan::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where);

}  // namespace banyan::tok
