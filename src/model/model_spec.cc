// Common config.json parsing (dims, heads, RoPE, special tokens); family files fill in the MoE-specific fields.
#include "model/model_spec.h"

#include <fstream>

#include "core/error.h"
#include "model/config_reader.h"
#include "model/family.h"

namespace banyan {

namespace {

constexpr Family kAllFamilies[] = {Family::Qwen3Moe,   Family::Qwen2Moe,   Family::Mixtral, Family::Olmoe,
                                   Family::DeepseekV2, Family::DeepseekV3, Family::KimiK2};

const char* const kRopeTypes[] = {"default", "linear", "dynamic", "yarn", "llama3", "longrope"};

void read_rope_fields(const ConfigReader& r, RopeSpec& rope, const std::string& where) {
  if (r.has("rope_type"))
    rope.type = r.opt_string("rope_type", rope.type);
  else if (r.has("type"))
    rope.type = r.opt_string("type", rope.type);
  rope.theta = r.opt_double("rope_theta", rope.theta);
  rope.factor = r.opt_double("factor", rope.factor);
  rope.original_max_position = r.opt_int("original_max_position_embeddings", rope.original_max_position);
  rope.beta_fast = r.opt_double("beta_fast", rope.beta_fast);
  rope.beta_slow = r.opt_double("beta_slow", rope.beta_slow);
  rope.mscale = r.opt_double("mscale", rope.mscale);
  rope.mscale_all_dim = r.opt_double("mscale_all_dim", rope.mscale_all_dim);
  if (auto af = r.maybe_double("attention_factor")) rope.attention_factor = af;
  rope.low_freq_factor = r.opt_double("low_freq_factor", rope.low_freq_factor);
  rope.high_freq_factor = r.opt_double("high_freq_factor", rope.high_freq_factor);
  rope.partial_rotary_factor = r.opt_double("partial_rotary_factor", rope.partial_rotary_factor);
  bool known = false;
  for (const char* t : kRopeTypes) known = known || rope.type == t;
  if (!known) fail("{}: unsupported RoPE type \"{}\" (supported: default, linear, dynamic, yarn, llama3, longrope)",
                   where, rope.type);
}

// Legacy configs: rope_theta at top level plus an optional rope_scaling object. transformers v5: rope_parameters
// holding rope_type, rope_theta and the scaling fields (or one such object per attention type).
RopeSpec parse_rope(const ConfigReader& cfg, int64_t max_positions) {
  RopeSpec rope;
  rope.theta = cfg.opt_double("rope_theta", rope.theta);
  rope.partial_rotary_factor = cfg.opt_double("partial_rotary_factor", 1.0);
  const auto& j = cfg.json();
  if (cfg.has("rope_parameters")) {
    const nlohmann::json* params = &j.at("rope_parameters");
    BANYAN_CHECK(params->is_object(), "{}: rope_parameters is not an object", cfg.source());
    if (!params->contains("rope_type") && !params->contains("rope_theta") && !params->empty() &&
        params->begin()->is_object()) {
      // Per attention type ({"full_attention": {...}, ...}): these families use full attention only.
      params = params->contains("full_attention") ? &params->at("full_attention") : &*params->begin();
    }
    read_rope_fields(ConfigReader(*params, cfg.source() + " rope_parameters"), rope, cfg.source());
  } else if (cfg.has("rope_scaling")) {
    const auto& scaling = j.at("rope_scaling");
    BANYAN_CHECK(scaling.is_object(), "{}: rope_scaling is not an object", cfg.source());
    read_rope_fields(ConfigReader(scaling, cfg.source() + " rope_scaling"), rope, cfg.source());
  }
  if (rope.type == "yarn" && rope.original_max_position == 0) rope.original_max_position = max_positions;
  BANYAN_CHECK(rope.theta > 0, "{}: rope_theta must be positive, got {}", cfg.source(), rope.theta);
  return rope;
}

}  // namespace

std::string_view family_name(Family f) { return family_traits(f).model_type; }

std::optional<Family> parse_family(std::string_view model_type) {
  for (Family f : kAllFamilies)
    if (family_traits(f).model_type == model_type) return f;
  return std::nullopt;
}

std::vector<std::string> supported_model_types() {
  std::vector<std::string> out;
  for (Family f : kAllFamilies) out.emplace_back(family_traits(f).model_type);
  return out;
}

bool family_has_engine(Family f) { return family_traits(f).has_engine; }

const FamilyTraits& family_traits(Family f) {
  switch (f) {
    case Family::Qwen3Moe: return qwen3_moe_traits();
    case Family::Qwen2Moe: return qwen2_moe_traits();
    case Family::Mixtral: return mixtral_traits();
    case Family::Olmoe: return olmoe_traits();
    case Family::DeepseekV2: return deepseek_v2_traits();
    case Family::DeepseekV3: return deepseek_v3_traits();
    case Family::KimiK2: return kimi_k2_traits();
  }
  fail("unknown Family value {}", int(f));
}

int64_t ModelSpec::num_moe_layers() const {
  int64_t n = 0;
  for (bool b : layer_is_moe) n += b;
  return n;
}

std::vector<int> ModelSpec::moe_layers() const {
  std::vector<int> out;
  for (size_t l = 0; l < layer_is_moe.size(); ++l)
    if (layer_is_moe[l]) out.push_back(int(l));
  return out;
}

ModelSpec parse_model_spec(const nlohmann::json& config, const std::string& source) {
  BANYAN_CHECK(config.is_object(), "{}: config is not a JSON object", source);
  ConfigReader cfg(config, source);
  ModelSpec s;
  s.raw = config;
  BANYAN_CHECK(cfg.has("model_type"), "{}: missing required field \"model_type\"", source);
  s.model_type = cfg.opt_string("model_type", "");
  auto family = parse_family(s.model_type);
  if (!family) fail("{}: unsupported model_type \"{}\" (supported: {})", source, s.model_type,
                    fmt::join(supported_model_types(), ", "));
  s.family = *family;
  // transformers v5 writes "dtype"; earlier versions "torch_dtype".
  s.torch_dtype = cfg.has("dtype") ? cfg.opt_string("dtype", "") : cfg.opt_string("torch_dtype", "");

  s.vocab_size = cfg.req_int("vocab_size");
  s.hidden_size = cfg.req_int("hidden_size");
  s.num_layers = cfg.req_int("num_hidden_layers");
  s.num_heads = cfg.req_int("num_attention_heads");
  BANYAN_CHECK(s.vocab_size > 0 && s.hidden_size > 0 && s.num_layers > 0 && s.num_heads > 0,
               "{}: vocab_size, hidden_size, num_hidden_layers and num_attention_heads must be positive", source);
  s.num_kv_heads = cfg.opt_int("num_key_value_heads", s.num_heads);
  BANYAN_CHECK(s.num_kv_heads > 0 && s.num_heads % s.num_kv_heads == 0,
               "{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", source, s.num_heads,
               s.num_kv_heads);
  s.head_dim = cfg.opt_int("head_dim", s.hidden_size / s.num_heads);
  s.max_position_embeddings = cfg.opt_int("max_position_embeddings", 0);
  s.rms_norm_eps = cfg.opt_double("rms_norm_eps", s.rms_norm_eps);
  s.rope = parse_rope(cfg, s.max_position_embeddings);
  s.tie_word_embeddings = cfg.opt_bool("tie_word_embeddings", false);
  s.attention_bias = cfg.opt_bool("attention_bias", false);
  s.hidden_act = cfg.opt_string("hidden_act", "silu");

  s.bos_token_id = cfg.maybe_int("bos_token_id");
  s.eos_token_ids = cfg.int_or_list("eos_token_id");
  s.pad_token_id = cfg.maybe_int("pad_token_id");

  family_traits(s.family).parse(cfg, s);

  if (s.num_moe_layers() > 0) {
    BANYAN_CHECK(s.num_experts > 0, "{}: MoE layers but no experts", source);
    BANYAN_CHECK(s.top_k > 0 && s.top_k <= s.num_experts, "{}: num_experts_per_tok {} must be in [1, {}]", source,
                 s.top_k, s.num_experts);
    BANYAN_CHECK(s.moe_intermediate_size > 0, "{}: expert intermediate size must be positive", source);
  }
  BANYAN_CHECK(s.n_group >= 1 && s.num_experts % s.n_group == 0 && s.topk_group >= 1 && s.topk_group <= s.n_group,
               "{}: n_group {} / topk_group {} do not divide {} experts", source, s.n_group, s.topk_group,
               s.num_experts);
  return s;
}

namespace {
nlohmann::json read_json_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) fail("{}: cannot open", p.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", p.string(), e.what());
  }
}
}  // namespace

ModelSpec load_model_spec(const std::filesystem::path& dir) {
  const auto config_path = dir / "config.json";
  ModelSpec s = parse_model_spec(read_json_file(config_path), config_path.string());
  // generation_config.json often lists more end-of-turn ids (Qwen3: <|im_end|> and <|endoftext|>): merge them.
  const auto gen_path = dir / "generation_config.json";
  if (std::filesystem::exists(gen_path)) {
    auto gen_json = read_json_file(gen_path);
    BANYAN_CHECK(gen_json.is_object(), "{}: not a JSON object", gen_path.string());
    ConfigReader gen(gen_json, gen_path.string());
    for (int64_t id : gen.int_or_list("eos_token_id"))
      if (std::find(s.eos_token_ids.begin(), s.eos_token_ids.end(), id) == s.eos_token_ids.end())
        s.eos_token_ids.push_back(id);
    if (!s.bos_token_id) s.bos_token_id = gen.maybe_int("bos_token_id");
    if (!s.pad_token_id) s.pad_token_id = gen.maybe_int("pad_token_id");
  }
  return s;
}

}  // namespace banyan
