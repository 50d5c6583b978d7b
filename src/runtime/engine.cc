// Forward pass shared by every family: pre-norm decoder layers of attention (options: q/k/v bias, q/k norm per
// head or full, clip_qkv) and an FFN that is either routed experts (+ an optional gated shared expert) or a dense
// SwiGLU MLP. All items of a batch are flattened into one [N, hidden] activation matrix so every matmul sees the
// whole batch; attention and routing then work per item.
#include "runtime/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "runtime/cuda/device_backend.h"
#include "runtime/families/family.h"
#include "runtime/ops/activation.h"
#include "runtime/ops/attention.h"
#include "runtime/ops/cpu/simd.h"
#include "runtime/ops/embedding.h"
#include "runtime/ops/fp8.h"
#include "runtime/ops/matmul.h"
#include "runtime/ops/rmsnorm.h"
#include "runtime/ops/router.h"

namespace banyan {

namespace {
template <class T>
void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

// The CPU engine's share of EngineOptions::expert_dtype: every routed expert matrix re-encoded into owned storage
// (fp8: the dequantised fp32 values; bf16: rounded, when not bf16 already).
void convert_experts(ModelWeights& w, DType dtype) {
  auto convert = [&](ops::Matrix& m) {
    const size_t n = size_t(m.rows * m.cols);
    if (dtype == DType::F8_E4M3) {
      w.converted.emplace_back(n * sizeof(float));
      m = ops::fp8_round_trip(m, reinterpret_cast<float*>(w.converted.back().data()));
    } else if (m.dtype != DType::BF16) {
      w.converted.emplace_back(n * sizeof(uint16_t));
      auto* dst = reinterpret_cast<uint16_t*>(w.converted.back().data());
      ops::matrix_to_bf16(m, dst);
      m = ops::Matrix{DType::BF16, dst, m.rows, m.cols};
    }
  };
  for (LayerWeights& l : w.layers)
    for (ops::ExpertWeights& e : l.experts) {
      convert(e.gate);
      convert(e.up);
      convert(e.down);
    }
}
}  // namespace

std::optional<DType> parse_expert_dtype(const std::string& name) {
  if (name.empty() || name == "auto") return std::nullopt;
  if (name == "bf16") return DType::BF16;
  if (name == "fp8") return DType::F8_E4M3;
  fail("expert dtype '{}': expected bf16 or fp8", name);
}

std::unique_ptr<Engine> Engine::load(const std::filesystem::path& dir, EngineOptions options) {
  std::unique_ptr<Engine> e(new Engine());
  e->options_ = options;
  e->weights_ = ModelWeights::load(dir);
  // A device backend re-encodes the experts itself at upload (from the checkpoint's values, as here).
  if (options.device == "cpu" && options.expert_dtype) convert_experts(*e->weights_, *options.expert_dtype);
  e->init(/*dummy=*/false);
  return e;
}

std::unique_ptr<Engine> Engine::load_dummy(const std::filesystem::path& config_json, EngineOptions options,
                                           std::optional<int64_t> num_experts_override) {
  BANYAN_CHECK(options.device != "cpu",
               "dummy weights are generated on a device: pass a device (cuda or cuda:i), not cpu");
  std::ifstream in(config_json);
  BANYAN_CHECK(in.good(), "cannot open config {}", config_json.string());
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const std::exception& err) {
    fail("{}: {}", config_json.string(), err.what());
  }
  std::unique_ptr<Engine> e(new Engine());
  e->options_ = options;
  e->weights_ = std::make_unique<ModelWeights>();
  ModelSpec& s = e->weights_->spec;
  s = parse_model_spec(config, config_json.string());
  if (num_experts_override) {
    BANYAN_CHECK(*num_experts_override >= 1 && *num_experts_override <= s.num_experts,
                 "experts per node {} outside [1, {}]", *num_experts_override, s.num_experts);
    s.num_experts = *num_experts_override;
    s.top_k = std::min(s.top_k, s.num_experts);
  }
  e->weights_->options = families::family_loader(s.family).options(s);
  e->weights_->layers.resize(size_t(s.num_layers));
  for (int l = 0; l < int(s.num_layers); ++l) e->weights_->layers[size_t(l)].is_moe = s.is_moe_layer(l);
  e->init(/*dummy=*/true);
  return e;
}

void Engine::init(bool dummy) {
  const ModelSpec& s = weights_->spec;
  BANYAN_CHECK(!options_.expert_dtype || *options_.expert_dtype == DType::BF16 ||
                   *options_.expert_dtype == DType::F8_E4M3,
               "expert dtype {}: expected bf16 or fp8", dtype_name(*options_.expert_dtype));
  pool_ = std::make_unique<ThreadPool>(options_.threads);
  ops::KvLayout layout{s.num_layers, s.num_kv_heads, s.head_dim, options_.kv_page_tokens, options_.kv_dtype};
  std::unique_ptr<KvPageMemory> pages;
  if (options_.device != "cpu") {
    backend_ = make_device_backend(options_.device, *weights_, options_, dummy);
    pages = backend_->make_kv_page_memory();
  }
  kv_ = std::make_unique<KvCache>(layout, options_.kv_cache_bytes, std::move(pages));
  rope_ = ops::make_rope_table(s.rope, s.head_dim);
  int ordinal = 0;
  for (int l = 0; l < int(s.num_layers); ++l)
    moe_ordinal_.push_back(weights_->layers[size_t(l)].is_moe ? ordinal++ : -1);
}

Engine::~Engine() = default;

SeqId Engine::create_sequence() {
  std::lock_guard lock(mu_);
  return kv_->create();
}
SeqId Engine::fork_sequence(SeqId src) {
  std::lock_guard lock(mu_);
  return kv_->fork(src);
}
void Engine::trim_sequence(SeqId seq, int64_t n_tokens) {
  std::lock_guard lock(mu_);
  kv_->trim(seq, n_tokens);
}
void Engine::free_sequence(SeqId seq) {
  std::lock_guard lock(mu_);
  kv_->free(seq);
}
int64_t Engine::sequence_length(SeqId seq) const {
  std::lock_guard lock(mu_);
  return kv_->length(seq);
}
size_t Engine::kv_bytes_in_use() const {
  std::lock_guard lock(mu_);
  return kv_->bytes_in_use();
}
size_t Engine::kv_bytes_capacity() const {
  std::lock_guard lock(mu_);
  return kv_->capacity_bytes();
}

void Engine::forward(std::span<BatchItem> batch, ForwardOutput& out) {
  std::lock_guard lock(mu_);
  forward_locked(batch, out);
}

void Engine::forward_locked(std::span<BatchItem> batch, ForwardOutput& out) {
  const ModelSpec& s = spec();
  const int64_t V = s.vocab_size;
  // Validate everything before touching the cache.
  seen_.clear();  // reused across calls: the decode path does not allocate once warm
  int64_t N = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchItem& it = batch[i];
    BANYAN_CHECK(kv_->exists(it.seq), "forward: item {}: unknown sequence {}", i, it.seq);
    BANYAN_CHECK(std::find(seen_.begin(), seen_.end(), it.seq) == seen_.end(),
                 "forward: sequence {} appears twice in one batch", it.seq);
    seen_.push_back(it.seq);
    BANYAN_CHECK(!it.tokens.empty(), "forward: item {} (sequence {}) has no tokens", i, it.seq);
    for (int32_t t : it.tokens)
      BANYAN_CHECK(t >= 0 && t < V, "forward: item {}: token id {} outside the vocabulary [0, {})", i, t, V);
    if (it.logits.kind == LogitsRequest::Kind::Positions)
      for (int32_t p : it.logits.positions)
        BANYAN_CHECK(p >= 0 && p < int64_t(it.tokens.size()), "forward: item {}: logits position {} outside [0, {})",
                     i, p, it.tokens.size());
    if (it.restriction)
      BANYAN_CHECK(it.restriction->num_experts() == s.num_experts &&
                       it.restriction->num_moe_layers() == s.num_moe_layers(),
                   "forward: item {}: expert restriction made for another model ({} experts × {} MoE layers)", i,
                   it.restriction->num_experts(), it.restriction->num_moe_layers());
    if (it.taps) {
      auto& req = *it.taps;
      std::vector<int> layers = req.layers;
      if (layers.empty()) layers = s.moe_layers();
      for (int l : layers)
        BANYAN_CHECK(l >= 0 && l < s.num_layers && moe_ordinal_[size_t(l)] >= 0,
                     "forward: item {}: router tap on layer {}, which is not an MoE layer", i, l);
      req.taps.resize(layers.size());
      for (size_t j = 0; j < layers.size(); ++j) req.taps[j].layer = layers[j];
    }
    N += int64_t(it.tokens.size());
  }

  items_.resize(batch.size());
  grow(tokens_, size_t(N));
  grow(positions_, size_t(N));
  int64_t row = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    ItemState& st = items_[i];
    st.begin = row;
    st.n = int64_t(batch[i].tokens.size());
    st.start = kv_->length(batch[i].seq);
    for (int64_t j = 0; j < st.n; ++j) {
      tokens_[size_t(row + j)] = batch[i].tokens[size_t(j)];
      positions_[size_t(row + j)] = st.start + j;
    }
    row += st.n;
  }

  // Reserve KV space for every item; undo all reservations if any fails.
  size_t reserved = 0;
  try {
    for (; reserved < batch.size(); ++reserved) kv_->reserve(batch[reserved].seq, items_[reserved].n);
  } catch (...) {
    for (size_t i = 0; i < reserved; ++i) kv_->trim(batch[i].seq, items_[i].start);
    throw;
  }
  page_tables_.resize(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) page_tables_[i] = kv_->pages(batch[i].seq);

  try {
    // Logits for the requested rows only (final norm + LM head after the layers).
    out.vocab_size = V;
    out.item_rows.assign(batch.size() + 1, 0);
    out.row_positions.clear();
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& req = batch[i].logits;
      switch (req.kind) {
        case LogitsRequest::Kind::None: break;
        case LogitsRequest::Kind::Last: out.row_positions.push_back(int32_t(items_[i].n - 1)); break;
        case LogitsRequest::Kind::All:
          for (int32_t j = 0; j < items_[i].n; ++j) out.row_positions.push_back(j);
          break;
        case LogitsRequest::Kind::Positions:
          out.row_positions.insert(out.row_positions.end(), req.positions.begin(), req.positions.end());
          break;
      }
      out.item_rows[i + 1] = int64_t(out.row_positions.size());
    }
    const int64_t R = int64_t(out.row_positions.size());
    if (!out.sampling.empty()) check_sampling(out, R);
    // Rows of a device engine sampled on the host (EngineOptions::device_sampling off): the backend returns every
    // row's logits and the CPU Sampler picks, exactly as on the CPU engine.
    const bool host_rows = backend_ && !out.sampling.empty() && !options_.device_sampling;
    if (backend_) {
      device_items_.resize(batch.size());
      for (size_t i = 0; i < batch.size(); ++i)
        device_items_[i] = DeviceItem{kv_->pages(batch[i].seq), kv_->num_pages(batch[i].seq), items_[i].begin,
                                      items_[i].n, items_[i].start};
      if (host_rows) {  // the backend sees no requests and returns every row's logits
        const bool argmax_only = out.argmax_only;
        auto restore = [&] {  // the caller's requests and argmax_only, however the forward ends
          out.sampling.swap(deferred_sampling_);
          out.argmax_only = argmax_only;
        };
        out.sampling.swap(deferred_sampling_);
        out.argmax_only = false;
        try {
          backend_->forward(batch, device_items_, tokens_.data(), N, kv_->layout(), out);
        } catch (...) {
          restore();
          throw;
        }
        restore();
      } else {
        backend_->forward(batch, device_items_, tokens_.data(), N, kv_->layout(), out);
      }
    } else {
      forward_cpu(batch, N, out);
    }
    if (!backend_ || host_rows) {
      if (out.argmax_only) {
        out.argmax.resize(size_t(R));
        for (int64_t r = 0; r < R; ++r) {
          const float* row = out.logits.data() + r * V;
          out.argmax[size_t(r)] = int32_t(std::max_element(row, row + V) - row);
        }
      }
      if (!out.sampling.empty()) {  // the reference: the CPU Sampler on each requested row
        out.sampled.assign(size_t(R), -1);
        for (int64_t r = 0; r < R; ++r) {
          const RowSampling& rs = out.sampling[size_t(r)];
          if (!rs.params) continue;
          sampler_.sample(*rs.params, {out.logits.data() + r * V, size_t(V)}, rs.history, rs.step, sample_);
          out.sampled[size_t(r)] = sample_.token;
        }
      }
    }
  } catch (...) {
    for (size_t i = 0; i < batch.size(); ++i) kv_->trim(batch[i].seq, items_[i].start);
    throw;
  }
  for (size_t i = 0; i < batch.size(); ++i) kv_->commit(batch[i].seq, items_[i].n);
}

// Row sampling requests, checked before any row is computed: one per row, valid params with a seed, histories of
// distinct in-vocabulary tokens with counts ≥ 0 (a device sampler cannot report these mid-step).
void Engine::check_sampling(const ForwardOutput& out, int64_t R) {
  const int64_t V = spec().vocab_size;
  BANYAN_CHECK(int64_t(out.sampling.size()) == R, "forward: {} row sampling requests for {} logits rows",
               out.sampling.size(), R);
  if (history_seen_.size() != size_t(V)) history_seen_.assign(size_t(V), 0);
  for (int64_t r = 0; r < R; ++r) {
    const RowSampling& rs = out.sampling[size_t(r)];
    if (!rs.params) continue;
    validate_sampling_params(*rs.params);
    BANYAN_CHECK(rs.params->seed.has_value(), "forward: row {}: the sampling params carry no seed", r);
    if (!penalties_enabled(*rs.params)) continue;
    if (auto error = penalty_history_error(rs.history, V, history_seen_)) fail("forward: row {}: {}", r, *error);
  }
}

void Engine::forward_cpu(std::span<BatchItem> batch, int64_t N, ForwardOutput& out) {
  const ModelSpec& s = spec();
  const int64_t H = s.hidden_size, V = s.vocab_size;
  const ops::OpContext ctx{pool_.get()};
  {
    grow(x_, size_t(N * H));
    ops::embedding(ctx, weights_->embed, tokens_.data(), N, x_.data());
    const int64_t half = rope_.rotary_dim / 2;
    grow(cos_, size_t(N * half));
    grow(sin_, size_t(N * half));
    ops::rope_cos_sin(rope_, positions_.data(), N, cos_.data(), sin_.data());
    for (int l = 0; l < int(s.num_layers); ++l) run_layer(l, batch);
    const int64_t R = int64_t(out.row_positions.size());
    grow(final_rows_, size_t(R * H));
    for (size_t i = 0; i < batch.size(); ++i)
      for (int64_t r = out.item_rows[i]; r < out.item_rows[i + 1]; ++r)
        std::memcpy(final_rows_.data() + r * H, x_.data() + (items_[i].begin + out.row_positions[size_t(r)]) * H,
                    size_t(H) * sizeof(float));
    ops::rmsnorm(ctx, final_rows_.data(), R, H, H, weights_->final_norm.data(), float(s.rms_norm_eps),
                 final_rows_.data());
    out.logits.resize(size_t(R * V));
    ops::matmul(ctx, final_rows_.data(), R, H, weights_->lm_head, out.logits.data(), V);
  }
}

void Engine::run_layer(int layer, std::span<BatchItem> batch) {
  const ModelSpec& s = spec();
  const FamilyOptions& opt = weights_->options;
  const LayerWeights& w = weights_->layers[size_t(layer)];
  const ops::OpContext ctx{pool_.get()};
  const int64_t N = items_.empty() ? 0 : items_.back().begin + items_.back().n;
  const int64_t H = s.hidden_size, hd = s.head_dim;
  const int64_t q_dim = s.num_heads * hd, kv_dim = s.num_kv_heads * hd;
  const int64_t qs = q_dim + 2 * kv_dim;  // row stride of the fused q|k|v buffer
  const float eps = float(s.rms_norm_eps);

  // --- attention block ---
  grow(h_, size_t(N * H));
  ops::rmsnorm(ctx, x_.data(), N, H, H, w.attn_norm.data(), eps, h_.data());
  grow(qkv_, size_t(N * qs));
  float* q = qkv_.data();
  float* k = q + q_dim;
  float* v = k + kv_dim;
  ops::matmul(ctx, h_.data(), N, H, w.attn.q, q, qs);
  ops::matmul(ctx, h_.data(), N, H, w.attn.k, k, qs);
  ops::matmul(ctx, h_.data(), N, H, w.attn.v, v, qs);
  if (!w.attn.q_bias.empty()) {
    ops::add_bias(q, N, q_dim, qs, w.attn.q_bias.data());
    ops::add_bias(k, N, kv_dim, qs, w.attn.k_bias.data());
    ops::add_bias(v, N, kv_dim, qs, w.attn.v_bias.data());
  }
  if (opt.qk_norm == QkNorm::PerHead) {
    const ops::OpContext serial{};
    for (int64_t i = 0; i < N; ++i) {
      ops::rmsnorm(serial, q + i * qs, s.num_heads, hd, hd, w.attn.q_norm.data(), eps, q + i * qs);
      ops::rmsnorm(serial, k + i * qs, s.num_kv_heads, hd, hd, w.attn.k_norm.data(), eps, k + i * qs);
    }
  } else if (opt.qk_norm == QkNorm::Full) {
    ops::rmsnorm(ctx, q, N, q_dim, qs, w.attn.q_norm.data(), eps, q);
    ops::rmsnorm(ctx, k, N, kv_dim, qs, w.attn.k_norm.data(), eps, k);
  }
  if (opt.clip_qkv) {
    const float c = *opt.clip_qkv;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < qs; ++j) q[i * qs + j] = std::clamp(q[i * qs + j], -c, c);
  }
  ops::rope_apply(rope_, q, N, qs, s.num_heads, hd, cos_.data(), sin_.data());
  ops::rope_apply(rope_, k, N, qs, s.num_kv_heads, hd, cos_.data(), sin_.data());

  // Write this layer's K/V for the new positions into the cache.
  const ops::KvLayout& lay = kv_->layout();
  for (size_t i = 0; i < batch.size(); ++i) {
    const ItemState& st = items_[i];
    for (int64_t j = 0; j < st.n; ++j) {
      const int64_t pos = st.start + j;
      const uint8_t* page = page_tables_[i][pos / lay.page_tokens];
      for (int vv = 0; vv < 2; ++vv) {
        uint8_t* dst = const_cast<uint8_t*>(page) + lay.offset(layer, vv, pos % lay.page_tokens);
        const float* src = (vv ? v : k) + (st.begin + j) * qs;
        if (lay.dtype == DType::F32) std::memcpy(dst, src, size_t(kv_dim) * sizeof(float));
        else simd::f32_to_bf16(src, reinterpret_cast<uint16_t*>(dst), kv_dim);
      }
    }
  }
  grow(attn_, size_t(N * q_dim));
  thread_local std::vector<ops::AttentionSeq> seqs;
  seqs.resize(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const ItemState& st = items_[i];
    seqs[i] = ops::AttentionSeq{page_tables_[i], st.start, st.n, q + st.begin * qs, qs,
                                attn_.data() + st.begin * q_dim, q_dim};
  }
  const ops::AttentionShape shape{s.num_heads, s.num_kv_heads, hd, 1.0f / std::sqrt(float(hd))};
  ops::attention(ctx, shape, lay, layer, seqs);
  grow(tmp_, size_t(N * H));
  ops::matmul(ctx, attn_.data(), N, q_dim, w.attn.o, tmp_.data(), H);
  ops::residual_add(x_.data(), tmp_.data(), N * H);

  // --- FFN block ---
  ops::rmsnorm(ctx, x_.data(), N, H, H, w.ffn_norm.data(), eps, h_.data());
  if (w.is_moe) {
    moe_block(layer, w, batch);
  } else {
    ops::dense_swiglu(ctx, h_.data(), N, H, *w.dense_mlp, mlp_tmp_, tmp_.data(), H);
  }
  ops::residual_add(x_.data(), tmp_.data(), N * H);
}

namespace {
// In-place softmax of each of n rows of width w (fp32, max-subtracted).
void softmax_rows(float* x, int64_t n, int64_t w) {
  for (int64_t r = 0; r < n; ++r) {
    float* row = x + r * w;
    const float mx = *std::max_element(row, row + w);
    double sum = 0;
    for (int64_t e = 0; e < w; ++e) sum += row[e] = std::exp(row[e] - mx);
    const float inv = float(1.0 / sum);
    for (int64_t e = 0; e < w; ++e) row[e] *= inv;
  }
}

RouterTap* find_tap(RouterTapRequest* req, int layer) {
  if (!req) return nullptr;
  for (auto& t : req->taps)
    if (t.layer == layer) return &t;
  return nullptr;
}
}  // namespace

// Routed experts (+ shared expert) of one MoE layer, from h_ into tmp_. Routing is per item (each may carry its
// own restriction); the expert GEMMs run over runs of consecutive items that share k, so a decode batch of many
// sequences still groups all its tokens by expert.
void Engine::moe_block(int layer, const LayerWeights& w, std::span<BatchItem> batch) {
  const ModelSpec& s = spec();
  const ops::OpContext ctx{pool_.get()};
  const int64_t N = items_.back().begin + items_.back().n;
  const int64_t H = s.hidden_size, E = s.num_experts;
  const int ord = moe_ordinal_[size_t(layer)];

  grow(router_logits_, size_t(N * E));
  ops::matmul(ctx, h_.data(), N, H, w.router, router_logits_.data(), E);

  int kmax = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const ExpertRestriction* r = batch[i].restriction;
    const int k_cfg = r && r->top_k_override() ? *r->top_k_override() : int(s.top_k);
    items_[i].k = std::min<int>(k_cfg, int(E));
    kmax = std::max(kmax, items_[i].k);
  }
  grow(route_ids_, size_t(N * kmax));
  grow(route_w_, size_t(N * kmax));
  // Routing per item; ids/weights of item i start at row begin with stride k (its own k after restriction).
  for (size_t i = 0; i < batch.size(); ++i) {
    ItemState& st = items_[i];
    const ExpertRestriction* r = batch[i].restriction;
    RouterTap* tap = find_tap(batch[i].taps, layer);
    float* probs = nullptr;
    const ops::Matrix* full_router =
        weights_->full_router.empty() ? nullptr : &weights_->full_router[size_t(layer)];
    if (tap && full_router) {
      // A bundle: report the unmasked softmax over the source model's experts from router-full.
      const int64_t G = weights_->full_num_experts;
      tap->probs.resize(size_t(st.n * G));
      ops::matmul(ctx, h_.data() + st.begin * H, st.n, H, *full_router, tap->probs.data(), G);
      softmax_rows(tap->probs.data(), st.n, G);
    } else if (tap) {
      tap->probs.resize(size_t(st.n * E));
      probs = tap->probs.data();
    }
    const ops::RouterConfig cfg{E, st.k, weights_->options.renormalize_topk};
    st.k = ops::router_topk(ctx, cfg, router_logits_.data() + st.begin * E, st.n, r ? r->mask(ord) : nullptr, probs,
                            route_ids_.data() + st.begin * kmax, route_w_.data() + st.begin * kmax);
    if (tap) {
      tap->k = st.k;
      tap->ids.assign(route_ids_.begin() + st.begin * kmax, route_ids_.begin() + st.begin * kmax + st.n * st.k);
      tap->weights.assign(route_w_.begin() + st.begin * kmax, route_w_.begin() + st.begin * kmax + st.n * st.k);
    }
  }
  // Expert GEMMs over runs of consecutive items with the same k (items asking for output norms run alone).
  size_t i = 0;
  while (i < batch.size()) {
    RouterTap* tap = find_tap(batch[i].taps, layer);
    const bool norms = tap && batch[i].taps->expert_output_norms;
    size_t j = i + 1;
    if (!norms) {
      while (j < batch.size() && items_[j].k == items_[i].k &&
             !(find_tap(batch[j].taps, layer) && batch[j].taps->expert_output_norms))
        ++j;
    }
    // Items in the run wrote their ids with stride k starting at their own begin·kmax; make them contiguous.
    const int k = items_[i].k;
    const int64_t begin = items_[i].begin;
    const int64_t n = items_[j - 1].begin + items_[j - 1].n - begin;
    if (k != kmax || j - i > 1) {
      int64_t dst = begin * kmax;
      for (size_t m = i; m < j; ++m) {
        const int64_t src = items_[m].begin * kmax;
        std::memmove(route_ids_.data() + dst, route_ids_.data() + src, size_t(items_[m].n * k) * sizeof(int32_t));
        std::memmove(route_w_.data() + dst, route_w_.data() + src, size_t(items_[m].n * k) * sizeof(float));
        dst += items_[m].n * k;
      }
    }
    double* wn = nullptr;
    int64_t* tc = nullptr;
    if (norms) {
      tap->weighted_output_norm.assign(size_t(E), 0.0);
      tap->token_count.assign(size_t(E), 0);
      wn = tap->weighted_output_norm.data();
      tc = tap->token_count.data();
    }
    ops::moe_experts(ctx, h_.data() + begin * H, n, H, H, route_ids_.data() + begin * kmax,
                     route_w_.data() + begin * kmax, k, w.experts, moe_scratch_, tmp_.data() + begin * H, H, wn, tc);
    i = j;
  }

  if (w.shared_expert) {  // Qwen2-MoE: tmp += sigmoid(gate · h) · shared_expert(h)
    grow(attn_, size_t(N * H));  // attention output is consumed; reuse as the shared expert's output
    ops::dense_swiglu(ctx, h_.data(), N, H, *w.shared_expert, mlp_tmp_, attn_.data(), H);
    grow(gate_, size_t(N));
    if (!w.shared_expert_gate.empty()) ops::matmul(ctx, h_.data(), N, H, w.shared_expert_gate, gate_.data(), 1);
    for (int64_t t = 0; t < N; ++t) {
      const float g = w.shared_expert_gate.empty() ? 1.0f : 1.0f / (1.0f + std::exp(-gate_[size_t(t)]));
      simd::axpy(g, attn_.data() + t * H, tmp_.data() + t * H, H);
    }
  }
}

}  // namespace banyan
