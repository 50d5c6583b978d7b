#include "node/prompt_builder.h"

#include "node/api_error.h"

namespace banyan::node {

PromptBuilder::PromptBuilder(const Tokenizer& tokenizer, std::optional<ChatTemplate> chat_template,
                             int64_t vocab_size)
    : tokenizer_(tokenizer), chat_template_(std::move(chat_template)), vocab_size_(vocab_size) {}

std::vector<int32_t> PromptBuilder::build(const GenerationRequest& r) const {
  if (r.endpoint == Endpoint::Chat) return chat(r.messages, r.add_generation_prompt);
  if (r.prompt_text) return text(*r.prompt_text);
  for (size_t i = 0; i < r.prompt_tokens.size(); ++i)
    if (r.prompt_tokens[i] >= vocab_size_)
      bad_param("prompt", fmt::format("prompt token {} (at index {}) is outside the vocabulary of {} tokens",
                                      r.prompt_tokens[i], i, vocab_size_));
  return r.prompt_tokens;
}

std::vector<int32_t> PromptBuilder::chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  if (!chat_template_) throw ApiError(400, "this model has no chat template: use /v1/completions", "invalid_request_error", "messages");
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  RenderedChat rendered;
  try {
    rendered = chat_template_->render_with_spans(list, add_generation_prompt);
  } catch (const Error& e) {
    throw ApiError(400, fmt::format("chat template: {}", e.what()), "invalid_request_error", "messages");
  }
  try {
    // The prompt is tokenized whole, as transformers does; message content is user text, so special-token
    // spellings inside it stay plain text.
    return tokenizer_.encode_spans(rendered.text, rendered.content_spans, /*add_special_tokens=*/false);
  } catch (const Error& e) {
    throw ApiError(400, fmt::format("cannot tokenize the messages: {}", e.what()), "invalid_request_error",
                   "messages");
  }
}

std::vector<int32_t> PromptBuilder::text(const std::string& prompt) const {
  try {
    return tokenizer_.encode(prompt, /*add_special_tokens=*/true, /*parse_special=*/true);
  } catch (const Error& e) {
    throw ApiError(400, fmt::format("cannot tokenize the prompt: {}", e.what()), "invalid_request_error", "prompt");
  }
}

}  // namespace banyan::node
