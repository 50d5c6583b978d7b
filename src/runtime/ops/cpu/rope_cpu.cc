// RoPE frequency schedules follow transformers' rope initialisation (computed in double, stored as fp32, as
// transformers keeps inv_freq in fp32); angles are fp32 products like theirs.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "runtime/ops/rope.h"

namespace banyan::ops {

namespace {
double yarn_mscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

double yarn_correction_dim(double rotations, int64_t dim, double base, double max_pos) {
  return (double(dim) * std::log(max_pos / (rotations * 2.0 * std::numbers::pi))) / (2.0 * std::log(base));
}
}  // namespace

RopeTable make_rope_table(const RopeSpec& rope, int64_t head_dim) {
  RopeTable t;
  t.rotary_dim = int64_t(double(head_dim) * rope.partial_rotary_factor);
  t.rotary_dim -= t.rotary_dim % 2;
  BANYAN_CHECK(t.rotary_dim > 0, "rope: rotary dimension is 0 (head_dim {}, partial_rotary_factor {})", head_dim,
               rope.partial_rotary_factor);
  const int64_t dim = t.rotary_dim, half = dim / 2;
  const double base = rope.theta;
  std::vector<double> freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) freq[size_t(i)] = 1.0 / std::pow(base, double(2 * i) / double(dim));

  if (rope.type == "default" || rope.type.empty()) {
  } else if (rope.type == "linear") {
    for (auto& f : freq) f /= rope.factor;
  } else if (rope.type == "llama3") {
    const double old_ctx = double(rope.original_max_position);
    BANYAN_CHECK(old_ctx > 0, "rope llama3: original_max_position_embeddings missing");
    const double low_wavelen = old_ctx / rope.low_freq_factor, high_wavelen = old_ctx / rope.high_freq_factor;
    for (auto& f : freq) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f = f / rope.factor;
      } else if (wavelen >= high_wavelen) {  // medium band: interpolate between scaled and unscaled
        const double smooth = (old_ctx / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
        f = (1.0 - smooth) * f / rope.factor + smooth * f;
      }
    }
  } else if (rope.type == "yarn") {
    const double factor = rope.factor;
    const double max_pos = double(rope.original_max_position);
    BANYAN_CHECK(max_pos > 0, "rope yarn: original_max_position_embeddings missing");
    if (rope.attention_factor) {
      t.attention_scaling = float(*rope.attention_factor);
    } else if (rope.mscale != 0.0 && rope.mscale_all_dim != 0.0) {
      t.attention_scaling = float(yarn_mscale(factor, rope.mscale) / yarn_mscale(factor, rope.mscale_all_dim));
    } else {
      t.attention_scaling = float(yarn_mscale(factor, 1.0));
    }
    double low = std::floor(yarn_correction_dim(rope.beta_fast, dim, base, max_pos));
    double high = std::ceil(yarn_correction_dim(rope.beta_slow, dim, base, max_pos));
    low = std::max(low, 0.0);
    high = std::min(high, double(dim - 1));
    if (low == high) high += 0.001;
    for (int64_t i = 0; i < half; ++i) {
      const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
      const double extrapolation = 1.0 - ramp;  // share of the unscaled frequency
      const double f = freq[size_t(i)];
      freq[size_t(i)] = (f / factor) * (1.0 - extrapolation) + f * extrapolation;
    }
  } else {
    fail("rope type '{}' is not supported by the CPU engine (supported: default, linear, llama3, yarn)", rope.type);
  }
  t.inv_freq.resize(size_t(half));
  for (int64_t i = 0; i < half; ++i) t.inv_freq[size_t(i)] = float(freq[size_t(i)]);
  return t;
}

void rope_cos_sin(const RopeTable& t, const int64_t* positions, int64_t n, float* cos_out, float* sin_out) {
  const int64_t half = t.rotary_dim / 2;
  for (int64_t i = 0; i < n; ++i) {
    const float p = float(positions[i]);
    for (int64_t j = 0; j < half; ++j) {
      const float angle = t.inv_freq[size_t(j)] * p;
      cos_out[i * half + j] = float(std::cos(double(angle))) * t.attention_scaling;
      sin_out[i * half + j] = float(std::sin(double(angle))) * t.attention_scaling;
    }
  }
}

void rope_apply(const RopeTable& t, float* x, int64_t n, int64_t stride, int64_t heads, int64_t head_dim,
                const float* cos, const float* sin) {
  const int64_t half = t.rotary_dim / 2;
  for (int64_t i = 0; i < n; ++i) {
    const float* c = cos + i * half;
    const float* s = sin + i * half;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + i * stride + h * head_dim;
      for (int64_t j = 0; j < half; ++j) {
        const float a = v[j], b = v[j + half];
        v[j] = a * c[j] - b * s[j];
        v[j + half] = b * c[j] + a * s[j];
      }
    }
  }
}

}  // namespace banyan::ops
