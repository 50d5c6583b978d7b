#include "runtime/model_weights.h"

#include "core/error.h"
#include "model/tensor_class.h"
#include "runtime/families/family.h"

namespace banyan {

ops::Matrix weight_matrix(const Checkpoint& ckpt, const std::string& name, int64_t rows, int64_t cols) {
  BANYAN_CHECK(ckpt.has(name), "{}: tensor '{}' is missing", ckpt.dir().string(), name);
  const TensorView v = ckpt.view(name);
  BANYAN_CHECK(v.dtype == DType::BF16 || v.dtype == DType::F16 || v.dtype == DType::F32,
               "{}: tensor '{}' has dtype {}; the CPU engine reads BF16, F16 or F32", ckpt.dir().string(), name,
               dtype_name(v.dtype));
  BANYAN_CHECK(v.shape == Shape({rows, cols}), "{}: tensor '{}' has shape {}, expected [{}, {}]", ckpt.dir().string(),
               name, shape_str(v.shape), rows, cols);
  return ops::Matrix{v.dtype, v.data, rows, cols};
}

std::vector<float> weight_vector(const Checkpoint& ckpt, const std::string& name, int64_t size) {
  BANYAN_CHECK(ckpt.has(name), "{}: tensor '{}' is missing", ckpt.dir().string(), name);
  const TensorView v = ckpt.view(name);
  BANYAN_CHECK(v.shape == Shape({size}), "{}: tensor '{}' has shape {}, expected [{}]", ckpt.dir().string(), name,
               shape_str(v.shape), size);
  BANYAN_CHECK(dtype_is_float(v.dtype), "{}: tensor '{}' has non-float dtype {}", ckpt.dir().string(), name,
               dtype_name(v.dtype));
  return v.to_f32();
}

namespace {
void load_full_router(const std::filesystem::path& dir, ModelWeights& w) {
  const auto path = dir / "router-full.safetensors";
  if (!std::filesystem::exists(path)) return;
  w.router_full_file = std::make_unique<SafetensorsFile>(path);
  const SafetensorsFile& f = *w.router_full_file;
  w.full_router.resize(w.layers.size());
  for (int l : w.spec.moe_layers()) {
    const std::string name = router_weight_name(w.spec, l);
    const TensorView v = f.view(name);
    BANYAN_CHECK(v.shape.size() == 2 && v.shape[1] == w.spec.hidden_size,
                 "{}: tensor '{}' has shape {}, expected [experts, {}]", path.string(), name, shape_str(v.shape),
                 w.spec.hidden_size);
    BANYAN_CHECK(v.dtype == DType::BF16 || v.dtype == DType::F16 || v.dtype == DType::F32,
                 "{}: tensor '{}' has dtype {}, expected BF16, F16 or F32", path.string(), name, dtype_name(v.dtype));
    BANYAN_CHECK(w.full_num_experts == 0 || w.full_num_experts == v.shape[0],
                 "{}: tensor '{}' has {} experts, other layers {}", path.string(), name, v.shape[0],
                 w.full_num_experts);
    BANYAN_CHECK(v.shape[0] >= w.spec.num_experts, "{}: tensor '{}' has {} experts, fewer than the bundle's {}",
                 path.string(), name, v.shape[0], w.spec.num_experts);
    w.full_num_experts = v.shape[0];
    w.full_router[size_t(l)] = ops::Matrix{v.dtype, v.data, v.shape[0], v.shape[1]};
  }
}
}  // namespace

std::unique_ptr<ModelWeights> ModelWeights::load(const std::filesystem::path& dir) {
  auto w = std::make_unique<ModelWeights>();
  w->spec = load_model_spec(dir);
  const ModelSpec& s = w->spec;
  const auto& loader = families::family_loader(s.family);
  w->options = loader.options(s);
  w->checkpoint = std::make_unique<Checkpoint>(dir);
  const Checkpoint& ck = *w->checkpoint;
  w->embed = weight_matrix(ck, "model.embed_tokens.weight", s.vocab_size, s.hidden_size);
  if (ck.has("lm_head.weight")) {
    w->lm_head = weight_matrix(ck, "lm_head.weight", s.vocab_size, s.hidden_size);
  } else {
    BANYAN_CHECK(s.tie_word_embeddings, "{}: 'lm_head.weight' is missing and tie_word_embeddings is false",
                 dir.string());
    w->lm_head = w->embed;
  }
  w->final_norm = weight_vector(ck, "model.norm.weight", s.hidden_size);
  w->layers.resize(size_t(s.num_layers));
  for (int l = 0; l < int(s.num_layers); ++l) {
    try {
      loader.load_layer(ck, s, l, w->layers[size_t(l)]);
    } catch (const Error& e) {
      fail("layer {}: {}", l, e.what());
    }
  }
  load_full_router(dir, *w);
  return w;
}

}  // namespace banyan
