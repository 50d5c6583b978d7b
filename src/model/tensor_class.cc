// Classification shared by every family: the family traits say how its MoE block and expert projections are
// named; the layouts (per-expert modules, fused [experts, ...] stacks as transformers v5 / GPT-OSS / GraniteMoE save
// them) are understood for all families.
#include "model/tensor_class.h"

#include <charconv>

#include "core/error.h"
#include "model/family.h"

namespace banyan {

namespace {

bool consume(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

// Reads a decimal index followed by '.', e.g. "12." → 12.
std::optional<int> consume_index(std::string_view& s) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr == s.data() || v < 0) return std::nullopt;
  size_t used = size_t(ptr - s.data());
  if (used >= s.size() || s[used] != '.') return std::nullopt;
  if (used > 1 && s[0] == '0') return std::nullopt;  // "01" is not how HF numbers modules
  s.remove_prefix(used + 1);
  return v;
}

// The parameter of a module: weight, bias, or a quantisation scale next to a weight.
bool read_param(std::string_view param, TensorClass& c) {
  if (param == "weight") return true;
  if (param == "bias") return c.is_bias = true;
  if (param == "weight_scale_inv" || param == "weight_scale") return c.is_scale = true;
  return false;
}

// "<module>.<param>" where module is one of gate/up/down names.
bool read_proj_param(std::string_view s, const std::array<std::string_view, 3>& names, TensorClass& c) {
  static constexpr ExpertProj kProj[] = {ExpertProj::Gate, ExpertProj::Up, ExpertProj::Down};
  for (int i = 0; i < 3; ++i) {
    std::string_view rest = s;
    if (consume(rest, names[size_t(i)]) && consume(rest, ".") && read_param(rest, c)) {
      c.proj = kProj[i];
      return true;
    }
  }
  return false;
}

constexpr std::array<std::string_view, 3> kHfProjNames = {"gate_proj", "up_proj", "down_proj"};

// A fused stack of every expert's projection: experts.gate_up_proj (transformers v5, GPT-OSS), experts.down_proj,
// with an optional GPT-OSS _bias, MXFP4 _blocks/_scales, or a .weight parameter.
bool read_fused_experts(std::string_view s, TensorClass& c) {
  struct Stack {
    std::string_view name;
    ExpertProj proj;
  };
  static constexpr Stack kStacks[] = {{"gate_up_proj", ExpertProj::GateUp},
                                      {"gate_proj", ExpertProj::Gate},
                                      {"up_proj", ExpertProj::Up},
                                      {"down_proj", ExpertProj::Down}};
  for (const auto& st : kStacks) {
    std::string_view rest = s;
    if (!consume(rest, st.name)) continue;
    if (rest.empty() || rest == "_blocks" || rest == ".weight") {
    } else if (rest == "_bias" || rest == ".bias") {
      c.is_bias = true;
    } else if (rest == "_scales") {
      c.is_scale = true;
    } else {
      continue;
    }
    c.proj = st.proj;
    c.fused = true;
    return true;
  }
  return false;
}

[[noreturn]] void unclassifiable(const ModelSpec& spec, const std::string& name, std::string_view why) {
  fail("cannot classify tensor '{}' for {}: {}", name, family_name(spec.family), why);
}

// Tensors of the MoE block (`block` is what follows "<moe_block>."): router, selection bias, experts, shared expert.
bool classify_moe_block(const ModelSpec& spec, const FamilyTraits& traits, std::string_view block,
                        const std::string& name, TensorClass& c) {
  auto require_moe_layer = [&] {
    if (!spec.is_moe_layer(c.layer))
      unclassifiable(spec, name, fmt::format("MoE tensor in layer {}, which the config makes dense", c.layer));
  };
  std::string_view rest = block;
  if (block == "gate.weight" || block == "router.weight" || block == "router.layer.weight" ||
      block == "gate.bias" || block == "router.bias") {
    require_moe_layer();
    c.role = TensorRole::Router;
    c.is_bias = block.ends_with(".bias");
    return true;
  }
  if (block == "gate.e_score_correction_bias") {
    require_moe_layer();
    if (!spec.has_selection_bias) unclassifiable(spec, name, "a selection bias, but the config has none");
    c.role = TensorRole::RouterBias;
    return true;
  }
  if (consume(rest, "experts.")) {
    require_moe_layer();
    c.role = TensorRole::RoutedExpert;
    if (auto e = consume_index(rest)) {
      if (*e >= spec.num_experts)
        unclassifiable(spec, name, fmt::format("expert {} but the config has {} experts", *e, spec.num_experts));
      c.expert = *e;
      if (read_proj_param(rest, traits.expert_proj, c)) return true;
      unclassifiable(spec, name, "unknown expert projection");
    }
    if (read_fused_experts(rest, c)) return true;
    unclassifiable(spec, name, "unknown expert tensor");
  }
  if (block == "input_linear.weight" || block == "output_linear.weight") {  // GraniteMoE fused stacks
    require_moe_layer();
    c.role = TensorRole::RoutedExpert;
    c.fused = true;
    c.proj = block == "input_linear.weight" ? ExpertProj::GateUp : ExpertProj::Down;
    return true;
  }
  if (consume(rest, "shared_expert.") || consume(rest, "shared_experts.") || consume(rest, "shared_mlp.")) {
    require_moe_layer();
    if (spec.num_shared_experts == 0) unclassifiable(spec, name, "a shared expert, but the config has none");
    c.role = TensorRole::SharedExpert;
    if (read_proj_param(rest, kHfProjNames, c)) return true;
    if (rest == "input_linear.weight" || rest == "output_linear.weight") {
      c.proj = rest == "input_linear.weight" ? ExpertProj::GateUp : ExpertProj::Down;
      return true;
    }
    unclassifiable(spec, name, "unknown shared expert projection");
  }
  if (block == "shared_expert_gate.weight") {
    require_moe_layer();
    if (!spec.shared_expert_gate) unclassifiable(spec, name, "a shared expert gate, but the config has none");
    c.role = TensorRole::SharedExpertGate;
    return true;
  }
  return false;
}

}  // namespace

std::string_view role_name(TensorRole r) {
  switch (r) {
    case TensorRole::Trunk: return "trunk";
    case TensorRole::Router: return "router";
    case TensorRole::RouterBias: return "router_bias";
    case TensorRole::RoutedExpert: return "routed_expert";
    case TensorRole::SharedExpert: return "shared_expert";
    case TensorRole::SharedExpertGate: return "shared_expert_gate";
    case TensorRole::DenseMlp: return "dense_mlp";
    case TensorRole::Unused: return "unused";
  }
  return "?";
}

std::string_view expert_proj_name(ExpertProj p) {
  switch (p) {
    case ExpertProj::Gate: return "gate";
    case ExpertProj::Up: return "up";
    case ExpertProj::Down: return "down";
    case ExpertProj::GateUp: return "gate_up";
  }
  return "?";
}

TensorClass classify_tensor(const ModelSpec& spec, const std::string& name) {
  TensorClass c;
  std::string_view s = name;
  if (!consume(s, "model.layers.")) {
    if (name == "model.embed_tokens.weight" || name == "model.norm.weight" || name == "lm_head.weight") return c;
    unclassifiable(spec, name, "not a known embedding, final norm or output head tensor");
  }
  auto layer = consume_index(s);
  if (!layer) unclassifiable(spec, name, "no layer index after model.layers.");
  c.layer = *layer;
  if (c.layer >= spec.num_layers) {
    // DeepSeek-V3 stores its multi-token-prediction module as extra layers the HF model does not load.
    if (c.layer < spec.num_layers + spec.num_nextn_predict_layers) {
      c.role = TensorRole::Unused;
      return c;
    }
    unclassifiable(spec, name, fmt::format("layer {} but the config has {} layers", c.layer, spec.num_layers));
  }
  if (s.starts_with("self_attn.") || s == "input_layernorm.weight" || s == "post_attention_layernorm.weight")
    return c;

  const FamilyTraits& traits = family_traits(spec.family);
  // transformers v5 names every family's MoE block "mlp" (Mixtral's was "block_sparse_moe").
  std::string_view block = s;
  if (consume(block, traits.moe_block) && consume(block, ".") && classify_moe_block(spec, traits, block, name, c))
    return c;
  block = s;
  if (traits.moe_block != "mlp" && consume(block, "mlp.") && classify_moe_block(spec, traits, block, name, c))
    return c;

  std::string_view dense = s;
  if (consume(dense, "mlp.") && read_proj_param(dense, kHfProjNames, c)) {
    if (spec.is_moe_layer(c.layer))
      unclassifiable(spec, name, fmt::format("dense MLP tensor in layer {}, which the config makes MoE", c.layer));
    c.role = TensorRole::DenseMlp;
    return c;
  }
  unclassifiable(spec, name, "unknown tensor in a decoder layer");
}

std::string router_weight_name(const ModelSpec& spec, int layer) {
  return fmt::format("model.layers.{}.{}.gate.weight", layer, family_traits(spec.family).moe_block);
}

std::string expert_weight_name(const ModelSpec& spec, int layer, int expert, ExpertProj proj) {
  const FamilyTraits& t = family_traits(spec.family);
  size_t i;
  switch (proj) {
    case ExpertProj::Gate: i = 0; break;
    case ExpertProj::Up: i = 1; break;
    case ExpertProj::Down: i = 2; break;
    default: fail("expert_weight_name: {} has no per-expert tensor name", expert_proj_name(proj));
  }
  return fmt::format("model.layers.{}.{}.experts.{}.{}.weight", layer, t.moe_block, expert, t.expert_proj[i]);
}

}  // namespace banyan
