#include "node/scheduler.h"

#include <algorithm>
#include <cmath>

#include "core/log.h"
#include "eval/quality_protocol.h"
#include "node/api_error.h"
#include "node/prefix_cache.h"
#include "runtime/stop_strings.h"

namespace banyan::node {

// The prefix cache's view of the engine's sequences.
class Scheduler::EngineStore : public SequenceStore {
 public:
  explicit EngineStore(Engine& engine) : engine_(engine) {
    const ModelSpec& s = engine.spec();
    const EngineOptions& o = engine.options();
    page_tokens_ = o.kv_page_tokens;
    page_bytes_ = size_t(s.num_layers) * 2 * size_t(o.kv_page_tokens) * size_t(s.num_kv_heads * s.head_dim) *
                  dtype_size(o.kv_dtype);
  }
  SeqId fork(SeqId src) override { return engine_.fork_sequence(src); }
  void trim(SeqId seq, int64_t n) override { engine_.trim_sequence(seq, n); }
  void free(SeqId seq) override { engine_.free_sequence(seq); }
  size_t bytes_for_tokens(int64_t n) const override {
    return size_t((n + page_tokens_ - 1) / page_tokens_) * page_bytes_;
  }

 private:
  Engine& engine_;
  int64_t page_tokens_ = 16;
  size_t page_bytes_ = 0;
};

struct Scheduler::Active {
  Job job;
  SeqId seq = 0;
  int64_t in_kv = 0;   // prompt tokens already in the sequence
  int64_t cached = 0;  // of which reused from the prefix cache
  std::vector<int32_t> generated;
  std::optional<StreamingDecoder> decoder;
  std::optional<StopStringMatcher> stops;
  Clock::time_point last_token;
  bool done = false;
  SampleResult sample;
  PenaltyHistory history;  // prompt ∪ generated, kept only when a penalty is on
  // Score
  RouterTapRequest taps;
  double logprob_sum = 0, mass_sum = 0, tail_logprob_sum = 0;
  int64_t logprob_count = 0, mass_count = 0, tail_logprob_count = 0;
  bool probe_unavailable = false;
  std::vector<TokenInfo> prompt_lps;  // echo with logprobs

  int64_t prompt_size() const { return int64_t(job.prompt.size()); }
  bool prefilling() const { return in_kv < prompt_size(); }
  bool needs_all_logits() const { return job.kind == Job::Kind::Score || job.prompt_logprobs; }
};

Scheduler::Scheduler(Engine& engine, const Tokenizer& tokenizer, const BundleInfo& bundle, Metrics& metrics,
                     SchedulerOptions options)
    : engine_(engine), tokenizer_(tokenizer), bundle_(bundle), metrics_(metrics), options_(options) {
  for (int64_t id : engine.spec().eos_token_ids) eos_.push_back(int32_t(id));
  if (auto eos = tokenizer.special_tokens().eos_id)
    if (std::find(eos_.begin(), eos_.end(), *eos) == eos_.end()) eos_.push_back(*eos);
  store_ = std::make_unique<EngineStore>(engine);
  cache_ = std::make_unique<PrefixCache>(*store_, options_.cache_bytes);
  publish_gauges();
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& a : active_) engine_.free_sequence(a->seq);
  cache_.reset();
}

void Scheduler::submit(Job job) {
  {
    std::lock_guard lock(mu_);
    if (in_flight_ >= int64_t(options_.parallel) + options_.queue)
      throw ApiError(429, fmt::format("the server is busy: {} requests running and {} waiting; retry later",
                                      in_flight_ - int64_t(waiting_.size()), waiting_.size()),
                     "server_busy", std::nullopt, "queue_full");
    waiting_.push_back(std::move(job));
    ++in_flight_;
    gauges_.queued = int64_t(waiting_.size());
  }
  cv_.notify_all();
}

size_t Scheduler::release_session(const std::string& session) {
  auto done = std::make_shared<std::promise<size_t>>();
  auto result = done->get_future();
  {
    std::lock_guard lock(mu_);
    calls_.push_back([this, session, done] { done->set_value(cache_->release_session(session)); });
  }
  cv_.notify_all();
  return result.get();
}

SchedulerGauges Scheduler::gauges() const {
  std::lock_guard lock(mu_);
  return gauges_;
}

void Scheduler::publish_gauges() {
  const auto& cs = cache_->stats();
  std::lock_guard lock(mu_);
  gauges_.active = int64_t(active_.size());
  gauges_.queued = int64_t(waiting_.size());
  gauges_.cache_lookups = cs.lookups;
  gauges_.cache_hits = cs.hits;
  gauges_.cache_hit_tokens = cs.hit_tokens;
  gauges_.cache_entries = cs.entries;
  gauges_.cache_bytes = cs.bytes;
  gauges_.kv_bytes_in_use = engine_.kv_bytes_in_use();
  gauges_.kv_bytes_capacity = engine_.kv_bytes_capacity();
}

void Scheduler::run() {
  while (true) {
    const size_t before = active_.size();
    std::vector<Job> incoming;
    std::deque<std::function<void()>> calls;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !calls_.empty() || !active_.empty(); });
      if (stopping_) break;
      calls.swap(calls_);
      while (!waiting_.empty() && active_.size() + incoming.size() < size_t(options_.parallel)) {
        incoming.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
      }
    }
    try {
      for (auto& call : calls) call();
      for (auto& job : incoming) admit(std::move(job));
      for (auto& a : active_) {
        if (!a->done && a->job.channel->cancelled()) {
          metrics_.add_cancelled();
          a->done = true;
          release(*a, /*keep_in_cache=*/true);
        }
      }
      std::erase_if(active_, [](const auto& a) { return a->done; });
      if (!active_.empty()) step();
      std::erase_if(active_, [](const auto& a) { return a->done; });
    } catch (const std::exception& e) {
      // Never let one bad step kill the server: fail what is running and go on.
      spdlog::error("scheduler: {}", e.what());
      for (auto& a : active_)
        if (!a->done) fail(*a, 500, fmt::format("internal error: {}", e.what()));
      active_.clear();
    }
    // Jobs that ended this round (finished, failed, cancelled, or never admitted) leave the in-flight count.
    const size_t ended = before + incoming.size() - active_.size();
    {
      std::lock_guard lock(mu_);
      in_flight_ -= int64_t(ended);
    }
    publish_gauges();
  }
}

void Scheduler::admit(Job job) {
  if (job.channel->cancelled()) {
    metrics_.add_cancelled();
    return;
  }
  metrics_.observe_queue_wait(std::chrono::duration<double>(Clock::now() - job.arrived).count());
  auto a = std::make_unique<Active>();
  a->job = std::move(job);
  a->last_token = a->job.arrived;
  try {
    // Jobs that need logits for every prompt position (score, echo logprobs) compute the whole prompt.
    std::optional<PrefixCache::Match> match;
    if (!a->needs_all_logits()) match = cache_->acquire(a->job.prompt, a->prompt_size() - 1);
    if (match) {
      a->seq = match->seq;
      a->in_kv = a->cached = match->reused;
    } else {
      a->seq = engine_.create_sequence();
    }
  } catch (const std::exception& e) {
    a->done = true;
    a->job.channel->push(StreamEvent::error(503, fmt::format("cannot start the sequence: {}", e.what())));
    return;
  }
  metrics_.add_prompt_tokens(uint64_t(a->prompt_size()));
  metrics_.add_prefilled_tokens(uint64_t(a->prompt_size() - a->cached));
  if (a->job.kind == Job::Kind::Generate) {
    a->decoder.emplace(tokenizer_, /*skip_special_tokens=*/true);
    a->stops.emplace(a->job.stop);
    if (penalties_enabled(a->job.sampling)) a->history.reset(a->job.prompt);
  } else {
    a->taps.layers = a->job.probe_layers;
  }
  active_.push_back(std::move(a));
}

void Scheduler::step() {
  std::vector<BatchItem> batch;
  std::vector<Active*> owners;
  int64_t budget = options_.prefill_chunk;
  // Decoders first: they always get their token; prompts share what is left of the budget.
  for (auto& a : active_) {
    if (a->prefilling()) continue;
    BatchItem item;
    item.seq = a->seq;
    item.tokens = {a->generated.back()};
    item.logits = LogitsRequest::last();
    batch.push_back(std::move(item));
    owners.push_back(a.get());
  }
  for (auto& a : active_) {
    if (!a->prefilling()) continue;
    const int64_t n = std::min(a->prompt_size() - a->in_kv, budget);
    if (n <= 0) break;
    budget -= n;
    BatchItem item;
    item.seq = a->seq;
    item.tokens.assign(a->job.prompt.begin() + a->in_kv, a->job.prompt.begin() + a->in_kv + n);
    const bool completes = a->in_kv + n == a->prompt_size();
    item.logits = a->needs_all_logits() ? LogitsRequest::all() : completes ? LogitsRequest::last() : LogitsRequest::none();
    if (a->job.kind == Job::Kind::Score) item.taps = &a->taps;
    batch.push_back(std::move(item));
    owners.push_back(a.get());
  }
  if (batch.empty()) return;
  prepare_sampling(batch, owners, 0, batch.size());
  if (forward_with_retry(batch, owners)) {
    for (size_t i = 0; i < batch.size(); ++i) after_forward(*owners[i], i, batch[i]);
    return;
  }
  // The batch as a whole failed even after evicting the cache: run items alone to fail only the culprits.
  for (size_t i = 0; i < batch.size(); ++i) {
    std::span<BatchItem> one(&batch[i], 1);
    try {
      prepare_sampling(batch, owners, i, 1);
      engine_.forward(one, out_);
      after_forward(*owners[i], 0, batch[i]);
    } catch (const std::exception& e) {
      fail(*owners[i], 503, fmt::format("the engine could not run this request: {}", e.what()));
    }
  }
}

// One sampling request per logits row of batch[first, first + count): a Generate item's last row when its prompt is
// complete after this step (decode steps always), with the row's logits only when the request wants logprobs;
// rows of score and echo-logprobs prefills are not sampled (their logits are returned).
void Scheduler::prepare_sampling(const std::vector<BatchItem>& batch, const std::vector<Active*>& owners,
                                 size_t first, size_t count) {
  out_.sampling.clear();
  for (size_t i = first; i < first + count; ++i) {
    const BatchItem& bi = batch[i];
    const Active& a = *owners[i];
    const int64_t n = int64_t(bi.tokens.size());
    int64_t rows = 0;
    switch (bi.logits.kind) {
      case LogitsRequest::Kind::None: break;
      case LogitsRequest::Kind::Last: rows = 1; break;
      case LogitsRequest::Kind::All: rows = n; break;
      case LogitsRequest::Kind::Positions: rows = int64_t(bi.logits.positions.size()); break;
    }
    const bool samples = a.job.kind == Job::Kind::Generate && (!a.prefilling() || a.in_kv + n == a.prompt_size());
    for (int64_t j = 0; j < rows; ++j) {
      RowSampling rs;
      if (samples && j + 1 == rows) {
        rs.params = &a.job.sampling;
        rs.step = uint64_t(a.generated.size());
        rs.history = a.history.entries();
        rs.logits = a.job.sampling.logprobs;
      }
      out_.sampling.push_back(rs);
    }
  }
}

bool Scheduler::forward_with_retry(std::vector<BatchItem>& batch, std::vector<Active*>&) {
  while (true) {
    try {
      engine_.forward(batch, out_);
      return true;
    } catch (const Error& e) {
      // Most likely the KV pages ran out: cached prefixes are the memory we can give back.
      if (!cache_->evict_one()) {
        spdlog::warn("scheduler: forward failed with an empty prefix cache: {}", e.what());
        return false;
      }
    }
  }
}

void Scheduler::after_forward(Active& a, size_t item, const BatchItem& bi) {
  if (a.done) return;
  const int64_t n_new = int64_t(bi.tokens.size());
  if (!a.prefilling()) {  // a decode step: the fed token is now in the KV
    sample_next(a, item);
    return;
  }
  const int64_t start = a.in_kv;
  const int64_t P = a.prompt_size();
  if (a.needs_all_logits()) {
    const size_t top_n = a.job.kind == Job::Kind::Score ? 0 : size_t(a.job.sampling.top_logprobs);
    for (int64_t j = 0; j < out_.num_rows(item); ++j) {
      const int64_t pos = start + out_.row_positions[size_t(out_.item_rows[item] + j)];
      if (pos + 1 >= P) continue;
      const int32_t next = a.job.prompt[size_t(pos + 1)];
      const float lp = raw_logprobs(out_.row(item, j), next, top_n, top_scratch_);
      a.logprob_sum += lp;
      ++a.logprob_count;
      // Target pos + 1; the tail leaves out targets 1..kAutoSkipPromptTokens (finish_score).
      if (pos + 1 > quality::kAutoSkipPromptTokens) {
        a.tail_logprob_sum += lp;
        ++a.tail_logprob_count;
      }
      if (a.job.prompt_logprobs) a.prompt_lps.push_back({next, lp, top_scratch_});
    }
  }
  if (a.job.kind == Job::Kind::Score) {
    const auto moe_layers = engine_.spec().moe_layers();
    for (const RouterTap& tap : a.taps.taps) {
      const int64_t width = n_new > 0 ? int64_t(tap.probs.size()) / n_new : 0;
      if (width != bundle_.global_experts) {
        // A bundle without router-full.safetensors: its own router only scores its local experts, and the
        // unmasked probe needs the full router's probabilities (the engine taps router-full when present).
        a.probe_unavailable = true;
        continue;
      }
      const auto ord = size_t(std::find(moe_layers.begin(), moe_layers.end(), tap.layer) - moe_layers.begin());
      const std::vector<uint8_t> mask = bundle_.local_mask(ord);
      for (int64_t t = 0; t < n_new; ++t) {
        a.mass_sum += captured_topk_mass({tap.probs.data() + t * width, size_t(width)}, bundle_.global_top_k, mask);
        ++a.mass_count;
      }
    }
  }
  a.in_kv += n_new;
  if (a.prefilling()) return;
  if (a.job.kind == Job::Kind::Score) {
    finish_score(a);
    return;
  }
  if (a.job.prompt_logprobs) {
    StreamEvent ev = StreamEvent::of(StreamEvent::Kind::PromptLogprobs);
    ev.tokens.push_back({a.job.prompt[0], std::nanf(""), {}});
    for (auto& t : a.prompt_lps) ev.tokens.push_back(std::move(t));
    a.prompt_lps.clear();
    a.job.channel->push(std::move(ev));
  }
  sample_next(a, item);
}

// The token the engine sampled for the item's last row (prepare_sampling asked for it), with its logprobs from the
// row's raw logits when the request wants them.
void Scheduler::sample_next(Active& a, size_t item) {
  const int64_t r = out_.item_rows[item] + out_.num_rows(item) - 1;
  const int32_t token = out_.sampled.at(size_t(r));
  BANYAN_CHECK(token >= 0, "scheduler: the engine sampled no token for row {}", r);
  a.sample.token = token;
  a.sample.top_logprobs.clear();
  if (a.job.sampling.logprobs)
    a.sample.logprob = raw_logprobs(out_.row(item, out_.num_rows(item) - 1), token,
                                    size_t(a.job.sampling.top_logprobs), a.sample.top_logprobs);
  else
    a.sample.logprob = std::nanf("");
  a.generated.push_back(token);
  if (penalties_enabled(a.job.sampling)) a.history.add(token);
  metrics_.add_generated_tokens(1);
  const auto now = Clock::now();
  const double since = std::chrono::duration<double>(now - a.last_token).count();
  if (a.generated.size() == 1) metrics_.observe_ttft(since);
  else metrics_.observe_inter_token(since);
  a.last_token = now;

  if (!a.job.ignore_eos && std::find(eos_.begin(), eos_.end(), token) != eos_.end()) {
    finish(a, "stop");
    return;
  }
  StreamEvent ev = StreamEvent::of(StreamEvent::Kind::Tokens);
  const auto piece = a.stops->feed(a.decoder->push(token));
  ev.text = piece.text;
  ev.tokens.push_back({token, a.sample.logprob, a.sample.top_logprobs});
  a.job.channel->push(std::move(ev));
  if (piece.stopped) {
    finish(a, "stop");
    return;
  }
  const int64_t total = a.prompt_size() + int64_t(a.generated.size());
  if (int64_t(a.generated.size()) >= a.job.max_tokens || total >= engine_.spec().max_position_embeddings)
    finish(a, "length");
}

void Scheduler::finish(Active& a, const std::string& reason) {
  StreamEvent ev = StreamEvent::of(StreamEvent::Kind::Done);
  ev.finish_reason = reason;
  if (!a.stops->stopped()) {
    const auto piece = a.stops->feed(a.decoder->finish());
    ev.text = piece.text;
    if (piece.stopped) ev.finish_reason = "stop";
    else ev.text += a.stops->finish();
  }
  ev.prompt_tokens = a.prompt_size();
  ev.completion_tokens = int64_t(a.generated.size());
  ev.cached_tokens = a.cached;
  a.job.channel->push(std::move(ev));
  a.done = true;
  release(a, /*keep_in_cache=*/true);
}

void Scheduler::finish_score(Active& a) {
  nlohmann::json r;
  r["prompt_tokens"] = a.prompt_size();
  r["prompt_logprob"] = a.logprob_count ? nlohmann::json(a.logprob_sum / double(a.logprob_count)) : nlohmann::json();
  // The router's `auto` metric, as eval quality's: the mean without the first kAutoSkipPromptTokens targets (all of
  // them when the prompt has no more).
  r["prompt_logprob_tail"] = a.tail_logprob_count
                                 ? nlohmann::json(a.tail_logprob_sum / double(a.tail_logprob_count))
                                 : r["prompt_logprob"];
  r["prompt_tail_skip"] = quality::kAutoSkipPromptTokens;
  if (a.probe_unavailable || a.mass_count == 0) {
    r["probe_mass"] = nullptr;
    r["probe_error"] = a.probe_unavailable
                           ? "this bundle has no router-full.safetensors, so the unmasked router cannot be probed"
                           : "no probe layers";
  } else {
    r["probe_mass"] = a.mass_sum / double(a.mass_count);
  }
  std::vector<int> layers;
  for (const auto& t : a.taps.taps) layers.push_back(t.layer);
  r["probe_layers"] = layers;
  r["kept"] = a.job.keep && !a.job.session.empty();
  StreamEvent ev = StreamEvent::of(StreamEvent::Kind::Done);
  ev.prompt_tokens = a.prompt_size();
  ev.result = std::move(r);
  a.job.channel->push(std::move(ev));
  a.done = true;
  if (a.job.keep && !a.job.session.empty()) {
    cache_->insert(a.seq, a.job.prompt, a.job.session);
    a.seq = 0;
  } else {
    release(a, /*keep_in_cache=*/false);
  }
}

void Scheduler::fail(Active& a, int status, const std::string& message) {
  a.job.channel->push(StreamEvent::error(status, message));
  a.done = true;
  release(a, /*keep_in_cache=*/false);
}

void Scheduler::release(Active& a, bool keep_in_cache) {
  if (a.seq == 0) return;
  const SeqId seq = a.seq;
  a.seq = 0;
  if (!keep_in_cache) {
    engine_.free_sequence(seq);
    return;
  }
  // The KV holds the prompt read so far and every generated token but the last (never fed back).
  std::vector<int32_t> tokens(a.job.prompt.begin(), a.job.prompt.begin() + a.in_kv);
  if (!a.prefilling() && !a.generated.empty())
    tokens.insert(tokens.end(), a.generated.begin(), a.generated.end() - 1);
  if (int64_t(tokens.size()) != engine_.sequence_length(seq)) {
    spdlog::warn("scheduler: sequence {} holds {} tokens, expected {}; not caching it", seq,
                 engine_.sequence_length(seq), tokens.size());
    engine_.free_sequence(seq);
    return;
  }
  cache_->insert(seq, std::move(tokens));
}

}  // namespace banyan::node
