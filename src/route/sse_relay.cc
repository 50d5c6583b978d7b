#include "route/sse_relay.h"

#include <nlohmann/json.hpp>

#include "node/api_error.h"
#include "node/sse.h"

namespace banyan::route {

namespace {

// End of the first event in `s` at or after `from`: index just past its blank line, or npos. Accepts \n\n,
// \r\n\r\n and mixed endings, as the SSE spec does.
size_t event_end(const std::string& s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    if (s[i] != '\n') continue;
    size_t j = i + 1;
    if (j < s.size() && s[j] == '\r') ++j;
    if (j < s.size() && s[j] == '\n') return j + 1;
  }
  return std::string::npos;
}

}  // namespace

std::string sse_data(std::string_view event) {
  std::string data;
  bool any = false;
  size_t pos = 0;
  while (pos < event.size()) {
    size_t nl = event.find('\n', pos);
    if (nl == std::string_view::npos) nl = event.size();
    std::string_view line = event.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (line.starts_with(' ')) line.remove_prefix(1);
      if (any) data += '\n';
      data += line;
      any = true;
    }
    pos = nl + 1;
  }
  return data;
}

std::vector<std::string> SseSplitter::feed(std::string_view bytes) {
  // Only the new bytes (and two before, for a blank line split across reads) need scanning.
  const size_t scan_from = buffer_.size() >= 2 ? buffer_.size() - 2 : 0;
  buffer_.append(bytes);
  std::vector<std::string> events;
  size_t start = 0;
  size_t from = scan_from;
  while (true) {
    const size_t end = event_end(buffer_, std::max(from, start));
    if (end == std::string::npos) break;
    std::string ev = buffer_.substr(start, end - start);
    const std::string data = sse_data(ev);
    if (data == "[DONE]") done_ = true;
    else if (data.find("\"error\"") != std::string::npos) {
      auto j = nlohmann::json::parse(data, nullptr, false);
      if (j.is_object() && j.contains("error")) saw_error_ = true;
    }
    events.push_back(std::move(ev));
    start = end;
    from = end;
  }
  buffer_.erase(0, start);
  return events;
}

std::string sse_error_tail(const std::string& message, const std::string& code) {
  return node::sse_event(node::error_body(message, "server_error", std::nullopt, code)) + node::sse_done();
}

}  // namespace banyan::route
