// A model's weights in device memory, uploaded once at load (bf16 stays bf16, f32 stays f32, f16 is widened to
// f32) or generated on the device (dummy weights for benchmarks). Projections that read the same input are fused
// (q|k|v, gate|up) and routed experts are packed into per-layer stacks for ops::cuda::moe_experts.
// Only included from .cu files (the CUDA build).
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "runtime/model_weights.h"
#include "runtime/ops/cuda/matmul_cuda.h"
#include "runtime/ops/cuda/moe_cuda.h"

namespace banyan::cuda {

using ops::cuda::DeviceMatrix;

struct DeviceLayer {
  const float* attn_norm = nullptr;
  const float* ffn_norm = nullptr;
  DeviceMatrix qkv;                  // [q_dim + 2·kv_dim, hidden]
  const float* qkv_bias = nullptr;   // [q_dim + 2·kv_dim] or null
  const float* q_norm = nullptr;     // [head_dim] or [q_dim] or null
  const float* k_norm = nullptr;
  DeviceMatrix o;                    // [hidden, q_dim]
  bool is_moe = false;
  DeviceMatrix router;               // [experts, hidden]
  DType expert_dtype = DType::BF16;  // which stack is set
  ops::cuda::ExpertStack<float> experts_f32;
  ops::cuda::ExpertStack<__nv_bfloat16> experts_bf16;
  DeviceMatrix shared_gate_up, shared_down, shared_gate;  // Qwen2-MoE shared expert (+ its [1, hidden] gate)
  DeviceMatrix dense_gate_up, dense_down;                 // dense MLP layers
  DeviceMatrix full_router;                               // bundle: router-full [global experts, hidden]
};

class DeviceWeights {
 public:
  // Copies every tensor of `w` to the current device.
  static std::unique_ptr<DeviceWeights> upload(const ModelWeights& w, cudaStream_t stream);
  // Random weights of the spec's geometry (dtype F32 or BF16), generated on the current device.
  static std::unique_ptr<DeviceWeights> random(const ModelSpec& spec, const FamilyOptions& options, DType dtype,
                                               uint64_t seed, cudaStream_t stream);
  ~DeviceWeights();
  DeviceWeights(const DeviceWeights&) = delete;
  DeviceWeights& operator=(const DeviceWeights&) = delete;

  DeviceMatrix embed, lm_head;
  const float* final_norm = nullptr;
  std::vector<DeviceLayer> layers;
  int64_t full_num_experts = 0;
  int64_t max_inter = 0;     // largest intermediate size of any dense MLP / shared expert (scratch sizing)
  size_t bytes = 0;          // device memory held

 private:
  DeviceWeights() = default;
  void* alloc(size_t bytes);
  std::vector<void*> allocations_;
};

}  // namespace banyan::cuda
