#include "node/server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "format/jinja/chat_template.h"
#include "format/tokenizer/tokenizer.h"
#include "node/api_error.h"
#include "node/bundle_info.h"
#include "node/http_bind.h"
#include "node/metrics.h"
#include "node/openai_format.h"
#include "node/prompt_builder.h"
#include "node/request.h"
#include "node/scheduler.h"
#include "node/sse.h"
#include "runtime/engine.h"

namespace banyan::node {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Everything that exists once the model has loaded.
struct LoadedModel {
  std::unique_ptr<Engine> engine;
  std::optional<Tokenizer> tokenizer;
  std::unique_ptr<PromptBuilder> prompts;
  BundleInfo bundle;
  std::unique_ptr<Scheduler> scheduler;
  int64_t max_context = 0;
};

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(to_json_text(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status(), error_body(e)); }

std::optional<ChatTemplate> load_chat_template(const fs::path& dir) {
  try {
    return ChatTemplate::load(dir);
  } catch (const Error& e) {
    spdlog::warn("serve: no usable chat template in {} ({}); /v1/chat/completions will answer 400", dir.string(),
                 e.what());
    return std::nullopt;
  }
}

// KV bytes one token takes in every layer (fp32 K and V), for sizing the engine's cache.
size_t kv_bytes_per_token(const ModelSpec& s) {
  return size_t(s.num_layers) * 2 * size_t(s.num_kv_heads * s.head_dim) * sizeof(float);
}

}  // namespace

struct NodeServer::Impl {
  ServerOptions opt;
  httplib::Server http;
  int port = 0;
  Metrics metrics;
  std::atomic<bool> shutting_down{false};
  int64_t started = std::time(nullptr);

  std::mutex load_mu;
  std::shared_ptr<LoadedModel> model;  // null while loading
  std::string load_error;
  std::thread loader;

  explicit Impl(ServerOptions o) : opt(std::move(o)) {
    if (opt.name.empty()) opt.name = fs::absolute(opt.model_dir).lexically_normal().filename().string();
    if (opt.name.empty()) opt.name = fs::absolute(opt.model_dir).lexically_normal().parent_path().filename().string();
  }

  std::shared_ptr<LoadedModel> loaded() {
    std::lock_guard lock(load_mu);
    return model;
  }
  std::shared_ptr<LoadedModel> require_loaded() {
    auto m = loaded();
    if (!m) throw ApiError(503, "the model is still loading; retry shortly", "service_unavailable", std::nullopt,
                           "model_loading");
    return m;
  }

  void load() {
    try {
      auto m = std::make_shared<LoadedModel>();
      const ModelSpec spec = load_model_spec(opt.model_dir);
      m->max_context = opt.max_context > 0 ? std::min(opt.max_context, spec.max_position_embeddings)
                                           : spec.max_position_embeddings;
      EngineOptions eo;
      eo.threads = opt.threads;
      eo.device = opt.device;
      eo.expert_dtype = parse_expert_dtype(opt.expert_dtype);
      eo.device_sampling = opt.device_sampling;
      // Room for every active sequence at full context, plus the prefix cache's budget.
      eo.kv_cache_bytes = opt.cache_bytes + size_t(opt.parallel + 1) * size_t(m->max_context + 32) * kv_bytes_per_token(spec);
      m->engine = Engine::load(opt.model_dir, eo);
      m->tokenizer.emplace(Tokenizer::load(opt.model_dir));
      m->prompts = std::make_unique<PromptBuilder>(*m->tokenizer, load_chat_template(opt.model_dir),
                                                   m->engine->spec().vocab_size);
      m->bundle = load_bundle_info(opt.model_dir, m->engine->spec());
      SchedulerOptions so;
      so.parallel = opt.parallel;
      so.queue = opt.queue;
      so.cache_bytes = opt.cache_bytes;
      so.prefill_chunk = opt.prefill_chunk;
      m->scheduler = std::make_unique<Scheduler>(*m->engine, *m->tokenizer, m->bundle, metrics, so);
      spdlog::info("serve: {} loaded from {} (max context {}, parallel {}, KV capacity {} MiB)", opt.name,
                   opt.model_dir.string(), m->max_context, opt.parallel, m->engine->kv_bytes_capacity() >> 20);
      std::lock_guard lock(load_mu);
      model = std::move(m);
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(load_mu);
        load_error = e.what();
      }
      spdlog::error("serve: loading {} failed: {}", opt.model_dir.string(), e.what());
      http.stop();
    }
  }

  // ---- shared request plumbing ----

  void check_auth(const httplib::Request& req) const {
    if (opt.api_key.empty()) return;
    const std::string auth = req.get_header_value("Authorization");
    const std::string expected = "Bearer " + opt.api_key;
    if (auth == expected || req.get_header_value("api-key") == opt.api_key) return;
    throw ApiError(401, auth.empty() ? "missing API key: send 'Authorization: Bearer <key>'" : "invalid API key",
                   "invalid_request_error", std::nullopt, "invalid_api_key");
  }

  void check_model(const std::string& requested) const {
    if (!requested.empty() && requested != opt.name)
      throw ApiError(404, fmt::format("the model '{}' does not exist; this node serves '{}'", requested, opt.name),
                     "invalid_request_error", "model", "model_not_found");
  }

  // Wraps a handler: auth, ApiError → error object, anything else → 500 (and counted).
  template <class F>
  httplib::Server::Handler endpoint(std::string label, bool needs_auth, F f) {
    return [this, label, needs_auth, f](const httplib::Request& req, httplib::Response& res) {
      try {
        if (needs_auth) check_auth(req);
        f(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const std::exception& e) {
        spdlog::error("serve: {} {}: {}", req.method, req.path, e.what());
        send_json(res, 500, error_body(fmt::format("internal error: {}", e.what()), "server_error"));
      }
      metrics.count_request(label, res.status);
    };
  }

  // ---- generation ----

  void generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
    auto m = require_loaded();
    const json body = parse_json_body(req.body);
    GenerationRequest r = parse_generation_request(body, endpoint);
    check_model(r.model);
    std::vector<int32_t> prompt = m->prompts->build(r);
    if (prompt.empty()) throw ApiError(400, "the prompt is empty after tokenization", "invalid_request_error",
                                       endpoint == Endpoint::Chat ? "messages" : "prompt");
    const int64_t n_prompt = int64_t(prompt.size());
    if (n_prompt >= m->max_context)
      throw ApiError(400, fmt::format("this model's maximum context length is {} tokens, but the prompt has {} "
                                      "tokens (no room left for the completion)",
                                      m->max_context, n_prompt),
                     "invalid_request_error", endpoint == Endpoint::Chat ? "messages" : "prompt",
                     "context_length_exceeded");
    if (r.max_tokens && n_prompt + *r.max_tokens > m->max_context)
      throw ApiError(400, fmt::format("this model's maximum context length is {} tokens; you requested {} tokens "
                                      "({} in the prompt, {} for the completion)",
                                      m->max_context, n_prompt + *r.max_tokens, n_prompt, *r.max_tokens),
                     "invalid_request_error", "max_tokens", "context_length_exceeded");

    Job job;
    job.kind = Job::Kind::Generate;
    job.sampling = with_seed(r.sampling);
    job.max_tokens = r.max_tokens.value_or(m->max_context - n_prompt);
    job.stop = r.stop;
    job.ignore_eos = r.ignore_eos;
    job.prompt_logprobs = endpoint == Endpoint::Completions && r.echo && r.sampling.logprobs;
    job.channel = std::make_shared<RequestChannel>();

    ResponseInfo info;
    info.endpoint = endpoint;
    info.id = new_response_id(endpoint);
    info.created = std::time(nullptr);
    info.model = opt.name;
    info.logprobs = r.sampling.logprobs;
    info.top_logprobs = r.sampling.top_logprobs;
    info.include_usage = r.stream && r.include_usage;
    if (endpoint == Endpoint::Completions && r.echo)
      info.echo_text = r.prompt_text ? *r.prompt_text : m->tokenizer->decode(prompt);
    job.prompt = std::move(prompt);
    auto channel = job.channel;
    m->scheduler->submit(std::move(job));  // 429 when the queue is full

    if (r.stream) {
      stream_response(res, m, channel, info);
      return;
    }
    ResponseFormatter fmt(*m->tokenizer, info);
    std::vector<StreamEvent> events;
    while (true) {
      events.clear();
      if (!channel->pop_all(events, 1000ms)) {
        if (shutting_down) {
          channel->cancel();
          throw ApiError(503, "the server is shutting down", "service_unavailable");
        }
        continue;
      }
      for (const auto& ev : events) {
        if (ev.kind == StreamEvent::Kind::Error) throw ApiError(ev.status, ev.message, "server_error");
        fmt.add(ev);
        if (ev.kind == StreamEvent::Kind::Done) {
          send_json(res, 200, fmt.final_response());
          return;
        }
      }
    }
  }

  void stream_response(httplib::Response& res, std::shared_ptr<LoadedModel> m,
                       std::shared_ptr<RequestChannel> channel, const ResponseInfo& info) {
    auto formatter = std::make_shared<ResponseFormatter>(*m->tokenizer, info);
    auto finished = std::make_shared<bool>(false);
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, m, channel, formatter, finished](size_t, httplib::DataSink& sink) {
          std::vector<StreamEvent> events;
          auto quiet_since = Clock::now();
          while (!channel->pop_all(events, 250ms)) {
            if (shutting_down) return false;
            // While a request waits in the queue nothing is written; a comment every few seconds notices a
            // client that went away (the write fails) and frees its place.
            if (Clock::now() - quiet_since > 3s) {
              const std::string ka = sse_keepalive();
              if (!sink.write(ka.data(), ka.size())) return false;
              quiet_since = Clock::now();
            }
          }
          std::string out;
          bool end = false;
          for (const auto& ev : events) {
            if (ev.kind == StreamEvent::Kind::Error) {
              out += sse_event(error_body(ev.message, "server_error"));
              end = true;
              break;
            }
            for (const auto& c : formatter->chunks(ev)) out += sse_event(c);
            if (ev.kind == StreamEvent::Kind::Done) {
              end = true;
              break;
            }
          }
          if (end) out += sse_done();
          if (!out.empty() && !sink.write(out.data(), out.size())) return false;  // client gone
          if (end) {
            *finished = true;
            sink.done();
          }
          return true;
        },
        [channel, finished](bool) {
          if (!*finished) channel->cancel();  // disconnect (or shutdown) mid-stream: free the slot
        });
  }

  // ---- banyan endpoints ----

  json load_json(const LoadedModel& m) const {
    const SchedulerGauges g = m.scheduler->gauges();
    return {{"active", g.active}, {"queued", g.queued}, {"parallel", opt.parallel}};
  }

  void score(const httplib::Request& req, httplib::Response& res) {
    auto m = require_loaded();
    const json body = parse_json_body(req.body);
    Job job;
    job.kind = Job::Kind::Score;
    std::optional<int64_t> probe_count;
    std::vector<int> probe_list;
    bool have_prompt = false;
    for (const auto& [key, v] : body.items()) {
      if (key == "prompt") {
        if (!v.is_string() || v.get<std::string>().empty()) bad_param("prompt", "prompt must be a non-empty string");
        job.prompt = m->prompts->text(v.get<std::string>());
        have_prompt = true;
      } else if (key == "messages") {
        // Tokenized exactly as the chat request will be, so a kept prefill matches the next request's prompt.
        GenerationRequest r = parse_generation_request(json{{"messages", v}}, Endpoint::Chat);
        job.prompt = m->prompts->chat(r.messages, true);
        have_prompt = true;
      } else if (key == "session") {
        if (!v.is_null()) {
          if (!v.is_string()) bad_param("session", "session must be a string");
          job.session = v.get<std::string>();
        }
      } else if (key == "keep") {
        if (!v.is_boolean()) bad_param("keep", "keep must be a boolean");
        job.keep = v.get<bool>();
      } else if (key == "probe_layers") {
        if (v.is_number_integer()) {
          probe_count = v.get<int64_t>();
        } else if (v.is_array()) {
          for (const auto& l : v) {
            if (!l.is_number_integer()) bad_param("probe_layers", "probe_layers must be an integer or a list of layer indices");
            probe_list.push_back(l.get<int>());
          }
        } else {
          bad_param("probe_layers", "probe_layers must be an integer (first N MoE layers) or a list of layer indices");
        }
      } else if (key == "model") {
        if (!v.is_string()) bad_param("model", "model must be a string");
        check_model(v.get<std::string>());
      } else {
        bad_param(key, fmt::format("unknown field '{}'", key));
      }
    }
    if (!have_prompt) bad_param("prompt", "prompt or messages is required");
    if (job.keep && job.session.empty()) bad_param("session", "keep=true needs a session");
    if (job.prompt.empty()) bad_param("prompt", "the prompt is empty after tokenization");
    if (int64_t(job.prompt.size()) >= m->max_context)
      throw ApiError(400, fmt::format("this model's maximum context length is {} tokens, but the prompt has {} tokens",
                                      m->max_context, job.prompt.size()),
                     "invalid_request_error", "prompt", "context_length_exceeded");
    const std::vector<int> moe = m->engine->spec().moe_layers();
    if (probe_list.empty()) {
      const int64_t n = probe_count.value_or(2);
      if (n < 1 || n > int64_t(moe.size()))
        bad_param("probe_layers", fmt::format("probe_layers must be in [1, {}] (MoE layers)", moe.size()));
      probe_list.assign(moe.begin(), moe.begin() + n);
    } else {
      for (int l : probe_list)
        if (!m->engine->spec().is_moe_layer(l))
          bad_param("probe_layers", fmt::format("layer {} is not an MoE layer", l));
    }
    job.probe_layers = probe_list;
    job.channel = std::make_shared<RequestChannel>();
    auto channel = job.channel;
    m->scheduler->submit(std::move(job));
    std::vector<StreamEvent> events;
    while (true) {
      events.clear();
      if (!channel->pop_all(events, 1000ms)) {
        if (shutting_down) throw ApiError(503, "the server is shutting down", "service_unavailable");
        continue;
      }
      for (const auto& ev : events) {
        if (ev.kind == StreamEvent::Kind::Error) throw ApiError(ev.status, ev.message, "server_error");
        if (ev.kind == StreamEvent::Kind::Done) {
          json out = ev.result;
          out["node"] = opt.name;
          out["load"] = load_json(*m);
          send_json(res, 200, out);
          return;
        }
      }
    }
  }

  void node_info(httplib::Response& res) {
    auto m = require_loaded();
    const SchedulerGauges g = m->scheduler->gauges();
    json cache{{"entries", g.cache_entries}, {"bytes", g.cache_bytes}, {"max_bytes", opt.cache_bytes},
               {"lookups", g.cache_lookups}, {"hits", g.cache_hits}, {"hit_tokens", g.cache_hit_tokens},
               {"kv_bytes_in_use", g.kv_bytes_in_use}, {"kv_bytes_capacity", g.kv_bytes_capacity}};
    send_json(res, 200, {{"name", opt.name}, {"model", opt.name}, {"model_dir", fs::absolute(opt.model_dir).string()},
                         {"max_context", m->max_context}, {"bundle", m->bundle.summary()}, {"load", load_json(*m)},
                         {"cache", cache}});
  }

  void release(const httplib::Request& req, httplib::Response& res) {
    auto m = require_loaded();
    const json body = parse_json_body(req.body);
    auto s = body.find("session");
    if (s == body.end() || !s->is_string() || s->get<std::string>().empty())
      bad_param("session", "session (a non-empty string) is required");
    const size_t n = m->scheduler->release_session(s->get<std::string>());
    send_json(res, 200, {{"session", *s}, {"released", n}});
  }

  void routes() {
    http.Post("/v1/chat/completions", endpoint("chat_completions", true, [this](const auto& q, auto& s) {
                generate(q, s, Endpoint::Chat);
              }));
    http.Post("/v1/completions", endpoint("completions", true, [this](const auto& q, auto& s) {
                generate(q, s, Endpoint::Completions);
              }));
    http.Get("/v1/models", endpoint("models", true, [this](const auto&, auto& s) {
               send_json(s, 200, {{"object", "list"},
                                  {"data", json::array({{{"id", opt.name}, {"object", "model"}, {"created", started},
                                                         {"owned_by", "banyan"}}})}});
             }));
    http.Post("/v1/banyan/score", endpoint("score", true, [this](const auto& q, auto& s) { score(q, s); }));
    http.Post("/v1/banyan/release", endpoint("release", true, [this](const auto& q, auto& s) { release(q, s); }));
    http.Get("/v1/banyan/node", endpoint("node", true, [this](const auto&, auto& s) { node_info(s); }));
    http.Get("/health", endpoint("health", false, [this](const auto&, auto& s) {
               if (loaded()) {
                 send_json(s, 200, {{"status", "ok"}, {"model", opt.name}});
               } else {
                 std::lock_guard lock(load_mu);
                 send_json(s, 503, {{"status", load_error.empty() ? "loading" : "error"}, {"error", load_error}});
               }
             }));
    http.Get("/metrics", endpoint("metrics", false, [this](const auto&, auto& s) {
               auto m = loaded();
               s.status = 200;
               s.set_content(metrics.render(m ? m->scheduler->gauges() : SchedulerGauges{}),
                             "text/plain; version=0.0.4");
             }));
    // Unknown routes and methods: an OpenAI error object, not httplib's empty 404.
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404) {
        send_json(res, 404, error_body(fmt::format("unknown route: {} {}", req.method, req.path), "invalid_request_error",
                                       std::nullopt, "unknown_url"));
        metrics.count_request("unknown", 404);
      } else {
        send_json(res, res.status, error_body(fmt::format("HTTP {}", res.status), "invalid_request_error"));
      }
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      send_json(res, 500, error_body("internal error", "server_error"));
    });
    http.set_payload_max_length(size_t(64) << 20);
  }
};

NodeServer::NodeServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  const size_t workers = size_t(std::max(64, impl_->opt.parallel + impl_->opt.queue + 16));
  impl_->http.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  impl_->routes();
}

NodeServer::~NodeServer() {
  stop();
  if (impl_->loader.joinable()) impl_->loader.join();
}

void NodeServer::bind() {
  auto& i = *impl_;
  i.port = bind_http_server(i.http, i.opt.host, i.opt.port, "serve");
}

int NodeServer::bound_port() const { return impl_->port; }

void NodeServer::run() {
  auto& i = *impl_;
  i.loader = std::thread([&i] { i.load(); });
  spdlog::info("serve: listening on http://{}:{} (loading {})", i.opt.host, i.port, i.opt.model_dir.string());
  i.http.listen_after_bind();
  i.shutting_down = true;
  if (i.loader.joinable()) i.loader.join();
  std::lock_guard lock(i.load_mu);
  if (!i.load_error.empty()) fail("serve: cannot load {}: {}", i.opt.model_dir.string(), i.load_error);
}

void NodeServer::stop() {
  impl_->shutting_down = true;
  impl_->http.stop();
}

}  // namespace banyan::node
