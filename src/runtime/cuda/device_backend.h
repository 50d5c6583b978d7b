// The seam between Engine (runtime/engine.h) and a device backend: the engine validates a batch, reserves KV pages
// (allocated by the backend's KvPageMemory, so they live on the device) and fills the logits row list; the backend
// runs the whole forward pass on its device and fills logits, argmax ids and router taps.
// Plain C++ (no CUDA headers): compiled in every build; make_device_backend fails clearly without CUDA.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "runtime/kv_cache.h"

namespace banyan {

struct BatchItem;
struct ForwardOutput;
struct ModelWeights;
struct EngineOptions;

// One item of a flattened batch, as the engine laid it out.
struct DeviceItem {
  const uint8_t* const* pages = nullptr;  // host array of the sequence's page pointers (device memory)
  int64_t num_pages = 0;                  // pages covering [0, start + n)
  int64_t begin = 0, n = 0;               // rows in the flattened batch
  int64_t start = 0;                      // sequence length before this call
};

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  // Memory for KV pages on this device (the KvCache takes ownership).
  virtual std::unique_ptr<KvPageMemory> make_kv_page_memory() = 0;
  // Runs every layer for the batch: tokens [n_tokens] (item i owns rows [items[i].begin, +n)); out.item_rows and
  // out.row_positions are filled by the engine, the backend fills out.logits (or out.argmax when
  // out.argmax_only), out.sampled when out.sampling is set (checked by the engine: one entry per row, valid
  // params with seeds, valid histories; rows with params are sampled on the device, and only the rows
  // out.returns_logits(r) are downloaded) and the items' router taps. Throws banyan::Error on device errors.
  virtual void forward(std::span<BatchItem> batch, std::span<const DeviceItem> items, const int32_t* tokens,
                       int64_t n_tokens, const ops::KvLayout& layout, ForwardOutput& out) = 0;
  // Device memory the backend holds (weights + workspaces), bytes.
  virtual size_t device_bytes() const = 0;
  virtual std::string device_name() const = 0;
};

// `device` is "cuda" or "cuda:i". dummy: weights are random, generated on the device (weights.layers may be empty;
// only weights.spec and weights.options are read). Errors in a build without CUDA.
std::unique_ptr<DeviceBackend> make_device_backend(const std::string& device, const ModelWeights& weights,
                                                   const EngineOptions& options, bool dummy);

}  // namespace banyan
