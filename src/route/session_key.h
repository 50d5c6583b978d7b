// Which conversation a request belongs to. The OpenAI API is stateless (every request carries the whole history),
// so the key comes from the request itself: the `user` field, else the X-Banyan-Session header, else a hash of the
// system prompt + first user message (chat) or of the prompt's first characters (completions). Every turn of one
// conversation repeats those, so every turn maps to the same key without the client doing anything.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace banyan::route {

// Characters of a completions prompt that identify its session (a continuation keeps this prefix).
inline constexpr size_t kCompletionKeyChars = 512;

struct SessionKey {
  std::string key;
  std::string source;  // "user" | "header" | "hash"
};

// `body` is the parsed request; `header` the X-Banyan-Session value (may be empty). Throws node::ApiError (400)
// when the body has neither usable messages nor a prompt to hash.
SessionKey session_key(const nlohmann::json& body, const std::string& header);

// Text of an OpenAI message content: a string, or the text parts of a content-part array.
std::string message_text(const nlohmann::json& content);

}  // namespace banyan::route
