// The CUDA engine backend: the whole forward pass of every family on one GPU, mirroring Engine::forward_cpu
// (runtime/engine.cc) op for op. Per call, the host packs the batch metadata (tokens, positions, page tables,
// per-row KV page, restriction masks, logits rows) into one pinned buffer and uploads it with one copy; the layers
// then run without host synchronisation except for router taps (their rows are downloaded) and the final logits
// (or argmax ids, or the ids of tokens sampled on the device: ForwardOutput::sampling) download. Pure decode steps
// replay a CUDA graph of the layers per padded batch bucket
// (BANYAN_CUDA_GRAPHS=0 disables it; see DecodeGraph).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "runtime/cuda/device_backend.h"
#include "runtime/cuda/device_weights.h"
#include "runtime/engine.h"
#include "runtime/ops/cuda/attention_cuda.h"
#include "runtime/ops/cuda/cuda_check.h"
#include "runtime/ops/cuda/elementwise_cuda.h"
#include "runtime/ops/cuda/matmul_cuda.h"
#include "runtime/ops/cuda/moe_cuda.h"
#include "runtime/ops/cuda/router_cuda.h"
#include "runtime/ops/cuda/sampling_cuda.h"
#include "runtime/ops/rope.h"

namespace banyan {

namespace {

using cuda::DeviceLayer;
using cuda::DeviceWeights;
using ops::cuda::DeviceMatrix;

int parse_device_index(const std::string& device) {
  if (device == "cuda") return 0;
  if (device.starts_with("cuda:")) {
    const std::string idx = device.substr(5);
    BANYAN_CHECK(!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos,
                 "device '{}': expected cuda or cuda:<index>", device);
    return std::stoi(idx);
  }
  fail("unknown device '{}' (expected cpu, cuda or cuda:i)", device);
}

// A device allocation grown on demand (never shrunk).
class DeviceBuffer {
 public:
  ~DeviceBuffer() { cudaFree(p_); }
  void* reserve(size_t bytes, cudaStream_t stream) {
    if (bytes > bytes_) {
      BANYAN_CUDA_CHECK(cudaStreamSynchronize(stream));
      BANYAN_CUDA_CHECK(cudaFree(p_));
      p_ = nullptr;
      bytes_ = std::max(bytes, bytes_ * 3 / 2);
      BANYAN_CUDA_CHECK(cudaMalloc(&p_, bytes_));
    }
    return p_;
  }
  template <class T>
  T* as(size_t count, cudaStream_t stream) {
    return static_cast<T*>(reserve(std::max<size_t>(count, 1) * sizeof(T), stream));
  }
  const void* ptr() const { return p_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// KV pages carved out of large cudaMalloc'd chunks; copy-on-write copies on the backend's stream.
class DevicePageMemory final : public KvPageMemory {
 public:
  DevicePageMemory(int device, cudaStream_t stream) : device_(device), stream_(stream) {}
  ~DevicePageMemory() override {
    for (void* c : chunks_) cudaFree(c);
  }
  uint8_t* allocate_page(size_t bytes) override {
    if (left_ < bytes) {
      BANYAN_CUDA_CHECK(cudaSetDevice(device_));
      const size_t chunk = std::max(bytes, (size_t(64) << 20) / bytes * bytes);
      void* p = nullptr;
      const cudaError_t err = cudaMalloc(&p, chunk);
      if (err != cudaSuccess) fail("KV cache: cannot allocate {} bytes on cuda:{}: {}", chunk, device_,
                                   cudaGetErrorString(err));
      chunks_.push_back(p);
      next_ = static_cast<uint8_t*>(p);
      left_ = chunk;
    }
    uint8_t* page = next_;
    next_ += bytes;
    left_ -= bytes;
    return page;
  }
  void copy_page(uint8_t* dst, const uint8_t* src, size_t bytes) override {
    BANYAN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  }

 private:
  int device_;
  cudaStream_t stream_;
  std::vector<void*> chunks_;
  uint8_t* next_ = nullptr;
  size_t left_ = 0;
};

RouterTap* find_tap(RouterTapRequest* req, int layer) {
  if (!req) return nullptr;
  for (auto& t : req->taps)
    if (t.layer == layer) return &t;
  return nullptr;
}

// Layout of the per-call metadata block (host pinned → device, one copy). Offsets in bytes, 16-aligned.
struct MetaLayout {
  size_t tokens = 0, positions = 0, row_page = 0, row_mask = 0, row_k = 0, attn_items = 0, page_tables = 0,
         logit_rows = 0, masks = 0, total = 0;
};
size_t align16(size_t x) { return (x + 15) / 16 * 16; }

// Pure decode steps (every item one new token, no taps, no restrictions) replay a CUDA graph of the layers
// (embedding → final norm) captured per (padded item count, attention length bound). Bounds are fixed so the
// captured launch grids stay valid: rows are padded to the bucket, the attention length bound is rounded up.
constexpr int kGraphBuckets[] = {1, 2, 4, 8, 16, 32};
int graph_bucket(int64_t n) {
  for (int b : kGraphBuckets)
    if (n <= b) return b;
  return 0;
}
int graph_len_bound(int max_len) {
  int b = 256;
  while (b < max_len) b *= 2;
  return b;
}
struct DecodeGraph {
  int rows = 0, len_bound = 0;
  cudaGraphExec_t exec = nullptr;
  std::vector<const void*> buffers;  // the device buffers it captured (any change invalidates it)
};

class CudaBackend final : public DeviceBackend {
 public:
  CudaBackend(int device, const ModelWeights& w, const EngineOptions& opt, bool dummy)
      : device_(device), spec_(w.spec), fam_(w.options) {
    int count = 0;
    BANYAN_CUDA_CHECK(cudaGetDeviceCount(&count));
    BANYAN_CHECK(device >= 0 && device < count, "device cuda:{}: this machine has {} CUDA device(s)", device, count);
    BANYAN_CUDA_CHECK(cudaSetDevice(device_));
    cudaDeviceProp prop{};
    BANYAN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    name_ = prop.name;
    BANYAN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    matmul_ = std::make_unique<ops::cuda::Matmul>(stream_);
    BANYAN_CHECK(spec_.head_dim % 8 == 0 && spec_.head_dim <= 256,
                 "the CUDA engine needs head_dim a multiple of 8 and ≤ 256 (model has {})", spec_.head_dim);
    weights_ = dummy ? DeviceWeights::random(spec_, fam_, DType::BF16, 0x62616e79616eull, stream_, opt.expert_dtype)
                     : DeviceWeights::upload(w, stream_, opt.expert_dtype);
    rope_ = ops::make_rope_table(spec_.rope, spec_.head_dim);
    void* f = nullptr;
    BANYAN_CUDA_CHECK(cudaMalloc(&f, rope_.inv_freq.size() * sizeof(float)));
    inv_freq_ = static_cast<float*>(f);
    BANYAN_CUDA_CHECK(cudaMemcpy(inv_freq_, rope_.inv_freq.data(), rope_.inv_freq.size() * sizeof(float),
                                 cudaMemcpyHostToDevice));
    int ordinal = 0;
    for (int l = 0; l < int(spec_.num_layers); ++l)
      moe_ordinal_.push_back(weights_->layers[size_t(l)].is_moe ? ordinal++ : -1);
    const char* env = std::getenv("BANYAN_CUDA_GRAPHS");
    graphs_enabled_ = !(env && std::string(env) == "0");
  }

  ~CudaBackend() override {
    cudaSetDevice(device_);
    if (stream_) cudaStreamSynchronize(stream_);
    cudaFree(inv_freq_);
    cudaFreeHost(host_meta_);
    for (auto& g : graphs_) cudaGraphExecDestroy(g.exec);
    cudaFree(scratch_page_);
    weights_.reset();
    matmul_.reset();
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::unique_ptr<KvPageMemory> make_kv_page_memory() override {
    return std::make_unique<DevicePageMemory>(device_, stream_);
  }
  size_t device_bytes() const override { return weights_->bytes; }
  std::string device_name() const override { return name_; }

  void forward(std::span<BatchItem> batch, std::span<const DeviceItem> items, const int32_t* tokens, int64_t N,
               const ops::KvLayout& layout, ForwardOutput& out) override;

 private:
  bool graph_eligible(std::span<BatchItem> batch, std::span<const DeviceItem> items, int64_t N) const;
  void upload_decode_meta(std::span<const DeviceItem> items, const int32_t* tokens, int rows,
                          const ops::KvLayout& layout, const ForwardOutput& out);
  void run_body(std::span<BatchItem> batch, std::span<const DeviceItem> items, int64_t N,
                const ops::KvLayout& layout);
  void run_decode_graph(std::span<BatchItem> batch, std::span<const DeviceItem> items, const int32_t* tokens,
                        int64_t N, const ops::KvLayout& layout, const ForwardOutput& out);
  std::vector<const void*> graph_buffers() const;
  void upload_meta(std::span<BatchItem> batch, std::span<const DeviceItem> items, const int32_t* tokens, int64_t N,
                   const ops::KvLayout& layout, const ForwardOutput& out);
  void run_layer(int layer, std::span<BatchItem> batch, std::span<const DeviceItem> items, int64_t N,
                 const ops::KvLayout& layout);
  void moe_block(int layer, const DeviceLayer& g, std::span<BatchItem> batch, std::span<const DeviceItem> items,
                 int64_t N);
  void expert_norms(int layer, const DeviceLayer& g, std::span<BatchItem> batch, std::span<const DeviceItem> items,
                    int64_t N, const int32_t* ids, const float* rw, float* out);
  void download(void* dst, const void* src, size_t bytes) {
    BANYAN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    BANYAN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  // Pinned host staging of the step metadata, grown by half again when a call needs more.
  void grow_host_meta(size_t bytes) {
    if (bytes <= host_meta_bytes_) return;
    cudaFreeHost(host_meta_);
    host_meta_ = nullptr;
    host_meta_bytes_ = std::max(bytes, host_meta_bytes_ * 3 / 2);
    BANYAN_CUDA_CHECK(cudaMallocHost(&host_meta_, host_meta_bytes_));
  }

  int device_;
  std::string name_;
  ModelSpec spec_;
  FamilyOptions fam_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<ops::cuda::Matmul> matmul_;
  std::unique_ptr<DeviceWeights> weights_;
  ops::RopeTable rope_;
  float* inv_freq_ = nullptr;
  std::vector<int> moe_ordinal_;

  // Per-call state.
  MetaLayout meta_;
  uint8_t* host_meta_ = nullptr;
  size_t host_meta_bytes_ = 0;
  DeviceBuffer d_meta_;
  uint8_t* meta_dev_ = nullptr;
  std::vector<int32_t> item_k_;  // experts per token per item (before the restriction's allowed count)
  int kmax_ = 1;
  bool any_mask_ = false;
  int max_new_ = 0, max_len_ = 0;
  int attn_items_ = 0;  // attention items of the current call (padded in graph replay)
  bool graphs_enabled_ = true;
  std::vector<DecodeGraph> graphs_;
  void* scratch_page_ = nullptr;  // KV destination of padding rows
  size_t scratch_page_bytes_ = 0;
  std::vector<const uint8_t*> mask_dev_;  // per item: its masks on the device (null: unrestricted)
  float* pending_ = nullptr;              // FFN output not yet added to x (fused into the next RMSNorm)

  DeviceBuffer x_, h_, qkv_, attn_, tmp_, gu_, act_, shared_, gate_, router_logits_, probs_, ids_, route_w_, cos_,
      sin_, final_, logits_, argmax_, tap_probs_, tap_norms_;
  ops::cuda::MoeWorkspace moe_ws_;
  ops::cuda::AttentionWorkspace attn_ws_;
  ops::cuda::RowSampler row_sampler_;  // ForwardOutput::sampling
  std::vector<int32_t> host_ids_;
  std::vector<float> host_w_;
  std::vector<float> host_sumsq_;  // one item's squared expert output norms (taps with expert output norms)
};

void CudaBackend::upload_meta(std::span<BatchItem> batch, std::span<const DeviceItem> items, const int32_t* tokens,
                              int64_t N, const ops::KvLayout& layout, const ForwardOutput& out) {
  const int64_t R = int64_t(out.row_positions.size());
  const size_t n_items = items.size();
  int64_t n_pages = 0;
  any_mask_ = false;
  for (size_t i = 0; i < n_items; ++i) {
    n_pages += items[i].num_pages;
    any_mask_ = any_mask_ || batch[i].restriction != nullptr;
  }
  const size_t mask_bytes = size_t(spec_.num_moe_layers() * spec_.num_experts);
  MetaLayout m;
  size_t at = 0;
  auto take = [&](size_t bytes) {
    const size_t o = at;
    at = align16(at + bytes);
    return o;
  };
  m.tokens = take(size_t(N) * 4);
  m.positions = take(size_t(N) * 4);
  m.row_page = take(size_t(N) * 8);
  m.row_mask = take(any_mask_ ? size_t(N) * 8 : 0);
  m.row_k = take(size_t(N) * 4);
  m.attn_items = take(n_items * sizeof(ops::cuda::AttentionItem));
  m.page_tables = take(size_t(n_pages) * 8);
  m.logit_rows = take(size_t(R) * 4);
  size_t masked_items = 0;
  for (size_t i = 0; i < n_items; ++i) masked_items += batch[i].restriction != nullptr;
  m.masks = take(masked_items * mask_bytes);
  m.total = at;
  meta_ = m;
  grow_host_meta(m.total);
  meta_dev_ = static_cast<uint8_t*>(d_meta_.reserve(m.total, stream_));
  uint8_t* hm = host_meta_;
  auto* h_tokens = reinterpret_cast<int32_t*>(hm + m.tokens);
  auto* h_pos = reinterpret_cast<int32_t*>(hm + m.positions);
  auto* h_page = reinterpret_cast<const uint8_t**>(hm + m.row_page);
  auto* h_mask = reinterpret_cast<const uint8_t**>(hm + m.row_mask);
  auto* h_k = reinterpret_cast<int32_t*>(hm + m.row_k);
  auto* h_items = reinterpret_cast<ops::cuda::AttentionItem*>(hm + m.attn_items);
  auto* h_pt = reinterpret_cast<const uint8_t**>(hm + m.page_tables);
  auto* h_rows = reinterpret_cast<int32_t*>(hm + m.logit_rows);
  std::memcpy(h_tokens, tokens, size_t(N) * 4);
  item_k_.resize(n_items);
  mask_dev_.assign(n_items, nullptr);
  kmax_ = 1;
  max_new_ = max_len_ = 0;
  int64_t pt_at = 0;
  size_t mask_at = 0;
  for (size_t i = 0; i < n_items; ++i) {
    const DeviceItem& it = items[i];
    const ExpertRestriction* r = batch[i].restriction;
    const int k_cfg = r && r->top_k_override() ? *r->top_k_override() : int(spec_.top_k);
    item_k_[i] = int(std::min<int64_t>(k_cfg, spec_.num_experts));
    kmax_ = std::max(kmax_, item_k_[i]);
    if (r) {
      std::memcpy(hm + m.masks + mask_at, r->mask(0), mask_bytes);
      mask_dev_[i] = meta_dev_ + m.masks + mask_at;
      mask_at += mask_bytes;
    }
    for (int64_t j = 0; j < it.n; ++j) {
      const int64_t row = it.begin + j, pos = it.start + j;
      h_pos[row] = int32_t(pos);
      h_page[row] = it.pages[pos / layout.page_tokens];
      h_k[row] = item_k_[i];
      if (any_mask_) h_mask[row] = mask_dev_[i];
    }
    std::memcpy(h_pt + pt_at, it.pages, size_t(it.num_pages) * 8);
    h_items[i] = ops::cuda::AttentionItem{
        reinterpret_cast<const uint8_t* const*>(meta_dev_ + m.page_tables + size_t(pt_at) * 8), int32_t(it.start),
        int32_t(it.n), int32_t(it.begin)};
    pt_at += it.num_pages;
    max_new_ = std::max<int>(max_new_, int(it.n));
    max_len_ = std::max<int>(max_len_, int(it.start + it.n));
  }
  attn_items_ = int(n_items);
  BANYAN_CHECK(kmax_ <= 32, "the CUDA engine routes at most 32 experts per token, not {}", kmax_);
  for (size_t i = 0; i < n_items; ++i)
    for (int64_t r = out.item_rows[i]; r < out.item_rows[i + 1]; ++r)
      h_rows[r] = int32_t(items[i].begin + out.row_positions[size_t(r)]);
  BANYAN_CUDA_CHECK(cudaMemcpyAsync(meta_dev_, host_meta_, m.total, cudaMemcpyHostToDevice, stream_));
}

void CudaBackend::forward(std::span<BatchItem> batch, std::span<const DeviceItem> items, const int32_t* tokens,
                          int64_t N, const ops::KvLayout& layout, ForwardOutput& out) {
  BANYAN_CUDA_CHECK(cudaSetDevice(device_));
  const ModelSpec& s = spec_;
  const int64_t H = s.hidden_size, V = s.vocab_size;
  if (graph_eligible(batch, items, N)) {
    run_decode_graph(batch, items, tokens, N, layout, out);
  } else {
    // The general path (prefill, mixed batches, taps, restrictions, > 32 items): launched op by op.
    upload_meta(batch, items, tokens, N, layout, out);
    run_body(batch, items, N, layout);
  }
  float* h = h_.as<float>(size_t(N * H), stream_);
  const int64_t R = int64_t(out.row_positions.size());
  float* fin = final_.as<float>(size_t(R * H), stream_);
  ops::cuda::gather_rows(h, reinterpret_cast<const int32_t*>(meta_dev_ + meta_.logit_rows), R, H, fin, stream_);
  float* logits = logits_.as<float>(size_t(R * V), stream_);
  matmul_->run(fin, R, H, weights_->lm_head, logits, V, false);
  if (out.argmax_only) {
    int32_t* ids = argmax_.as<int32_t>(size_t(R), stream_);
    ops::cuda::argmax_rows(logits, R, V, ids, stream_);
    out.argmax.resize(size_t(R));
    download(out.argmax.data(), ids, size_t(R) * sizeof(int32_t));
  }
  if (!out.sampling.empty()) {
    // Sampling on the device: only the rows that return logits are downloaded, before the sampler penalises the
    // sampled rows in place (same stream, so in order); then the token ids.
    for (int64_t r = 0; r < R;) {
      if (!out.returns_logits(r)) {
        ++r;
        continue;
      }
      int64_t e = r + 1;
      while (e < R && out.returns_logits(e)) ++e;
      if (out.logits.size() < size_t(R * V)) out.logits.resize(size_t(R * V));
      BANYAN_CUDA_CHECK(cudaMemcpyAsync(out.logits.data() + r * V, logits + r * V, size_t((e - r) * V) * sizeof(float),
                                        cudaMemcpyDeviceToHost, stream_));
      r = e;
    }
    row_sampler_.sample(logits, V, out.sampling, out.sampled, stream_);
  } else if (!out.argmax_only) {
    out.logits.resize(size_t(R * V));
    download(out.logits.data(), logits, size_t(R * V) * sizeof(float));
  }
}

// Embedding → every layer → final norm (folding in the last layer's pending FFN output) into h_, N rows.
void CudaBackend::run_body(std::span<BatchItem> batch, std::span<const DeviceItem> items, int64_t N,
                           const ops::KvLayout& layout) {
  const ModelSpec& s = spec_;
  const int64_t H = s.hidden_size;
  const auto* d_tokens = reinterpret_cast<const int32_t*>(meta_dev_ + meta_.tokens);
  const auto* d_pos = reinterpret_cast<const int32_t*>(meta_dev_ + meta_.positions);
  float* x = x_.as<float>(size_t(N * H), stream_);
  ops::cuda::embedding(weights_->embed.dtype, weights_->embed.data, H, d_tokens, N, x, stream_);
  const int64_t half = rope_.rotary_dim / 2;
  ops::cuda::rope_cos_sin(inv_freq_, half, rope_.attention_scaling, d_pos, N, cos_.as<float>(size_t(N * half), stream_),
                          sin_.as<float>(size_t(N * half), stream_), stream_);
  pending_ = nullptr;
  for (int l = 0; l < int(s.num_layers); ++l) run_layer(l, batch, items, N, layout);
  float* h = h_.as<float>(size_t(N * H), stream_);
  ops::cuda::add_rmsnorm(x, pending_, N, H, H, weights_->final_norm, float(s.rms_norm_eps), h, H, stream_);
}

bool CudaBackend::graph_eligible(std::span<BatchItem> batch, std::span<const DeviceItem> items, int64_t N) const {
  if (!graphs_enabled_ || N != int64_t(items.size()) || graph_bucket(N) == 0) return false;
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].n != 1 || batch[i].taps || batch[i].restriction) return false;
  return true;
}

// Metadata of a pure decode step padded to `rows` items, in a layout that depends on `rows` only (the page
// tables, whose size varies, come last): padding rows read token 0 at position 0, write their K/V into a scratch
// page and are attention items with no new token.
void CudaBackend::upload_decode_meta(std::span<const DeviceItem> items, const int32_t* tokens, int rows,
                                     const ops::KvLayout& layout, const ForwardOutput& out) {
  const size_t n_items = items.size();
  int64_t n_pages = 0;
  for (const DeviceItem& it : items) n_pages += it.num_pages;
  MetaLayout m;
  size_t at = 0;
  auto take = [&](size_t bytes) {
    const size_t o = at;
    at = align16(at + bytes);
    return o;
  };
  const size_t B = size_t(rows);
  m.tokens = take(B * 4);
  m.positions = take(B * 4);
  m.row_page = take(B * 8);
  m.row_mask = take(0);
  m.row_k = take(B * 4);
  m.attn_items = take(B * sizeof(ops::cuda::AttentionItem));
  m.logit_rows = take(B * 4);
  m.masks = take(0);
  m.page_tables = take(size_t(std::max<int64_t>(n_pages, 1)) * 8);
  m.total = at;
  meta_ = m;
  grow_host_meta(m.total);
  if (scratch_page_bytes_ < layout.page_bytes()) {
    BANYAN_CUDA_CHECK(cudaStreamSynchronize(stream_));
    BANYAN_CUDA_CHECK(cudaFree(scratch_page_));
    scratch_page_ = nullptr;
    BANYAN_CUDA_CHECK(cudaMalloc(&scratch_page_, layout.page_bytes()));
    scratch_page_bytes_ = layout.page_bytes();
  }
  meta_dev_ = static_cast<uint8_t*>(d_meta_.reserve(m.total, stream_));
  uint8_t* hm = host_meta_;
  auto* h_tokens = reinterpret_cast<int32_t*>(hm + m.tokens);
  auto* h_pos = reinterpret_cast<int32_t*>(hm + m.positions);
  auto* h_page = reinterpret_cast<const uint8_t**>(hm + m.row_page);
  auto* h_k = reinterpret_cast<int32_t*>(hm + m.row_k);
  auto* h_items = reinterpret_cast<ops::cuda::AttentionItem*>(hm + m.attn_items);
  auto* h_pt = reinterpret_cast<const uint8_t**>(hm + m.page_tables);
  auto* h_rows = reinterpret_cast<int32_t*>(hm + m.logit_rows);
  const int k = int(std::min<int64_t>(spec_.top_k, spec_.num_experts));
  item_k_.assign(n_items, k);
  mask_dev_.assign(n_items, nullptr);
  kmax_ = k;
  any_mask_ = false;
  max_new_ = 1;
  max_len_ = 0;
  const auto* d_pt = reinterpret_cast<const uint8_t* const*>(meta_dev_ + m.page_tables);
  int64_t pt_at = 0;
  for (size_t i = 0; i < B; ++i) {
    h_k[i] = k;
    if (i < n_items) {
      const DeviceItem& it = items[i];
      h_tokens[i] = tokens[it.begin];
      h_pos[i] = int32_t(it.start);
      h_page[i] = it.pages[it.start / layout.page_tokens];
      std::memcpy(h_pt + pt_at, it.pages, size_t(it.num_pages) * 8);
      h_items[i] = ops::cuda::AttentionItem{d_pt + pt_at, int32_t(it.start), 1, int32_t(i)};
      pt_at += it.num_pages;
      max_len_ = std::max<int>(max_len_, int(it.start + 1));
    } else {
      h_tokens[i] = 0;
      h_pos[i] = 0;
      h_page[i] = static_cast<const uint8_t*>(scratch_page_);
      h_items[i] = ops::cuda::AttentionItem{d_pt, 0, 0, int32_t(i)};
    }
  }
  BANYAN_CHECK(kmax_ <= 32, "the CUDA engine routes at most 32 experts per token, not {}", kmax_);
  // Logits rows: row r of item i is its only token, graph row i (the LM head runs outside the graph on R rows).
  for (size_t i = 0; i < n_items; ++i)
    for (int64_t r = out.item_rows[i]; r < out.item_rows[i + 1]; ++r) h_rows[r] = int32_t(i);
  BANYAN_CUDA_CHECK(cudaMemcpyAsync(meta_dev_, host_meta_, m.total, cudaMemcpyHostToDevice, stream_));
}

std::vector<const void*> CudaBackend::graph_buffers() const {
  return {x_.ptr(),   h_.ptr(),     qkv_.ptr(),   attn_.ptr(),          tmp_.ptr(),     gu_.ptr(),
          act_.ptr(), shared_.ptr(), gate_.ptr(), router_logits_.ptr(), probs_.ptr(),   ids_.ptr(),
          route_w_.ptr(), cos_.ptr(), sin_.ptr(), meta_dev_,            moe_ws_.data,   attn_ws_.data,
          matmul_->staging(), scratch_page_};
}

void CudaBackend::run_decode_graph(std::span<BatchItem> batch, std::span<const DeviceItem> items,
                                   const int32_t* tokens, int64_t N, const ops::KvLayout& layout,
                                   const ForwardOutput& out) {
  const int rows = graph_bucket(N);
  upload_decode_meta(items, tokens, rows, layout, out);
  const int len_bound = graph_len_bound(max_len_);
  max_len_ = len_bound;  // the attention grid is planned for the bound (any length ≤ it is valid)
  attn_items_ = rows;
  DecodeGraph* g = nullptr;
  for (auto& c : graphs_)
    if (c.rows == rows && c.len_bound == len_bound) g = &c;
  if (g && g->exec && g->buffers == graph_buffers()) {
    BANYAN_CUDA_CHECK(cudaGraphLaunch(g->exec, stream_));
    return;
  }
  // First use of this shape, or a buffer was reallocated since the capture: run it op by op (this grows every
  // buffer and workspace to the shape, and is this step's result), then capture it for the next steps.
  run_body(batch, items, rows, layout);
  if (!g) {
    graphs_.push_back(DecodeGraph{rows, len_bound, nullptr, {}});
    g = &graphs_.back();
  }
  if (g->exec) {
    BANYAN_CUDA_CHECK(cudaGraphExecDestroy(g->exec));
    g->exec = nullptr;
  }
  g->buffers = graph_buffers();
  cudaGraph_t graph = nullptr;
  BANYAN_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  try {
    run_body(batch, items, rows, layout);
  } catch (...) {
    cudaStreamEndCapture(stream_, &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  BANYAN_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
  const cudaError_t err = cudaGraphInstantiate(&g->exec, graph, 0);
  cudaGraphDestroy(graph);
  BANYAN_CUDA_CHECK(err);
  BANYAN_CHECK(g->buffers == graph_buffers(), "cuda graph capture ({} rows): a buffer was reallocated while capturing",
               rows);
}

void CudaBackend::run_layer(int layer, std::span<BatchItem> batch, std::span<const DeviceItem> items, int64_t N,
                            const ops::KvLayout& layout) {
  const ModelSpec& s = spec_;
  const DeviceLayer& g = weights_->layers[size_t(layer)];
  const int64_t H = s.hidden_size, hd = s.head_dim;
  const int64_t q_dim = s.num_heads * hd, kv_dim = s.num_kv_heads * hd, qs = q_dim + 2 * kv_dim;
  const float eps = float(s.rms_norm_eps);
  float* x = x_.as<float>(size_t(N * H), stream_);
  float* h = h_.as<float>(size_t(N * H), stream_);

  // --- attention block ---
  ops::cuda::add_rmsnorm(x, pending_, N, H, H, g.attn_norm, eps, h, H, stream_);
  pending_ = nullptr;
  float* qkv = qkv_.as<float>(size_t(N * qs), stream_);
  matmul_->run(h, N, H, g.qkv, qkv, qs, false);
  ops::cuda::QkvChain chain;
  chain.num_heads = s.num_heads;
  chain.num_kv_heads = s.num_kv_heads;
  chain.head_dim = hd;
  chain.rotary_dim = rope_.rotary_dim;
  chain.bias = g.qkv_bias;
  chain.qk_norm = fam_.qk_norm;
  chain.q_norm = g.q_norm;
  chain.k_norm = g.k_norm;
  chain.eps = eps;
  chain.clip = fam_.clip_qkv ? *fam_.clip_qkv : 0.0f;
  const int64_t half = rope_.rotary_dim / 2;
  ops::cuda::qkv_chain(chain, qkv, N, qs, cos_.as<float>(size_t(N * half), stream_),
                       sin_.as<float>(size_t(N * half), stream_), layout, layer,
                       reinterpret_cast<uint8_t* const*>(meta_dev_ + meta_.row_page),
                       reinterpret_cast<const int32_t*>(meta_dev_ + meta_.positions), stream_);
  float* attn = attn_.as<float>(size_t(N * q_dim), stream_);
  const ops::AttentionShape shape{s.num_heads, s.num_kv_heads, hd, 1.0f / std::sqrt(float(hd))};
  attn_ws_.reserve(ops::cuda::attention_workspace_bytes(shape, attn_items_, max_new_, max_len_));
  ops::cuda::paged_attention(shape, layout, layer,
                             reinterpret_cast<const ops::cuda::AttentionItem*>(meta_dev_ + meta_.attn_items),
                             attn_items_, max_new_, max_len_, qkv, qs, attn, q_dim, stream_, &attn_ws_);
  matmul_->run(attn, N, q_dim, g.o, x, H, /*accumulate=*/true);

  // --- FFN block ---
  ops::cuda::add_rmsnorm(x, nullptr, N, H, H, g.ffn_norm, eps, h, H, stream_);
  if (g.is_moe) {
    moe_block(layer, g, batch, items, N);
  } else {
    const int64_t I = g.dense_down.cols;
    float* gu = gu_.as<float>(size_t(N * 2 * I), stream_);
    float* act = act_.as<float>(size_t(N * I), stream_);
    matmul_->run(h, N, H, g.dense_gate_up, gu, 2 * I, false);
    ops::cuda::swiglu(gu, N, I, act, stream_);
    matmul_->run(act, N, I, g.dense_down, x, H, /*accumulate=*/true);
  }
}

void CudaBackend::moe_block(int layer, const DeviceLayer& g, std::span<BatchItem> batch,
                            std::span<const DeviceItem> items, int64_t N) {
  const ModelSpec& s = spec_;
  const int64_t H = s.hidden_size, E = s.num_experts;
  const int ord = moe_ordinal_[size_t(layer)];
  float* h = h_.as<float>(size_t(N * H), stream_);
  float* logits = router_logits_.as<float>(size_t(N * E), stream_);
  matmul_->run(h, N, H, g.router, logits, E, false);

  bool any_tap = false, full_taps = false, any_norms = false;
  for (size_t i = 0; i < batch.size(); ++i)
    if (find_tap(batch[i].taps, layer)) {
      any_tap = true;
      any_norms = any_norms || batch[i].taps->expert_output_norms;
    }
  if (any_tap && !g.full_router.empty()) full_taps = true;
  float* probs = any_tap && !full_taps ? probs_.as<float>(size_t(N * E), stream_) : nullptr;
  int32_t* ids = ids_.as<int32_t>(size_t(N * kmax_), stream_);
  float* rw = route_w_.as<float>(size_t(N * kmax_), stream_);
  ops::cuda::router_topk(logits, N, E,
                         any_mask_ ? reinterpret_cast<const uint8_t* const*>(meta_dev_ + meta_.row_mask) : nullptr,
                         int64_t(ord) * E, reinterpret_cast<const int32_t*>(meta_dev_ + meta_.row_k), kmax_,
                         fam_.renormalize_topk, probs, ids, rw, stream_);
  if (any_tap) {
    for (size_t i = 0; i < batch.size(); ++i) {
      RouterTap* tap = find_tap(batch[i].taps, layer);
      if (!tap) continue;
      const DeviceItem& it = items[i];
      const ExpertRestriction* r = batch[i].restriction;
      const int k = std::min(item_k_[i], r ? r->allowed_count(ord) : int(E));
      tap->k = k;
      if (full_taps) {
        const int64_t G = weights_->full_num_experts;
        float* fp = tap_probs_.as<float>(size_t(it.n * G), stream_);
        matmul_->run(h + it.begin * H, it.n, H, g.full_router, fp, G, false);
        ops::cuda::softmax_rows(fp, it.n, G, stream_);
        tap->probs.resize(size_t(it.n * G));
        download(tap->probs.data(), fp, tap->probs.size() * sizeof(float));
      } else {
        tap->probs.resize(size_t(it.n * E));
        download(tap->probs.data(), probs + it.begin * E, tap->probs.size() * sizeof(float));
      }
      host_ids_.resize(size_t(it.n * kmax_));
      host_w_.resize(size_t(it.n * kmax_));
      download(host_ids_.data(), ids + it.begin * kmax_, host_ids_.size() * sizeof(int32_t));
      download(host_w_.data(), rw + it.begin * kmax_, host_w_.size() * sizeof(float));
      tap->ids.resize(size_t(it.n * k));
      tap->weights.resize(size_t(it.n * k));
      for (int64_t t = 0; t < it.n; ++t)
        for (int j = 0; j < k; ++j) {
          tap->ids[size_t(t * k + j)] = host_ids_[size_t(t * kmax_ + j)];
          tap->weights[size_t(t * k + j)] = host_w_[size_t(t * kmax_ + j)];
        }
    }
  }

  float* out = tmp_.as<float>(size_t(N * H), stream_);
  if (any_norms) {
    expert_norms(layer, g, batch, items, N, ids, rw, out);
  } else if (g.expert_dtype == DType::F8_E4M3) {
    moe_ws_.reserve(ops::cuda::moe_workspace_bytes(N, kmax_, H, g.experts_fp8.inter));
    ops::cuda::moe_experts(g.experts_fp8, h, N, H, ids, rw, kmax_, out, H, moe_ws_, stream_);
  } else if (g.expert_dtype == DType::BF16) {
    moe_ws_.reserve(ops::cuda::moe_workspace_bytes(N, kmax_, H, g.experts_bf16.inter));
    ops::cuda::moe_experts(g.experts_bf16, h, N, H, ids, rw, kmax_, out, H, moe_ws_, stream_);
  } else {
    moe_ws_.reserve(ops::cuda::moe_workspace_bytes(N, kmax_, H, g.experts_f32.inter));
    ops::cuda::moe_experts(g.experts_f32, h, N, H, ids, rw, kmax_, out, H, moe_ws_, stream_);
  }
  if (!g.shared_gate_up.empty()) {  // Qwen2-MoE: out += sigmoid(gate · h) · shared_expert(h)
    const int64_t I = g.shared_down.cols;
    float* gu = gu_.as<float>(size_t(N * 2 * I), stream_);
    float* act = act_.as<float>(size_t(N * I), stream_);
    float* sh = shared_.as<float>(size_t(N * H), stream_);
    matmul_->run(h, N, H, g.shared_gate_up, gu, 2 * I, false);
    ops::cuda::swiglu(gu, N, I, act, stream_);
    matmul_->run(act, N, I, g.shared_down, sh, H, false);
    float* gate = nullptr;
    if (!g.shared_gate.empty()) {
      gate = gate_.as<float>(size_t(N), stream_);
      matmul_->run(h, N, H, g.shared_gate, gate, 1, false);
    }
    ops::cuda::add_gated(out, sh, gate, N, H, stream_);
  }
  pending_ = out;  // added to x by the next RMSNorm (fused residual)
}

// The routed experts of a layer where some item's tap asks for expert output norms (RouterTapRequest::
// expert_output_norms; the general path only): the experts run with every assignment's squared output norm kept,
// and each such item's tap gets, as in ops::moe_experts on the CPU, weighted_output_norm[e] = Σ weight · ‖expert e's
// output‖₂ (the norm before the routing weight, summed in double) and token_count[e] over this call's tokens, from
// its first k slots only (slots past k, under a restriction that allows fewer experts, are weight-0 padding). The
// tap's ids and weights were filled by moe_block before this call.
void CudaBackend::expert_norms(int layer, const DeviceLayer& g, std::span<BatchItem> batch,
                               std::span<const DeviceItem> items, int64_t N, const int32_t* ids, const float* rw,
                               float* out) {
  const int64_t H = spec_.hidden_size, E = spec_.num_experts;
  const float* h = h_.as<float>(size_t(N * H), stream_);
  float* sumsq = tap_norms_.as<float>(size_t(N * kmax_), stream_);
  if (g.expert_dtype == DType::F8_E4M3) {
    moe_ws_.reserve(ops::cuda::moe_workspace_bytes(N, kmax_, H, g.experts_fp8.inter));
    ops::cuda::moe_experts_with_norms(g.experts_fp8, h, N, H, ids, rw, kmax_, out, H, sumsq, moe_ws_, stream_);
  } else if (g.expert_dtype == DType::BF16) {
    moe_ws_.reserve(ops::cuda::moe_workspace_bytes(N, kmax_, H, g.experts_bf16.inter));
    ops::cuda::moe_experts_with_norms(g.experts_bf16, h, N, H, ids, rw, kmax_, out, H, sumsq, moe_ws_, stream_);
  } else {
    moe_ws_.reserve(ops::cuda::moe_workspace_bytes(N, kmax_, H, g.experts_f32.inter));
    ops::cuda::moe_experts_with_norms(g.experts_f32, h, N, H, ids, rw, kmax_, out, H, sumsq, moe_ws_, stream_);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    RouterTap* tap = find_tap(batch[i].taps, layer);
    if (!tap || !batch[i].taps->expert_output_norms) continue;
    const DeviceItem& it = items[i];
    const int k = tap->k;
    host_sumsq_.resize(size_t(it.n * kmax_));
    download(host_sumsq_.data(), sumsq + it.begin * kmax_, host_sumsq_.size() * sizeof(float));
    tap->weighted_output_norm.assign(size_t(E), 0.0);
    tap->token_count.assign(size_t(E), 0);
    for (int64_t t = 0; t < it.n; ++t)
      for (int j = 0; j < k; ++j) {
        const int32_t e = tap->ids[size_t(t * k + j)];
        BANYAN_CHECK(e >= 0 && e < E, "forward: router tap on layer {}: expert id {} outside [0, {})", layer, e, E);
        tap->weighted_output_norm[size_t(e)] +=
            double(tap->weights[size_t(t * k + j)]) * std::sqrt(double(host_sumsq_[size_t(t * kmax_ + j)]));
        ++tap->token_count[size_t(e)];
      }
  }
}

}  // namespace

std::unique_ptr<DeviceBackend> make_device_backend(const std::string& device, const ModelWeights& weights,
                                                   const EngineOptions& options, bool dummy) {
  return std::make_unique<CudaBackend>(parse_device_index(device), weights, options, dummy);
}

}  // namespace banyan
