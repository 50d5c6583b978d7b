// Turns a parsed request into prompt token ids: chat messages through the model's chat template, the rendered prompt
// tokenized whole (ids as transformers' apply_chat_template(tokenize=True)) with special-token matching off inside
// message content, so user text can never inject control tokens; completion prompts through the tokenizer (or
// checked token ids).
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "format/jinja/chat_template.h"
#include "format/tokenizer/tokenizer.h"
#include "node/request.h"

namespace banyan::node {

class PromptBuilder {
 public:
  // `chat_template` may be empty: chat requests are then a 400 that says the model has no template.
  PromptBuilder(const Tokenizer& tokenizer, std::optional<ChatTemplate> chat_template, int64_t vocab_size);

  // Throws ApiError(400) for template failures (including the template's own raise_exception) and bad token ids.
  std::vector<int32_t> build(const GenerationRequest& request) const;
  std::vector<int32_t> chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  std::vector<int32_t> text(const std::string& prompt) const;

  bool has_chat_template() const { return chat_template_.has_value(); }

 private:
  const Tokenizer& tokenizer_;
  std::optional<ChatTemplate> chat_template_;
  int64_t vocab_size_;
};

}  // namespace banyan::node
