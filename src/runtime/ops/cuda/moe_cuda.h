// CUDA routed-expert SwiGLU: the device twin of ops::moe_experts (runtime/ops/moe.h), which is its reference.
// Weights are per-layer stacks on the device; activations fp32; accumulation fp32.
// Only included from .cu files (the CUDA build); see runtime/cuda/ for the engine that calls it.
#pragma once
#include <cstdint>

#include <cuda_runtime.h>

namespace banyan::ops::cuda {

// One MoE layer's routed experts, stacked: expert e's gate rows are gate_up[e][0, I), its up rows
// gate_up[e][I, 2I) (transformers v5's fused layout), each row `hidden` long; down[e] is [hidden, inter].
// W = float or __nv_bfloat16 (f16 checkpoints are widened to float at upload), or __nv_fp8_e4m3 with one fp32
// scale per row (--expert-dtype fp8, runtime/ops/fp8.h): row r stands for e4m3(row r) · scale[r], and the kernels
// multiply each row's summed dot product by its scale (gate/up before silu, down before the routing weight).
template <class W>
struct ExpertStack {
  const W* gate_up = nullptr;  // [E, 2·inter, hidden]
  const W* down = nullptr;     // [E, hidden, inter]
  int64_t num_experts = 0, hidden = 0, inter = 0;
  const float* gate_up_scale = nullptr;  // fp8 only: [E, 2·inter]
  const float* down_scale = nullptr;     // fp8 only: [E, hidden]
};

// Device scratch owned by the caller, sized for `max_assignments` = max tokens × max k; grown with reserve().
struct MoeWorkspace {
  void* data = nullptr;
  size_t bytes = 0;
  void reserve(size_t need_bytes);  // cudaFree + cudaMalloc when larger (never inside graph capture)
  ~MoeWorkspace();
};
// Bytes moe_experts needs for n tokens at k experts each.
size_t moe_workspace_bytes(int64_t n, int k, int64_t hidden, int64_t inter);

// out[t, :] (rows ldo apart) = Σ_{j<k} weights[t·k + j] · down_e(silu(gate_e·x_t) ⊙ up_e·x_t), e = ids[t·k + j],
// summed in slot order j (so results do not depend on scheduling). x rows are ldx apart. Every pointer is a
// device pointer; ids must lie in [0, num_experts) (the router produced them). Enqueued on `stream`, no host
// synchronisation and no allocation, so the call can sit inside a CUDA graph capture.
template <class W>
void moe_experts(const ExpertStack<W>& w, const float* x, int64_t n, int64_t ldx, const int32_t* ids,
                 const float* weights, int k, float* out, int64_t ldo, MoeWorkspace& ws, cudaStream_t stream);

// moe_experts, plus every assignment's squared expert output norm before its routing weight (router taps with
// expert output norms, RouterTapRequest::expert_output_norms): sumsq[t·k + j] = ‖down_e(silu(gate_e·x_t) ⊙
// up_e·x_t)‖₂² in fp32, e = ids[t·k + j] (device, n·k floats; the caller adds weight · √sumsq per expert). Always
// runs the grouped schedule, which keeps each assignment's output row in the workspace (so for n ≤ 2 `out` may
// differ from moe_experts' in the last bits); the decode path never calls it. Same workspace as moe_experts.
template <class W>
void moe_experts_with_norms(const ExpertStack<W>& w, const float* x, int64_t n, int64_t ldx, const int32_t* ids,
                            const float* weights, int k, float* out, int64_t ldo, float* sumsq, MoeWorkspace& ws,
                            cudaStream_t stream);

}  // namespace banyan::ops::cuda
