// `export_gguf`: a Hugging Face MoE checkpoint (a full model or a banyan node bundle) → one GGUF file that
// llama.cpp loads. Tensors stream one source tensor at a time (bounded memory).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "model/model_spec.h"
#include "pack/gguf/gguf_format.h"

namespace banyan::gguf {

// "f32" | "f16" | "bf16" | "q8_0" → the type of 2-D+ weights; norms, biases and routers stay f32.
TensorType parse_export_type(const std::string& name);

// One output tensor: the HF tensors it is built from (several for stacked experts, outermost dim = source index).
struct TensorPlan {
  TensorDesc desc;
  std::vector<std::string> sources;
  int64_t rotary_heads = 0;  // > 0: apply the HF→GGML rotary row permutation with this many heads
};

// llama.cpp's architecture name for a family (qwen3moe, qwen2moe, olmoe, llama for Mixtral).
std::string gguf_architecture(Family f);
// `<arch>.*` hyper-parameters.
std::vector<KeyValue> architecture_metadata(const ModelSpec& spec);
// Tensor names, GGML dims (reversed from PyTorch) and types for every tensor of the model.
std::vector<TensorPlan> plan_tensors(const ModelSpec& spec, const std::filesystem::path& model_dir, TensorType type);

struct ExportStats {
  size_t tensors = 0;
  uint64_t bytes = 0;
};
// Source tensors are converted `chunk_bytes` of f32 at a time (whole rows; whole heads for the rotary
// permutation); the output does not depend on it. Source pages are released after conversion (madvise), so peak
// RSS is about one chunk plus the largest metadata array, whatever the checkpoint's size. The file is written as
// "<out_file>.partial" and renamed when complete.
inline constexpr uint64_t kExportChunkBytes = 16ull << 20;
ExportStats export_gguf(const std::filesystem::path& model_dir, const std::filesystem::path& out_file,
                        TensorType type, uint64_t chunk_bytes = kExportChunkBytes);

}  // namespace banyan::gguf
