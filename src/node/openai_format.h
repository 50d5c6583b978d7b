// OpenAI response bodies for one generation, built from the scheduler's events: streaming chunks
// (chat.completion.chunk / text_completion) and the final non-streaming object, with logprobs in the chat format
// ({"content": [{token, logprob, bytes, top_logprobs}]}) or the completions format (tokens, token_logprobs,
// top_logprobs, text_offset), finish_reason and usage.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "format/tokenizer/tokenizer.h"
#include "node/channel.h"
#include "node/request.h"

namespace banyan::node {

struct ResponseInfo {
  Endpoint endpoint = Endpoint::Chat;
  std::string id;       // chatcmpl-… / cmpl-…
  int64_t created = 0;  // unix seconds
  std::string model;
  bool logprobs = false;
  int top_logprobs = 0;
  bool include_usage = false;  // streaming
  std::string echo_text;       // completions echo: the prompt text, emitted first
};

// A fresh random response id with the endpoint's prefix.
std::string new_response_id(Endpoint endpoint);

class ResponseFormatter {
 public:
  ResponseFormatter(const Tokenizer& tokenizer, ResponseInfo info);

  // Streaming: the chunks (JSON objects) one event turns into. The first call also yields the opening chunk
  // (chat: the assistant role; completions with echo: the prompt text).
  std::vector<nlohmann::json> chunks(const StreamEvent& event);
  // Non-streaming: accumulate events, then build the whole response.
  void add(const StreamEvent& event);
  nlohmann::json final_response() const;

  static nlohmann::json usage(const StreamEvent& done);

 private:
  nlohmann::json chunk(nlohmann::json choice) const;
  nlohmann::json chat_logprob(const TokenInfo& t) const;
  void add_completion_logprobs(nlohmann::json& lp, const std::vector<TokenInfo>& tokens, bool first_is_null);
  std::string token_text(int32_t id) const;

  const Tokenizer& tokenizer_;
  ResponseInfo info_;
  bool opened_ = false;
  int64_t text_offset_ = 0;  // completions logprobs: characters emitted so far
  // Non-streaming accumulation
  std::string text_;
  nlohmann::json logprobs_;  // chat: {"content": [...]}; completions: {"tokens": ...}
  std::string finish_reason_;
  nlohmann::json usage_;
};

}  // namespace banyan::node
