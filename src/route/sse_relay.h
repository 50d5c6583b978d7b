// Incremental splitter for an upstream SSE stream. The proxy forwards whole events only (never half an event), so
// when a node dies mid-stream the client's stream stays well-formed and can end with a clean error event.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace banyan::route {

class SseSplitter {
 public:
  // Appends bytes; returns the complete events (each with its terminating blank line, bytes unchanged).
  std::vector<std::string> feed(std::string_view bytes);
  // True once a `data: [DONE]` event has been returned.
  bool done() const { return done_; }
  // True when an event carrying an `"error"` object was returned (the node reported a failure).
  bool saw_error() const { return saw_error_; }
  // Bytes of an incomplete event still buffered.
  size_t pending() const { return buffer_.size(); }

 private:
  std::string buffer_;
  bool done_ = false;
  bool saw_error_ = false;
};

// The `data:` payload of one complete event ("" for comment-only events); multi-line data joined with '\n'.
std::string sse_data(std::string_view event);

// `data: {"error": {...}}\n\n` + `data: [DONE]\n\n`: how the router ends a stream whose node failed.
std::string sse_error_tail(const std::string& message, const std::string& code);

}  // namespace banyan::route
