// The scheduler: ONE thread owns the Engine and runs continuous batching. Requests are submitted from HTTP
// threads; between steps the scheduler admits waiting requests (up to `parallel` active sequences), and each step
// runs one forward over every active sequence: one token for each decoder, a prefill chunk for sequences still
// reading their prompt (prompts are chunked under a per-step token budget so decoders are not starved). It
// has the engine sample each sequence's next token inside the forward (ForwardOutput::sampling: a device engine
// downloads token ids, and logits only for rows that need logprobs), detokenizes, applies stop strings and pushes
// events to each request's channel.
//
// New sequences start from the longest prefix the prefix cache holds; finished conversations (prompt + completion)
// go back into the cache so the next turn prefills only its new messages.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "format/tokenizer/tokenizer.h"
#include "node/bundle_info.h"
#include "node/channel.h"
#include "node/metrics.h"
#include "runtime/engine.h"

namespace banyan::node {

using Clock = std::chrono::steady_clock;

struct Job {
  enum class Kind { Generate, Score };
  Kind kind = Kind::Generate;
  std::vector<int32_t> prompt;
  // Generate
  SamplingParams sampling;        // validated, with a seed
  int64_t max_tokens = 16;
  std::vector<std::string> stop;
  bool prompt_logprobs = false;   // echo with logprobs: logprobs of every prompt token
  bool ignore_eos = false;
  // Score
  std::vector<int> probe_layers;  // decoder layer indices (MoE layers)
  std::string session;            // keep=true: cache the prefill under this session
  bool keep = false;

  std::shared_ptr<RequestChannel> channel;
  Clock::time_point arrived = Clock::now();
};

struct SchedulerOptions {
  int parallel = 8;              // max active sequences
  int queue = 64;                // max waiting requests (beyond that: 429)
  size_t cache_bytes = size_t(256) << 20;
  int64_t prefill_chunk = 256;   // prompt tokens per step, over all prefilling sequences
};

class Scheduler {
 public:
  Scheduler(Engine& engine, const Tokenizer& tokenizer, const BundleInfo& bundle, Metrics& metrics,
            SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job; throws ApiError(429) when the queue is full.
  void submit(Job job);
  // Drops prefills kept for `session`; returns how many cache entries went.
  size_t release_session(const std::string& session);

  SchedulerGauges gauges() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Active;
  void run();
  void admit(Job job);
  void step();
  bool forward_with_retry(std::vector<BatchItem>& batch, std::vector<Active*>& owners);
  void after_forward(Active& a, size_t item, const BatchItem& bi);
  void prepare_sampling(const std::vector<BatchItem>& batch, const std::vector<Active*>& owners, size_t first,
                        size_t count);
  void sample_next(Active& a, size_t item);
  void finish(Active& a, const std::string& reason);
  void finish_score(Active& a);
  void fail(Active& a, int status, const std::string& message);
  void release(Active& a, bool keep_in_cache);
  void publish_gauges();

  Engine& engine_;
  const Tokenizer& tokenizer_;
  const BundleInfo& bundle_;
  Metrics& metrics_;
  SchedulerOptions options_;
  std::vector<int32_t> eos_;

  class EngineStore;
  std::unique_ptr<EngineStore> store_;
  std::unique_ptr<class PrefixCache> cache_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> waiting_;
  std::deque<std::function<void()>> calls_;  // work to run on the scheduler thread (cache release)
  bool stopping_ = false;
  int64_t in_flight_ = 0;  // submitted and not yet finished (waiting + active)
  SchedulerGauges gauges_;

  std::vector<std::unique_ptr<Active>> active_;
  ForwardOutput out_;  // rows to sample are sampled by the engine (on the device for a device engine)
  std::vector<TokenLogprob> top_scratch_;
  std::thread thread_;
};

}  // namespace banyan::node
