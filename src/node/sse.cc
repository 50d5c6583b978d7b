#include "node/sse.h"

namespace banyan::node {

std::string to_json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string sse_event(const nlohmann::json& j) { return "data: " + to_json_text(j) + "\n\n"; }

std::vector<std::string> sse_take_events(std::string& buffer) {
  std::vector<std::string> events;
  size_t start = 0;
  while (true) {
    // Events end with a blank line; accept \n\n and \r\n\r\n.
    size_t end = buffer.find("\n\n", start);
    size_t sep = 2;
    const size_t crlf = buffer.find("\r\n\r\n", start);
    if (crlf != std::string::npos && (end == std::string::npos || crlf < end)) {
      end = crlf;
      sep = 4;
    }
    if (end == std::string::npos) break;
    std::string_view block(buffer.data() + start, end - start);
    std::string data;
    bool has_data = false;
    size_t pos = 0;
    while (pos <= block.size()) {
      size_t nl = block.find('\n', pos);
      if (nl == std::string_view::npos) nl = block.size();
      std::string_view line = block.substr(pos, nl - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.starts_with("data:")) {
        line.remove_prefix(5);
        if (line.starts_with(' ')) line.remove_prefix(1);
        if (has_data) data += '\n';
        data += line;
        has_data = true;
      }
      pos = nl + 1;
    }
    if (has_data) events.push_back(std::move(data));
    start = end + sep;
  }
  buffer.erase(0, start);
  return events;
}

}  // namespace banyan::node
