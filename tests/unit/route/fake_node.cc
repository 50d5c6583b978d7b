#include "fake_node.h"

#include <chrono>

namespace banyan::route::test {

using nlohmann::json;

std::string FakeNode::chunk(int i) const {
  json c{{"object", "chat.completion.chunk"},
         {"model", opt.name},
         {"choices", json::array({{{"index", 0}, {"delta", {{"content", opt.name + "-" + std::to_string(i) + " "}}}}})}};
  return "data: " + c.dump() + "\n\n";
}

std::string FakeNode::stream_bytes() const {
  std::string s;
  for (int i = 0; i < opt.chunks; ++i) s += chunk(i);
  return s + "data: [DONE]\n\n";
}

FakeNode::FakeNode(FakeNodeOptions o, int port) : opt(std::move(o)) {
  srv_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  srv_.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(json{{"object", "list"}, {"data", json::array({{{"id", opt.name}}})}}.dump(), "application/json");
  });
  if (opt.banyan) {
    srv_.Get("/v1/banyan/node", [this](const httplib::Request&, httplib::Response& res) {
      ++node_infos;
      res.set_content(json{{"name", opt.name}, {"load", {{"active", opt.active}, {"queued", 0}}}}.dump(),
                      "application/json");
    });
    if (opt.can_score) srv_.Post("/v1/banyan/score", [this](const httplib::Request& req, httplib::Response& res) {
      ++scores;
      if (opt.score_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(opt.score_delay_ms));
      double probe = 0, logprob = 0;
      {
        std::lock_guard lock(mu);
        score_bodies.push_back(json::parse(req.body));
        probe = opt.probe_mass;
        logprob = opt.prompt_logprob;
      }
      res.set_content(json{{"probe_mass", probe},
                           {"prompt_logprob", logprob},
                           {"prompt_tokens", opt.prompt_tokens},
                           {"node", opt.name},
                           {"load", {{"active", opt.active}, {"queued", 0}}}}
                          .dump(),
                      "application/json");
    });
    srv_.Post("/v1/banyan/release", [this](const httplib::Request& req, httplib::Response& res) {
      ++releases;
      {
        std::lock_guard lock(mu);
        release_bodies.push_back(json::parse(req.body));
      }
      res.set_content(R"({"released":1})", "application/json");
    });
  }
  auto generate = [this](const httplib::Request& req, httplib::Response& res) {
    ++chats;
    json body = json::parse(req.body);
    {
      std::lock_guard lock(mu);
      chat_bodies.push_back(body);
      raw_chat_bodies.push_back(req.body);
    }
    if (body.contains("model") && body["model"] != opt.name) {
      res.status = 404;
      res.set_content(R"({"error":{"message":"model not found","type":"invalid_request_error"}})", "application/json");
      return;
    }
    if (!body.value("stream", false)) {
      const size_t turns = body.contains("messages") ? body["messages"].size() : 1;
      res.set_content(json{{"object", "chat.completion"},
                           {"model", opt.name},
                           {"choices", json::array({{{"index", 0},
                                                     {"message", {{"role", "assistant"},
                                                                  {"content", opt.name + " saw " + std::to_string(turns)}}},
                                                     {"finish_reason", "stop"}}})}}
                          .dump(),
                      "application/json");
      return;
    }
    auto sent = std::make_shared<int>(0);
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, sent](size_t, httplib::DataSink& sink) {
          std::this_thread::sleep_for(std::chrono::milliseconds(opt.chunk_delay_ms));
          if (opt.die_after >= 0 && *sent >= opt.die_after) {
            // Crash: stop listening and cut this connection without the terminating chunk.
            std::thread([this] { stop(); }).detach();
            return false;
          }
          if (*sent >= opt.chunks) {
            const std::string done = "data: [DONE]\n\n";
            sink.write(done.data(), done.size());
            ++finished_streams;
            sink.done();
            return true;
          }
          const std::string c = chunk((*sent)++);
          return sink.write(c.data(), c.size());
        },
        [this](bool success) {
          if (!success) ++cancelled;
        });
  };
  srv_.Post("/v1/chat/completions", generate);
  srv_.Post("/v1/completions", generate);
  if (port == 0) {
    port_ = srv_.bind_to_any_port("127.0.0.1");
  } else {
    port_ = srv_.bind_to_port("127.0.0.1", port) ? port : -1;
  }
  thread_ = std::thread([this] { srv_.listen_after_bind(); });
  while (!srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void FakeNode::set_scores(double probe_mass, double prompt_logprob) {
  std::lock_guard lock(mu);
  opt.probe_mass = probe_mass;
  opt.prompt_logprob = prompt_logprob;
}

void FakeNode::stop() {
  if (stopped_.exchange(true)) {
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
    return;
  }
  srv_.stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

}  // namespace banyan::route::test
