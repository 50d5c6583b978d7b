// Normalizers: text -> text before pre-tokenization (NFC/NFD/NFKC/NFKD, Lowercase, Strip, StripAccents,
// Prepend, Replace, Sequence), as in Hugging Face `tokenizers`.
#pragma once
#include <memory>
#include <string>

#include "format/tokenizer/json_fields.h"

namespace banyan::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// Builds the normalizer described by `j` (`where` names it in errors). Null JSON gives nullptr.
// Unsupported types are an error naming the type.
std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where);

}  // namespace banyan::tok
