#include "node/bench_client.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <regex>
#include <thread>

#include "core/error.h"
#include "node/sse.h"

namespace banyan::node {

using nlohmann::json;
using BenchClock = std::chrono::steady_clock;

double quantile(std::vector<double> v, double p) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double pos = p * double(v.size() - 1);
  const size_t lo = size_t(std::floor(pos)), hi = size_t(std::ceil(pos));
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

namespace {

struct Target {
  std::string host;
  int port = 80;
};

Target parse_url(const std::string& url) {
  static const std::regex re(R"(^http://([^/:]+)(?::(\d+))?/?$)");
  std::smatch m;
  BANYAN_CHECK(std::regex_match(url, m, re), "bench: --server must look like http://HOST:PORT, got '{}'", url);
  return {m[1].str(), m[2].matched ? std::stoi(m[2].str()) : 80};
}

struct StreamResult {
  bool ok = false;
  std::string error;
  double ttft = 0, total = 0;  // seconds from send
  int64_t completion_tokens = 0;
};

std::string synthetic_prompt(int index, int words) {
  static const char* const kWords[] = {"banyan", "tree", "river", "stone", "light", "market", "window", "garden",
                                       "engine", "story", "winter", "harbor", "letter", "forest", "signal", "bridge"};
  std::string s = "Request " + std::to_string(index) + ":";
  for (int i = 0; i < words; ++i) s += std::string(" ") + kWords[size_t(index * 7 + i * 3) % 16];
  return s;
}

StreamResult one_request(const Target& t, const ServerBenchOptions& o, const std::string& model, int index) {
  httplib::Client cli(t.host, t.port);
  cli.set_read_timeout(std::chrono::seconds(int64_t(o.timeout_s)));
  cli.set_connection_timeout(std::chrono::seconds(10));
  json body{{"model", model},
            {"messages", json::array({{{"role", "user"}, {"content", synthetic_prompt(index, o.prompt_words)}}})},
            {"max_tokens", o.max_tokens},
            {"temperature", 0},
            {"ignore_eos", true},
            {"stream", true},
            {"stream_options", {{"include_usage", true}}}};
  StreamResult r;
  std::string buffer;
  const auto start = BenchClock::now();
  bool first = true;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  if (!o.api_key.empty()) req.set_header("Authorization", "Bearer " + o.api_key);
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buffer.append(data, n);
    for (const std::string& ev : sse_take_events(buffer)) {
      if (ev == "[DONE]") continue;
      json c = json::parse(ev, nullptr, false);
      if (c.is_discarded()) continue;
      if (c.contains("error")) {
        r.error = c["error"].value("message", "error event");
        return false;
      }
      if (c.contains("usage") && c["usage"].is_object()) r.completion_tokens = c["usage"].value("completion_tokens", 0);
      if (first && c.contains("choices") && !c["choices"].empty()) {
        const json& delta = c["choices"][0]["delta"];
        if (delta.contains("content") && delta["content"].is_string() && !delta["content"].get<std::string>().empty()) {
          r.ttft = std::chrono::duration<double>(BenchClock::now() - start).count();
          first = false;
        }
      }
    }
    return true;
  };
  auto res = cli.send(req);
  r.total = std::chrono::duration<double>(BenchClock::now() - start).count();
  if (!res) {
    if (r.error.empty()) r.error = httplib::to_string(res.error());
    return r;
  }
  if (res->status != 200) {
    r.error = fmt::format("HTTP {}: {}", res->status, res->body);
    return r;
  }
  if (first) r.ttft = r.total;  // every token held back until the end (or none): count the whole request
  r.ok = r.error.empty() && r.completion_tokens > 0;
  if (!r.ok && r.error.empty()) r.error = "no usage chunk in the stream";
  return r;
}

std::string first_model(const Target& t, const ServerBenchOptions& o) {
  httplib::Client cli(t.host, t.port);
  cli.set_read_timeout(std::chrono::seconds(30));
  httplib::Headers headers;
  if (!o.api_key.empty()) headers.emplace("Authorization", "Bearer " + o.api_key);
  auto res = cli.Get("/v1/models", headers);
  BANYAN_CHECK(res && res->status == 200, "bench: GET {}/v1/models failed ({})", o.url,
               res ? fmt::format("HTTP {}", res->status) : httplib::to_string(res.error()));
  json j = json::parse(res->body, nullptr, false);
  BANYAN_CHECK(!j.is_discarded() && j.contains("data") && !j["data"].empty(), "bench: {}/v1/models lists no model",
               o.url);
  return j["data"][0].value("id", "");
}

}  // namespace

json run_server_bench(const ServerBenchOptions& o) {
  BANYAN_CHECK(o.concurrency >= 1 && o.requests >= 1 && o.max_tokens >= 1,
               "bench: concurrency, requests and max-tokens must be >= 1");
  const Target t = parse_url(o.url);
  const std::string model = o.model.empty() ? first_model(t, o) : o.model;
  std::vector<StreamResult> results(size_t(o.requests));
  std::atomic<int> next{0};
  const auto start = BenchClock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < std::min(o.concurrency, o.requests); ++w)
    workers.emplace_back([&] {
      for (int i = next++; i < o.requests; i = next++) results[size_t(i)] = one_request(t, o, model, i);
    });
  for (auto& w : workers) w.join();
  const double wall = std::chrono::duration<double>(BenchClock::now() - start).count();

  std::vector<double> ttft, per_stream;
  int64_t tokens = 0;
  int failed = 0;
  std::string first_error;
  for (const auto& r : results) {
    if (!r.ok) {
      if (failed++ == 0) first_error = r.error;
      continue;
    }
    ttft.push_back(r.ttft);
    tokens += r.completion_tokens;
    // Decode speed a client sees once its first token arrived.
    if (r.completion_tokens > 1 && r.total > r.ttft) per_stream.push_back(double(r.completion_tokens - 1) / (r.total - r.ttft));
  }
  json out{{"bench", "server"},
           {"url", o.url},
           {"model", model},
           {"concurrency", o.concurrency},
           {"requests", o.requests},
           {"max_tokens", o.max_tokens},
           {"prompt_words", o.prompt_words},
           {"completed", o.requests - failed},
           {"failed", failed},
           {"wall_seconds", wall},
           {"completion_tokens", tokens},
           {"ttft_p50_s", quantile(ttft, 0.5)},
           {"ttft_p99_s", quantile(ttft, 0.99)},
           {"tokens_per_s_per_stream_mean", per_stream.empty() ? 0.0 : [&] {
              double s = 0;
              for (double v : per_stream) s += v;
              return s / double(per_stream.size());
            }()},
           {"tokens_per_s_per_stream_p50", quantile(per_stream, 0.5)},
           {"tokens_per_s_total", wall > 0 ? double(tokens) / wall : 0.0}};
  if (failed) out["first_error"] = first_error;
  return out;
}

}  // namespace banyan::node
