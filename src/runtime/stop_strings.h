// Streaming-safe stop strings: text arrives in decoded pieces; the matcher releases only text that can no longer
// become part of a stop string, and reports when one completes.
//
// Semantics (OpenAI's): when a stop string appears, generation stops and the returned text ends just before it;
// the stop string itself is never emitted. When several stop strings could match, the one that completes first
// in the text wins (earliest end; on a tie, the one starting earlier, i.e. the longer). That rule depends only on
// the text, never on how it was split into pieces, so streamed and non-streamed requests agree.
//
// Held back: the longest suffix of the pending text that is a proper prefix of some stop string, and an
// incomplete UTF-8 sequence at the very end (a byte-level tokenizer may split a character between tokens), so
// emitted text always ends on a character boundary when the input is valid UTF-8.
// EOS token ids are the caller's business.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace banyan {

class StopStringMatcher {
 public:
  struct Output {
    std::string text;       // safe to emit now (everything before the stop string when `stopped`)
    bool stopped = false;   // a stop string completed; generation must end
    size_t stop_index = 0;  // which of the stop strings (index into the constructor's list), when stopped
  };

  // Empty stop strings are rejected (banyan::Error); an empty list is allowed and only holds back split UTF-8.
  explicit StopStringMatcher(std::vector<std::string> stop_strings);

  // Feeds the next decoded piece. Must not be called once a stop string has completed (banyan::Error).
  Output feed(std::string_view piece);

  // Ends the stream without a stop string (EOS, length limit): returns everything still held back.
  std::string finish();

  bool stopped() const { return stopped_; }
  const std::vector<std::string>& stop_strings() const { return stops_; }
  // Bytes currently held back.
  size_t pending_size() const { return pending_.size(); }

 private:
  size_t hold_back_length() const;

  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace banyan
