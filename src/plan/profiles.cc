#include "plan/profiles.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/safetensors.h"

namespace banyan {
namespace {

constexpr const char* kFormat = "banyan-profiles/1";
constexpr const char* kMetaKey = "banyan-profiles";

std::vector<float> read_f32(const SafetensorsFile& file, const std::string& name, const Shape& want) {
  const TensorInfo* info = file.find(name);
  BANYAN_CHECK(info, "{}: profiles lack tensor '{}'", file.path().string(), name);
  BANYAN_CHECK(info->dtype == DType::F32, "{}: tensor '{}' is {}, expected F32", file.path().string(), name,
               dtype_name(info->dtype));
  BANYAN_CHECK(info->shape == want, "{}: tensor '{}' has shape {}, expected {}", file.path().string(), name,
               shape_str(info->shape), shape_str(want));
  TensorView v = file.view(*info);
  std::vector<float> out(size_t(v.numel()));
  std::memcpy(out.data(), v.data, v.nbytes);
  return out;
}

}  // namespace

int64_t Profiles::total_tokens() const {
  int64_t n = 0;
  for (auto t : tokens) n += t;
  return n;
}

void Profiles::resize(int64_t d, int64_t l, int64_t e, bool with_topk_mass, bool with_out_norm) {
  docs = d;
  layers = l;
  experts = e;
  size_t n = size_t(d * l * e);
  probs.assign(n, 0.f);
  counts.assign(n, 0.f);
  topk_mass.assign(with_topk_mass ? n : 0, 0.f);
  out_norm.assign(with_out_norm ? n : 0, 0.f);
  domains.resize(size_t(d));
  tokens.resize(size_t(d));
}

void Profiles::validate(const std::string& label) const {
  BANYAN_CHECK(docs >= 0 && layers > 0 && experts > 0, "{}: bad profile dimensions docs={} layers={} experts={}",
               label, docs, layers, experts);
  size_t n = size_t(docs * layers * experts);
  BANYAN_CHECK(probs.size() == n, "{}: probs has {} values, expected {}", label, probs.size(), n);
  BANYAN_CHECK(counts.size() == n, "{}: counts has {} values, expected {}", label, counts.size(), n);
  BANYAN_CHECK(topk_mass.empty() || topk_mass.size() == n, "{}: topk_mass has {} values, expected {}", label,
               topk_mass.size(), n);
  BANYAN_CHECK(out_norm.empty() || out_norm.size() == n, "{}: out_norm has {} values, expected {}", label,
               out_norm.size(), n);
  BANYAN_CHECK(domains.size() == size_t(docs), "{}: {} domains for {} documents", label, domains.size(), docs);
  BANYAN_CHECK(tokens.size() == size_t(docs), "{}: {} token counts for {} documents", label, tokens.size(), docs);
  BANYAN_CHECK(lines.empty() || lines.size() == size_t(docs), "{}: {} corpus lines for {} documents", label,
               lines.size(), docs);
  BANYAN_CHECK(moe_layers.size() == size_t(layers), "{}: {} MoE layer indices for {} profile layers", label,
               moe_layers.size(), layers);
}

void write_profiles(const std::filesystem::path& path, const Profiles& p) {
  p.validate(path.string());
  nlohmann::json meta = {
      {"format", kFormat},         {"source_hash", p.source_hash}, {"model", p.model_path},
      {"corpus", p.corpus},        {"per_domain", p.per_domain},   {"seq_tokens", p.seq_tokens},
      {"top_k", p.top_k},          {"moe_layers", p.moe_layers},   {"domains", p.domains},
      {"tokens", p.tokens},
  };
  if (!p.selection.empty()) meta["selection"] = p.selection;
  if (!p.lines.empty()) meta["lines"] = p.lines;
  Shape shape{p.docs, p.layers, p.experts};
  std::vector<TensorSpec> specs{{"probs", DType::F32, shape}, {"counts", DType::F32, shape}};
  if (!p.topk_mass.empty()) specs.push_back({"topk_mass", DType::F32, shape});
  if (!p.out_norm.empty()) specs.push_back({"out_norm", DType::F32, shape});
  SafetensorsWriter w(path, specs, {{kMetaKey, meta.dump()}});
  w.write("probs", p.probs.data(), p.probs.size() * 4);
  w.write("counts", p.counts.data(), p.counts.size() * 4);
  if (!p.topk_mass.empty()) w.write("topk_mass", p.topk_mass.data(), p.topk_mass.size() * 4);
  if (!p.out_norm.empty()) w.write("out_norm", p.out_norm.data(), p.out_norm.size() * 4);
  w.finish();
}

Profiles read_profiles(const std::filesystem::path& path) {
  SafetensorsFile file(path);
  auto it = file.metadata().find(kMetaKey);
  BANYAN_CHECK(it != file.metadata().end(), "{}: not a banyan profiles file (no '{}' metadata)", path.string(),
               kMetaKey);
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: profiles metadata is not valid JSON: {}", path.string(), e.what());
  }
  Profiles p;
  try {
    BANYAN_CHECK(meta.value("format", "") == kFormat, "{}: profiles format is '{}', expected '{}'", path.string(),
                 meta.value("format", ""), kFormat);
    p.source_hash = meta.at("source_hash").get<std::string>();
    p.model_path = meta.value("model", "");
    p.corpus = meta.value("corpus", "");
    p.per_domain = meta.value("per_domain", int64_t(0));
    p.seq_tokens = meta.value("seq_tokens", int64_t(0));
    p.top_k = meta.at("top_k").get<int64_t>();
    p.moe_layers = meta.at("moe_layers").get<std::vector<int>>();
    p.domains = meta.at("domains").get<std::vector<std::string>>();
    p.tokens = meta.at("tokens").get<std::vector<int64_t>>();
    p.selection = meta.value("selection", "");
    p.lines = meta.value("lines", std::vector<int64_t>{});
  } catch (const nlohmann::json::exception& e) {
    fail("{}: bad profiles metadata: {}", path.string(), e.what());
  }
  const TensorInfo* probs = file.find("probs");
  BANYAN_CHECK(probs && probs->shape.size() == 3, "{}: profiles need a 3-d 'probs' tensor", path.string());
  p.docs = probs->shape[0];
  p.layers = probs->shape[1];
  p.experts = probs->shape[2];
  Shape shape = probs->shape;
  p.probs = read_f32(file, "probs", shape);
  p.counts = read_f32(file, "counts", shape);
  if (file.has("topk_mass")) p.topk_mass = read_f32(file, "topk_mass", shape);
  if (file.has("out_norm")) p.out_norm = read_f32(file, "out_norm", shape);
  p.validate(path.string());
  return p;
}

}  // namespace banyan
