// Rotary position embedding, Hugging Face "rotate_half" layout: dims (i, i + rot/2) form a pair.
// Frequency schedules: default, linear, dynamic-free yarn, llama3 (transformers' rope_init functions).
#pragma once
#include <cstdint>
#include <vector>

#include "model/model_spec.h"

namespace banyan::ops {

struct RopeTable {
  int64_t rotary_dim = 0;          // even; ≤ head_dim (partial rotary rotates the first rotary_dim dims)
  std::vector<float> inv_freq;     // rotary_dim / 2
  float attention_scaling = 1.0f;  // multiplies cos and sin (yarn)
};

// Builds the table for a head size from the model's rope spec; errors on unsupported types (dynamic, longrope).
RopeTable make_rope_table(const RopeSpec& rope, int64_t head_dim);

// cos/sin for each position: [n, rotary_dim/2] each.
void rope_cos_sin(const RopeTable& t, const int64_t* positions, int64_t n, float* cos_out, float* sin_out);

// Rotates n rows of `heads` heads of head_dim values (rows `stride` apart) in place.
void rope_apply(const RopeTable& t, float* x, int64_t n, int64_t stride, int64_t heads, int64_t head_dim,
                const float* cos, const float* sin);

}  // namespace banyan::ops
