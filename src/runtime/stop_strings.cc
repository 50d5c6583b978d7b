#include "runtime/stop_strings.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace banyan {

namespace {

// Length of an incomplete UTF-8 sequence at the end of `text` (0 when it ends on a character boundary or the
// trailing bytes are not a valid sequence start, which holding back could not fix).
size_t incomplete_utf8_tail(std::string_view text) {
  const size_t look = std::min<size_t>(text.size(), 3);
  for (size_t back = 1; back <= look; ++back) {
    const auto byte = static_cast<unsigned char>(text[text.size() - back]);
    if ((byte & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead byte
    size_t needed = 0;
    if ((byte & 0xE0) == 0xC0) needed = 2;
    else if ((byte & 0xF0) == 0xE0) needed = 3;
    else if ((byte & 0xF8) == 0xF0) needed = 4;
    return needed > back ? back : 0;
  }
  return 0;
}

}  // namespace

StopStringMatcher::StopStringMatcher(std::vector<std::string> stop_strings) : stops_(std::move(stop_strings)) {
  for (size_t i = 0; i < stops_.size(); ++i)
    BANYAN_CHECK(!stops_[i].empty(), "stop strings: stop string #{} is empty", i);
}

size_t StopStringMatcher::hold_back_length() const {
  const std::string_view text = pending_;
  size_t hold = incomplete_utf8_tail(text);
  for (const auto& stop : stops_) {
    // Longest proper prefix of `stop` that ends the text; shorter ones cannot matter once a longer one is found.
    for (size_t k = std::min(text.size(), stop.size() - 1); k > hold; --k) {
      if (text.substr(text.size() - k) == std::string_view(stop).substr(0, k)) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}

StopStringMatcher::Output StopStringMatcher::feed(std::string_view piece) {
  BANYAN_CHECK(!stopped_, "stop strings: text fed after a stop string completed");
  pending_.append(piece);
  Output out;

  // Everything before pending_ was released, so it holds no start of a match: searching pending_ is enough.
  size_t best_end = std::numeric_limits<size_t>::max();
  size_t best_start = 0;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t start = pending_.find(stops_[i]);
    if (start == std::string::npos) continue;
    const size_t end = start + stops_[i].size();
    if (end < best_end || (end == best_end && start < best_start)) {
      best_end = end;
      best_start = start;
      out.stop_index = i;
    }
  }
  if (best_end != std::numeric_limits<size_t>::max()) {
    out.text = pending_.substr(0, best_start);
    out.stopped = true;
    stopped_ = true;
    pending_.clear();
    return out;
  }

  const size_t release = pending_.size() - hold_back_length();
  out.text = pending_.substr(0, release);
  pending_.erase(0, release);
  return out;
}

std::string StopStringMatcher::finish() {
  std::string rest = std::move(pending_);
  pending_.clear();
  return rest;
}

}  // namespace banyan
