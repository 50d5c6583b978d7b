// SwiGLU gating: out = silu(gate) · up, elementwise; and the residual add.
#pragma once
#include <cstdint>

namespace banyan::ops {

void swiglu(const float* gate, const float* up, float* out, int64_t n);
void residual_add(float* x, const float* y, int64_t n);  // x += y

}  // namespace banyan::ops
