// One proxied request to one node. The node is called on a thread of its own (cpp-httplib client); its response
// body arrives as whole SSE events (or raw bytes for non-streaming answers) into a bounded queue that the client-
// facing side drains. When the queue is full the upstream thread stops reading, so a slow client slows the node's
// socket (back-pressure) instead of buffering without bound. Either side can give up: the client disconnects
// (cancel()), the node dies (the read fails at once on a closed socket, or the health checker marks the node down).
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "route/node_registry.h"
#include "route/sse_relay.h"

namespace banyan::route {

struct UpstreamTimeouts {
  std::chrono::milliseconds connect{2000};
  std::chrono::milliseconds read{15000};  // longest silence tolerated from a node (nodes send SSE keep-alives)
  std::chrono::milliseconds write{10000};
};

class UpstreamCall : public std::enable_shared_from_this<UpstreamCall> {
 public:
  enum class State { Waiting, Headers, Finished };

  static std::shared_ptr<UpstreamCall> start(const NodeView& node, std::string path, std::string body, bool stream,
                                             const UpstreamTimeouts& timeouts, size_t max_queued_events = 64);

  // Blocks until the node's status line arrived or the call ended; polls `abort` every 100 ms (e.g. the node was
  // marked down). Returns false when the call failed before any response (connection refused/reset, abort).
  template <class AbortFn>
  bool wait_headers(AbortFn abort) {
    std::unique_lock lock(mu_);
    while (!headers_ && !finished_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      if (!headers_ && !finished_ && abort()) {
        cancelled_ = true;
        error_ = "aborted: node marked down";
        return false;
      }
    }
    return headers_;
  }
  // Waits for the whole body (non-streaming answers and error statuses).
  void wait_finished();

  // Pops the next events (or raw bytes) into `out`; returns false on timeout with nothing to pop.
  bool pop(std::string& out, std::chrono::milliseconds timeout);
  bool finished_and_drained();
  void cancel();

  int status() const { return status_; }
  std::string content_type() const;
  std::string body();                       // the buffered raw body (non-streaming)
  bool failed() const;                      // transport error or stream cut before [DONE]
  std::string error() const;
  bool stream_complete() const;             // [DONE] or an error event seen
  uint64_t bytes_received() const;
  uint64_t bytes_sent() const { return sent_; }
  double seconds_to_first_byte() const;     // -1 when nothing arrived

 private:
  UpstreamCall() = default;
  void run(NodeView node, std::string path, std::string body, UpstreamTimeouts timeouts);

  mutable std::mutex mu_;
  std::condition_variable cv_;        // state changes, events queued
  std::condition_variable space_cv_;  // the queue drained
  std::deque<std::string> queue_;
  size_t max_queued_ = 64;
  bool stream_ = false;
  bool headers_ = false, finished_ = false, cancelled_ = false, transport_failed_ = false;
  int status_ = 0;
  std::string content_type_;
  std::string raw_;  // non-SSE body
  std::string error_;
  SseSplitter splitter_;
  uint64_t received_ = 0, sent_ = 0;
  std::chrono::steady_clock::time_point started_;
  double first_byte_s_ = -1;
};

}  // namespace banyan::route
