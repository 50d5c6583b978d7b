#include "route/upstream.h"

#include <httplib.h>

#include <thread>

#include <fmt/format.h>

namespace banyan::route {

std::shared_ptr<UpstreamCall> UpstreamCall::start(const NodeView& node, std::string path, std::string body,
                                                  bool stream, const UpstreamTimeouts& timeouts,
                                                  size_t max_queued_events) {
  std::shared_ptr<UpstreamCall> call(new UpstreamCall());
  call->stream_ = stream;
  call->max_queued_ = std::max<size_t>(1, max_queued_events);
  call->sent_ = body.size();
  call->started_ = std::chrono::steady_clock::now();
  // The thread owns a reference: the call outlives the client-facing side if that one gives up first.
  std::thread([call, node, path = std::move(path), body = std::move(body), timeouts]() mutable {
    call->run(std::move(node), std::move(path), std::move(body), timeouts);
  }).detach();
  return call;
}

void UpstreamCall::run(NodeView node, std::string path, std::string body, UpstreamTimeouts timeouts) {
  httplib::Client cli(node.endpoint.host, node.endpoint.port);
  cli.set_connection_timeout(timeouts.connect);
  cli.set_read_timeout(timeouts.read);
  cli.set_write_timeout(timeouts.write);
  cli.set_keep_alive(false);
  httplib::Request req;
  req.method = "POST";
  req.path = std::move(path);
  req.body = std::move(body);
  req.set_header("Content-Type", "application/json");
  if (stream_) req.set_header("Accept", "text/event-stream");
  if (!node.address.api_key.empty()) req.set_header("Authorization", "Bearer " + node.address.api_key);
  req.response_handler = [this](const httplib::Response& r) {
    std::lock_guard lock(mu_);
    status_ = r.status;
    content_type_ = r.get_header_value("Content-Type");
    headers_ = true;
    cv_.notify_all();
    return !cancelled_;
  };
  req.content_receiver = [this](const char* data, size_t n, uint64_t, uint64_t) {
    std::unique_lock lock(mu_);
    if (cancelled_) return false;
    received_ += n;
    if (first_byte_s_ < 0)
      first_byte_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    const bool sse = stream_ && status_ == 200 && content_type_.starts_with("text/event-stream");
    if (!sse) {
      raw_.append(data, n);
      return true;
    }
    for (auto& ev : splitter_.feed(std::string_view(data, n))) {
      space_cv_.wait(lock, [this] { return queue_.size() < max_queued_ || cancelled_; });
      if (cancelled_) return false;
      queue_.push_back(std::move(ev));
      cv_.notify_all();
    }
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool ok = cli.send(req, res, err);
  std::lock_guard lock(mu_);
  if (!ok) {
    transport_failed_ = true;
    if (error_.empty())
      error_ = cancelled_ ? "cancelled" : fmt::format("{} ({})", httplib::to_string(err), node.address.url);
  }
  finished_ = true;
  cv_.notify_all();
}

void UpstreamCall::wait_finished() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return finished_; });
}

bool UpstreamCall::pop(std::string& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (queue_.empty()) cv_.wait_for(lock, timeout, [this] { return !queue_.empty() || finished_; });
  if (queue_.empty()) return false;
  out.clear();
  while (!queue_.empty()) {
    out += queue_.front();
    queue_.pop_front();
  }
  space_cv_.notify_all();
  return true;
}

bool UpstreamCall::finished_and_drained() {
  std::lock_guard lock(mu_);
  return finished_ && queue_.empty();
}

void UpstreamCall::cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  space_cv_.notify_all();
  cv_.notify_all();
}

std::string UpstreamCall::content_type() const {
  std::lock_guard lock(mu_);
  return content_type_;
}

std::string UpstreamCall::body() {
  std::lock_guard lock(mu_);
  return raw_;
}

bool UpstreamCall::failed() const {
  std::lock_guard lock(mu_);
  if (transport_failed_) return true;
  return stream_ && status_ == 200 && finished_ && !splitter_.done() && !splitter_.saw_error();
}

std::string UpstreamCall::error() const {
  std::lock_guard lock(mu_);
  if (!error_.empty()) return error_;
  if (stream_ && finished_ && !splitter_.done()) return "the node closed the stream before [DONE]";
  return "";
}

bool UpstreamCall::stream_complete() const {
  std::lock_guard lock(mu_);
  return splitter_.done() || splitter_.saw_error();
}

uint64_t UpstreamCall::bytes_received() const {
  std::lock_guard lock(mu_);
  return received_;
}

double UpstreamCall::seconds_to_first_byte() const {
  std::lock_guard lock(mu_);
  return first_byte_s_;
}

}  // namespace banyan::route
