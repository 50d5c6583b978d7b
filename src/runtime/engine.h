// The CPU inference engine: loads a model (HF directory or banyan bundle, identically), owns its paged KV cache,
// and runs batched forward passes where each item appends any number of tokens to its sequence (prefill and
// decode are the same call).
//
// Threading: one thread (the scheduler) calls forward and the sequence functions; other threads may call the
// const accessors (spec(), options()) at any time. Calls that mutate are serialised by an internal mutex anyway.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/model_spec.h"
#include "runtime/cuda/device_backend.h"
#include "runtime/kv_cache.h"
#include "runtime/model_weights.h"
#include "runtime/ops/moe.h"
#include "runtime/ops/rope.h"
#include "runtime/sampler.h"

namespace banyan {

struct EngineOptions {
  int threads = 0;                       // ≤ 0: all hardware threads
  size_t kv_cache_bytes = size_t(1) << 30;
  int kv_page_tokens = 16;
  DType kv_dtype = DType::F32;           // F32 (exact) or BF16 (half the memory)
  std::string device = "cpu";            // "cpu", "cuda" or "cuda:i" (the CUDA backend: runtime/cuda/)
  // Storage of the routed experts: nullopt keeps the checkpoint's; BF16 rounds f32/f16 experts to bf16;
  // F8_E4M3 quantises them at load to fp8 e4m3 with one fp32 scale per row (runtime/ops/fp8.h). The CPU engine
  // holds the dequantised values (fp32) and computes with them, so it measures the quality of exactly what the
  // CUDA engine's fp8 kernels compute; the CUDA engine stores the fp8 bytes. Other weights are unchanged.
  std::optional<DType> expert_dtype;
  // Device engines: pick ForwardOutput::sampling rows on the device (runtime/ops/cuda/sampling_cuda.h), so only
  // token ids are downloaded. Off by default until that sampler's agreement test (tests/cuda/test_cuda_sampling.cc)
  // has passed on a GPU: the rows' logits are then downloaded and the CPU Sampler picks, as on the CPU engine.
  bool device_sampling = false;
};

// "bf16" → BF16, "fp8" → F8_E4M3, "" (or "auto") → nullopt (the checkpoint's); anything else fails.
std::optional<DType> parse_expert_dtype(const std::string& name);

// Which positions of an item's NEW tokens get logits.
struct LogitsRequest {
  enum class Kind { None, Last, All, Positions };
  Kind kind = Kind::Last;
  std::vector<int32_t> positions;  // Kind::Positions: indices into the item's new tokens, each in [0, n_new)

  static LogitsRequest none() { return {Kind::None, {}}; }
  static LogitsRequest last() { return {Kind::Last, {}}; }
  static LogitsRequest all() { return {Kind::All, {}}; }
  static LogitsRequest at(std::vector<int32_t> p) { return {Kind::Positions, std::move(p)}; }
};

// Run-time expert restriction with the semantics of a sliced bundle (see runtime/ops/router.h): per MoE layer,
// softmax over the allowed experts only, then the family's top-k / renormalisation with
// k = min(top_k, allowed count). An optional top-k override replaces the config's k (e.g. top-12 for evaluation);
// ExpertRestriction::all(spec, k) is "no restriction, top-k = k".
class ExpertRestriction {
 public:
  // `allowed`: one list (applies to every MoE layer) or one list per MoE layer, in layer order; ids in
  // [0, num_experts). Errors name the MoE layer and the bad id; an empty list is an error.
  ExpertRestriction(const ModelSpec& spec, const std::vector<std::vector<int32_t>>& allowed,
                    std::optional<int> top_k_override = std::nullopt);
  static ExpertRestriction all(const ModelSpec& spec, std::optional<int> top_k_override = std::nullopt);

  // E bytes (nonzero = allowed) for the MoE layer with this ordinal (0-based among MoE layers).
  const uint8_t* mask(int moe_ordinal) const { return masks_.data() + size_t(moe_ordinal) * size_t(num_experts_); }
  std::optional<int> top_k_override() const { return top_k_; }
  int allowed_count(int moe_ordinal) const;
  int64_t num_experts() const { return num_experts_; }
  int64_t num_moe_layers() const { return num_experts_ ? int64_t(masks_.size()) / num_experts_ : 0; }

 private:
  int64_t num_experts_ = 0;
  std::vector<uint8_t> masks_;  // [moe layers, E]
  std::optional<int> top_k_;
};

// Router taps for one item: filled by forward for the requested layers.
struct RouterTap {
  int layer = 0;                  // decoder layer index (an MoE layer)
  int k = 0;                      // experts chosen per token (after restriction / override)
  std::vector<float> probs;       // [n_new, num_experts]: UNMASKED softmax of the full router, whatever the restriction;
                                  // for a bundle with router-full.safetensors, [n_new, source model's experts]
  std::vector<int32_t> ids;       // [n_new, k]: chosen experts (under the restriction), most probable first
  std::vector<float> weights;     // [n_new, k]: their routing weights
  std::vector<double> weighted_output_norm;  // [num_experts]: Σ_tokens weight·‖expert output‖₂ (if requested)
  std::vector<int64_t> token_count;          // [num_experts]: tokens routed to each expert (if requested)
};
struct RouterTapRequest {
  std::vector<int> layers;             // decoder layer indices; empty = every MoE layer
  bool expert_output_norms = false;    // also fill weighted_output_norm / token_count (for this call's tokens)
  std::vector<RouterTap> taps;         // output, one per requested layer, overwritten by each forward
};

struct BatchItem {
  SeqId seq = 0;
  std::vector<int32_t> tokens;  // new tokens, appended at the end of the sequence (≥ 1)
  LogitsRequest logits;
  const ExpertRestriction* restriction = nullptr;  // nullptr: every expert, the config's top-k
  RouterTapRequest* taps = nullptr;
};

// Logits of a forward call, fp32, rows of vocab_size; buffers are reused across calls.
struct ForwardOutput {
  int64_t vocab_size = 0;
  std::vector<float> logits;           // all rows of all items, item by item
  std::vector<int64_t> item_rows;      // size items + 1: item i owns rows [item_rows[i], item_rows[i+1])
  std::vector<int32_t> row_positions;  // for each row: index into its item's new tokens
  // Set by the caller: fill `argmax` (per row: the id of the largest logit, lowest id on ties) and leave `logits`
  // unspecified (a device engine then downloads ids only: greedy decoding without the logits copy).
  bool argmax_only = false;
  std::vector<int32_t> argmax;
  // Set by the caller: empty (every row's logits are returned), or one RowSampling (runtime/sampler.h) per row
  // (rows of all items, in order): the engine's sampler (the CPU Sampler, or its device twin,
  // runtime/ops/cuda/sampling_cuda.h) picks the row's token as Sampler::sample(*params, row, history, step) would.
  // Then `sampled[r]` receives the token of each row with params (-1 for the others) and `logits` holds only the
  // rows that have no params or ask for logits (the other rows of the buffer are unspecified): a device engine
  // samples on the device and downloads token ids, not logits. The pointed-to params and histories must stay
  // valid during forward(); params must be valid and carry a seed (else banyan::Error, no sequence changes).
  std::vector<RowSampling> sampling;
  std::vector<int32_t> sampled;
  bool returns_logits(int64_t r) const {
    return sampling.empty() || !sampling[size_t(r)].params || sampling[size_t(r)].logits;
  }

  int64_t num_rows(size_t item) const { return item_rows[item + 1] - item_rows[item]; }
  std::span<const float> row(size_t item, int64_t j) const {
    return {logits.data() + (item_rows[item] + j) * vocab_size, size_t(vocab_size)};
  }
};

class DeviceBackend;

class Engine {
 public:
  static std::unique_ptr<Engine> load(const std::filesystem::path& dir, EngineOptions options = {});
  // A model of the config's geometry with random weights generated on the device (benchmarks; no files). Only
  // device engines ("cuda[:i]"); num_experts_override replaces the config's experts (one node's share).
  static std::unique_ptr<Engine> load_dummy(const std::filesystem::path& config_json, EngineOptions options,
                                            std::optional<int64_t> num_experts_override = std::nullopt);
  ~Engine();

  const ModelSpec& spec() const { return weights_->spec; }
  const EngineOptions& options() const { return options_; }
  const ModelWeights& weights() const { return *weights_; }
  int threads() const { return pool_->num_threads(); }
  // The device backend, or nullptr for the CPU engine.
  const DeviceBackend* device_backend() const { return backend_.get(); }

  SeqId create_sequence();
  SeqId fork_sequence(SeqId src);                      // shares the source's KV pages (copy-on-write)
  void trim_sequence(SeqId seq, int64_t n_tokens);     // keeps the first n_tokens
  void free_sequence(SeqId seq);
  int64_t sequence_length(SeqId seq) const;
  size_t kv_bytes_in_use() const;
  size_t kv_bytes_capacity() const;

  // Appends every item's tokens to its sequence and computes the requested logits and taps. On error (bad token,
  // KV cache full, bad request) no sequence changes length.
  void forward(std::span<BatchItem> batch, ForwardOutput& out);

 private:
  Engine() = default;
  void init(bool dummy);
  void forward_locked(std::span<BatchItem> batch, ForwardOutput& out);
  void forward_cpu(std::span<BatchItem> batch, int64_t n_tokens, ForwardOutput& out);
  void check_sampling(const ForwardOutput& out, int64_t R);
  void run_layer(int layer, std::span<BatchItem> batch);
  void moe_block(int layer, const LayerWeights& w, std::span<BatchItem> batch);

  EngineOptions options_;
  std::unique_ptr<ModelWeights> weights_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<DeviceBackend> backend_;  // declared before kv_: device pages die before the device context
  std::unique_ptr<KvCache> kv_;
  ops::RopeTable rope_;
  std::vector<int> moe_ordinal_;  // per layer: index among MoE layers, or -1
  mutable std::mutex mu_;

  // Per-forward state and scratch (grown, never shrunk: no allocation per step once warm).
  struct ItemState {
    int64_t begin = 0, n = 0;  // rows in the flattened batch
    int64_t start = 0;         // sequence length before this call
    int k = 0;                 // experts per token for this item
  };
  std::vector<ItemState> items_;
  std::vector<SeqId> seen_;  // sequences of the current batch (duplicate check)
  std::vector<int32_t> tokens_;
  std::vector<int64_t> positions_;
  std::vector<float> x_, h_, qkv_, attn_, tmp_, cos_, sin_, router_logits_, route_w_, mlp_tmp_, gate_;
  std::vector<int32_t> route_ids_;
  std::vector<float> tap_probs_;
  std::vector<const uint8_t* const*> page_tables_;
  std::vector<DeviceItem> device_items_;
  ops::MoeScratch moe_scratch_;
  std::vector<float> final_rows_;
  Sampler sampler_;  // the CPU engine's row sampling (ForwardOutput::sampling)
  SampleResult sample_;
  std::vector<uint8_t> history_seen_;  // per token: scratch of the history check (zero between calls)
  std::vector<RowSampling> deferred_sampling_;  // the caller's requests while a device forward runs without them
};

}  // namespace banyan
