// A model's weights as views into its mmap'd checkpoint (HF directory or banyan bundle: the same layout), grouped
// per layer. Large matrices are never copied; only norm weights and biases (tiny) are widened to fp32 copies.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/safetensors.h"
#include "model/model_spec.h"
#include "runtime/ops/matrix.h"
#include "runtime/ops/moe.h"

namespace banyan {

struct AttentionWeights {
  ops::Matrix q, k, v, o;
  std::vector<float> q_bias, k_bias, v_bias;  // empty when the family has none
  std::vector<float> q_norm, k_norm;          // per-head [head_dim] or full [heads·head_dim]; empty when none
};

struct LayerWeights {
  std::vector<float> attn_norm;  // input_layernorm
  std::vector<float> ffn_norm;   // post_attention_layernorm
  AttentionWeights attn;
  bool is_moe = false;
  ops::Matrix router;                     // [experts, hidden]
  std::vector<ops::ExpertWeights> experts;
  std::optional<ops::ExpertWeights> shared_expert;  // Qwen2-MoE
  ops::Matrix shared_expert_gate;                   // [1, hidden]; empty when ungated
  std::optional<ops::ExpertWeights> dense_mlp;      // dense (non-MoE) layers
};

// Architecture switches a family sets; the forward pass composes the shared blocks accordingly.
struct FamilyOptions {
  bool qkv_bias = false;
  QkNorm qk_norm = QkNorm::None;
  std::optional<float> clip_qkv;  // clamp q, k, v (after the q/k norm, as OLMoE does)
  bool renormalize_topk = false;  // divide chosen routing weights by their sum
};

struct ModelWeights {
  ModelSpec spec;
  FamilyOptions options;
  std::unique_ptr<Checkpoint> checkpoint;  // owns the mmaps the views point into
  ops::Matrix embed;                       // [vocab, hidden]
  ops::Matrix lm_head;                     // [vocab, hidden] (the embedding when tied)
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;
  // A banyan bundle's router-full.safetensors: every MoE layer's FULL router matrix [global experts, hidden],
  // so router taps can report the unmasked probabilities over all of the source model's experts (placement
  // probes need them). Empty (and full_num_experts 0) for a plain checkpoint, whose own router is already full.
  std::unique_ptr<SafetensorsFile> router_full_file;
  std::vector<ops::Matrix> full_router;  // per decoder layer; empty matrix for non-MoE layers
  int64_t full_num_experts = 0;
  // Owned storage of matrices re-encoded at load (EngineOptions::expert_dtype); views above may point into it.
  std::vector<std::vector<uint8_t>> converted;

  // Reads config.json and maps every tensor the family needs; errors name the directory and the tensor.
  static std::unique_ptr<ModelWeights> load(const std::filesystem::path& dir);
};

// Helpers for family loaders (families/*.cc): each checks dtype (bf16/f16/f32) and shape.
ops::Matrix weight_matrix(const Checkpoint& ckpt, const std::string& name, int64_t rows, int64_t cols);
std::vector<float> weight_vector(const Checkpoint& ckpt, const std::string& name, int64_t size);

}  // namespace banyan
