// Post-processors: add special tokens around an encoded sequence when add_special_tokens is set
// (TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel (no change to ids), Sequence).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "format/tokenizer/bpe.h"
#include "format/tokenizer/json_fields.h"

namespace banyan::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Single-sequence processing with add_special_tokens=true.
  virtual void process(std::vector<TokenId>& ids) const = 0;
};

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& where);

}  // namespace banyan::tok
