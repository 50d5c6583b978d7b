// One loader per model family (families/<family>.cc): it names the family's tensors and sets its options;
// the shared blocks (families/blocks.cc) and the engine's forward pass do the rest.
#pragma once
#include "runtime/model_weights.h"

namespace banyan::families {

struct FamilyLoader {
  FamilyOptions (*options)(const ModelSpec& spec);
  void (*load_layer)(const Checkpoint& ckpt, const ModelSpec& spec, int layer, LayerWeights& out);
};

// Errors for families the CPU engine does not run (MLA families: DeepSeek-V2/V3, Kimi-K2).
const FamilyLoader& family_loader(Family family);

const FamilyLoader& qwen3_moe_loader();
const FamilyLoader& qwen2_moe_loader();
const FamilyLoader& mixtral_loader();
const FamilyLoader& olmoe_loader();

// Shared building blocks.
// Attention projections under `prefix` + "self_attn.": q/k/v/o_proj, optional q/k/v biases and q_norm/k_norm.
void load_attention(const Checkpoint& ckpt, const ModelSpec& spec, const std::string& prefix, bool qkv_bias,
                    QkNorm qk_norm, AttentionWeights& out);
// A SwiGLU MLP with the given tensor names (gate [inter, hidden], up [inter, hidden], down [hidden, inter]).
ops::ExpertWeights load_swiglu(const Checkpoint& ckpt, const std::string& gate, const std::string& up,
                               const std::string& down, int64_t hidden, int64_t inter);
// Router + routed experts of an MoE layer, named by model/tensor_class.h.
void load_routed_experts(const Checkpoint& ckpt, const ModelSpec& spec, int layer, LayerWeights& out);
// The two RMSNorm weights around attention (input_layernorm, post_attention_layernorm).
void load_layer_norms(const Checkpoint& ckpt, const ModelSpec& spec, const std::string& prefix, LayerWeights& out);

}  // namespace banyan::families
