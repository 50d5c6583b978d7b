#include <string>

#include "format/safetensors.h"
#include "model/model_spec.h"
#include "plan/planner.h"

namespace banyan {

PlanModel load_plan_model(const std::filesystem::path& dir) {
  const ModelSpec spec = load_model_spec(dir);
  PlanModel m;
  m.source_path = dir.string();
  m.source_sha256 = Checkpoint(dir).source_hash();
  m.family = std::string(family_name(spec.family));
  m.num_layers = spec.num_layers;
  m.moe_layers = spec.moe_layers();
  m.num_experts = spec.num_experts;
  m.top_k = spec.top_k;
  return m;
}

}  // namespace banyan
