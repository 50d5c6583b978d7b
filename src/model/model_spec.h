// ModelSpec: everything banyan needs to know about a model, parsed from a Hugging Face config.json.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace banyan {

enum class Family { Qwen3Moe, Qwen2Moe, Mixtral, Olmoe, DeepseekV2, DeepseekV3, KimiK2 };

std::string_view family_name(Family f);               // the config's model_type, e.g. "qwen3_moe"
std::optional<Family> parse_family(std::string_view model_type);
std::vector<std::string> supported_model_types();
bool family_has_engine(Family f);                     // qwen3_moe, qwen2_moe, mixtral, olmoe

enum class RouterScoring { Softmax, Sigmoid };
// Where q/k RMSNorm applies: none, per head over head_dim (Qwen3), or over the whole projection (OLMoE).
enum class QkNorm { None, PerHead, Full };

struct RopeSpec {
  double theta = 10000.0;
  std::string type = "default";  // default | linear | dynamic | yarn | llama3 | longrope
  double factor = 1.0;
  int64_t original_max_position = 0;
  double beta_fast = 32.0, beta_slow = 1.0;  // yarn
  double mscale = 0.0, mscale_all_dim = 0.0;  // yarn (DeepSeek)
  std::optional<double> attention_factor;     // yarn
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  double partial_rotary_factor = 1.0;
  bool interleave = false;  // rotate (even, odd) pairs instead of halves (DeepSeek rope_interleave, default on)
};

struct ModelSpec {
  Family family = Family::Qwen3Moe;
  std::string model_type;
  std::string torch_dtype;  // "bfloat16", ... ("dtype" in transformers v5 configs)

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;  // config head_dim, else hidden/heads; MLA families: qk_nope_head_dim + qk_rope_head_dim
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  RopeSpec rope;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projections carry a bias (Qwen2)
  QkNorm qk_norm = QkNorm::None;
  std::optional<double> clip_qkv;  // OLMoE
  std::string hidden_act = "silu";

  // MLP / MoE
  int64_t intermediate_size = 0;       // dense MLP layers (Mixtral/OLMoE: the config value, equal to one expert's)
  int64_t moe_intermediate_size = 0;   // one routed expert
  int64_t num_experts = 0;             // routed experts per MoE layer
  int64_t top_k = 0;
  bool norm_topk_prob = false;         // renormalise the top-k weights to sum to 1
  RouterScoring scoring = RouterScoring::Softmax;
  bool has_selection_bias = false;     // DeepSeek-V3 e_score_correction_bias
  std::string topk_method = "greedy";  // DeepSeek: greedy | group_limited_greedy | noaux_tc
  int64_t n_group = 1, topk_group = 1; // group-limited routing (DeepSeek)
  double routed_scaling_factor = 1.0;
  int64_t num_shared_experts = 0;              // DeepSeek n_shared_experts; Qwen2-MoE has 1
  int64_t shared_expert_intermediate_size = 0; // total intermediate of the shared expert(s)
  bool shared_expert_gate = false;             // Qwen2-MoE sigmoid gate on the shared expert
  std::vector<bool> layer_is_moe;              // per layer
  int64_t num_nextn_predict_layers = 0;        // DeepSeek-V3 multi-token-prediction layers stored after the last

  // MLA (DeepSeek-V2/V3, Kimi-K2)
  int64_t q_lora_rank = 0;  // 0: no q compression
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;

  // Special tokens
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;

  nlohmann::json raw;  // the config as read

  int64_t num_moe_layers() const;
  std::vector<int> moe_layers() const;  // indices of MoE layers
  bool is_moe_layer(int layer) const {
    return layer >= 0 && size_t(layer) < layer_is_moe.size() && layer_is_moe[size_t(layer)];
  }
  bool uses_mla() const { return kv_lora_rank > 0; }
};

// Parses a config.json object. `source` (a path) prefixes errors. Unknown model_type is an error listing the
// supported ones; missing required fields are errors naming the field.
ModelSpec parse_model_spec(const nlohmann::json& config, const std::string& source);
// Reads DIR/config.json (and DIR/generation_config.json for extra eos ids).
ModelSpec load_model_spec(const std::filesystem::path& dir);

}  // namespace banyan
