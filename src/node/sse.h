// Server-sent events framing for OpenAI streams: each event is `data: <one-line JSON>\n\n`; the stream ends with
// `data: [DONE]\n\n`. JSON is dumped on one line (newlines inside strings are escaped) and invalid UTF-8 is
// replaced, never thrown on, so a stream can always be finished.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace banyan::node {

std::string to_json_text(const nlohmann::json& j);  // one line, invalid UTF-8 replaced by U+FFFD
std::string sse_event(const nlohmann::json& j);
inline std::string sse_done() { return "data: [DONE]\n\n"; }
// A comment line: ignored by clients; written while a request waits so a closed connection is noticed.
inline std::string sse_keepalive() { return ": keep-alive\n\n"; }

// Splits an SSE byte stream into the payloads of its `data:` events (for tests and the bench client). Incomplete
// trailing events stay in `buffer` for the next call.
std::vector<std::string> sse_take_events(std::string& buffer);

}  // namespace banyan::node
