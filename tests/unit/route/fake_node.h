// An in-process stand-in for `banyan serve` (or a plain OpenAI backend when banyan=false) that speaks just enough
// of the node API for router tests: health, models, score/release/node, chat and completions (streaming or not).
// It can "crash" mid-stream: after `die_after` chunks it cuts the connection and stops listening.
#pragma once
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace banyan::route::test {

struct FakeNodeOptions {
  std::string name;
  double probe_mass = 0.5;
  double prompt_logprob = -2.0;
  int64_t prompt_tokens = 8;
  int64_t active = 0;
  bool banyan = true;
  int chunks = 4;
  int chunk_delay_ms = 5;
  int die_after = -1;  // chunks sent before crashing (-1: never)
  int score_delay_ms = 0;  // /v1/banyan/score answers after this long (widens race windows)
  bool can_score = true;   // false: a banyan-looking node whose /v1/banyan/score is missing (404)
};

class FakeNode {
 public:
  explicit FakeNode(FakeNodeOptions o, int port = 0);
  ~FakeNode() { stop(); }
  void stop();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The SSE bytes a streaming request is answered with (all chunks + [DONE]).
  std::string stream_bytes() const;
  // Changes the scores answered from now on (thread-safe).
  void set_scores(double probe_mass, double prompt_logprob);

  FakeNodeOptions opt;
  std::atomic<int> chats{0}, scores{0}, releases{0}, cancelled{0}, finished_streams{0}, node_infos{0};
  std::mutex mu;
  std::vector<nlohmann::json> chat_bodies, score_bodies, release_bodies;
  std::vector<std::string> raw_chat_bodies;

 private:
  std::string chunk(int i) const;
  httplib::Server srv_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> stopped_{false};
};

}  // namespace banyan::route::test
