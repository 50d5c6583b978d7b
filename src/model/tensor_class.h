// Classification of every checkpoint tensor: trunk, router, routed expert, shared expert, dense MLP.
#pragma once
#include <string>

#include "model/model_spec.h"

namespace banyan {

enum class TensorRole {
  Trunk,             // embeddings, attention, norms, output head
  Router,            // MoE gate matrix [num_experts, hidden]
  RouterBias,        // selection bias (DeepSeek-V3 e_score_correction_bias)
  RoutedExpert,      // one routed expert's projection, or a fused [experts, ...] stack
  SharedExpert,      // shared expert projections
  SharedExpertGate,  // Qwen2-MoE shared_expert_gate
  DenseMlp,          // MLP of a dense (non-MoE) layer
  Unused,            // stored but not part of the HF model (DeepSeek-V3 multi-token-prediction layers)
};
std::string_view role_name(TensorRole r);

enum class ExpertProj { Gate, Up, Down, GateUp };  // GateUp: fused gate+up stacks (GPT-OSS style)

struct TensorClass {
  TensorRole role = TensorRole::Trunk;
  int layer = -1;            // -1 for tensors outside decoder layers
  int expert = -1;           // routed expert index; -1 when fused (all experts in one tensor)
  ExpertProj proj = ExpertProj::Gate;
  bool fused = false;        // tensor stacks all experts: [num_experts, ...]
  bool is_bias = false;      // a projection's bias rather than its weight
  bool is_scale = false;     // a quantisation scale beside a weight (e.g. FP8 weight_scale_inv)
};

// Classifies `name` for the model's family; throws banyan::Error naming the tensor when it fits no class.
TensorClass classify_tensor(const ModelSpec& spec, const std::string& name);

// Family weight naming (per-expert layout as Hugging Face saves it).
std::string router_weight_name(const ModelSpec& spec, int layer);
// proj must be Gate, Up or Down.
std::string expert_weight_name(const ModelSpec& spec, int layer, int expert, ExpertProj proj);
std::string_view expert_proj_name(ExpertProj p);  // "gate", "up", "down", "gate_up"

}  // namespace banyan
