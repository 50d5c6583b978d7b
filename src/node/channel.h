// The per-request event stream from the scheduler thread to the HTTP thread that answers the request.
// The scheduler pushes; the HTTP side pops (blocking with a timeout) and may cancel (client disconnected), which
// the scheduler sees between steps and frees the slot.
#pragma once
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/sampler.h"

namespace banyan::node {

struct TokenInfo {
  int32_t token = 0;
  float logprob = 0.0f;  // NaN when not requested (or for the first prompt token of an echo)
  std::vector<TokenLogprob> top;
};

struct StreamEvent {
  enum class Kind { Tokens, PromptLogprobs, Done, Error };
  Kind kind = Kind::Tokens;
  std::string text;               // Tokens/Done: text that became final (stop strings and split UTF-8 held back)
  std::vector<TokenInfo> tokens;  // Tokens: the generated tokens this event covers; PromptLogprobs: the prompt
  // Done
  std::string finish_reason;      // "stop" | "length"
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  nlohmann::json result;          // score jobs: the response body
  // Error
  int status = 0;
  std::string message;

  static StreamEvent of(Kind kind) {
    StreamEvent e;
    e.kind = kind;
    return e;
  }
  static StreamEvent error(int status, std::string message) {
    StreamEvent e = of(Kind::Error);
    e.status = status;
    e.message = std::move(message);
    return e;
  }
};

class RequestChannel {
 public:
  void push(StreamEvent event) {
    {
      std::lock_guard lock(mu_);
      events_.push_back(std::move(event));
    }
    cv_.notify_all();
  }
  // Moves every pending event into `out` (appending); waits up to `timeout` when there are none.
  // Returns whether any were moved.
  bool pop_all(std::vector<StreamEvent>& out, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (events_.empty()) cv_.wait_for(lock, timeout, [&] { return !events_.empty(); });
    if (events_.empty()) return false;
    for (auto& e : events_) out.push_back(std::move(e));
    events_.clear();
    return true;
  }
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace banyan::node
