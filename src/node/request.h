// Parsing and validation of OpenAI chat/completions and completions request bodies into one GenerationRequest.
// Every rejection is an ApiError(400) naming the field, so malformed input is answered, never crashes.
// Prompt text is not tokenized here (that needs the tokenizer and chat template: see prompt_builder.h).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sampler.h"

namespace banyan::node {

enum class Endpoint { Chat, Completions };

struct ChatMessage {
  std::string role;     // system | user | assistant | tool | developer
  std::string content;  // text parts joined; empty for an assistant message with only tool calls
};

struct GenerationRequest {
  Endpoint endpoint = Endpoint::Chat;
  std::string model;
  std::vector<ChatMessage> messages;         // chat
  std::optional<std::string> prompt_text;    // completions: a string prompt
  std::vector<int32_t> prompt_tokens;        // completions: a token-id prompt (when prompt_text is empty)
  bool stream = false;
  bool include_usage = false;                // stream_options.include_usage
  std::optional<int64_t> max_tokens;         // max_tokens / max_completion_tokens
  SamplingParams sampling;                   // validated; logprobs/top_logprobs included
  std::vector<std::string> stop;
  bool echo = false;                         // completions: prepend the prompt (and its logprobs)
  std::string user;
  bool add_generation_prompt = true;         // chat: template flag
  bool ignore_eos = false;                   // extension (as vLLM): generate max_tokens even past EOS
};

// Limits that keep one request from exhausting the server.
inline constexpr size_t kMaxStopStrings = 4;     // OpenAI's limit
inline constexpr size_t kMaxMessages = 4096;
inline constexpr int kMaxCompletionTopLogprobs = 5;  // completions' integer `logprobs`

// Parse a body already decoded as JSON. `endpoint` selects the schema.
GenerationRequest parse_generation_request(const nlohmann::json& body, Endpoint endpoint);
// Decode JSON text first (400 "invalid JSON" with the parser's position on failure; a non-object body is 400 too).
nlohmann::json parse_json_body(std::string_view text);

}  // namespace banyan::node
