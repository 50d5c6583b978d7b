// A model's weights in device memory, uploaded once at load (bf16 stays bf16, f32 stays f32, f16 is widened to
// f32; routed experts optionally re-encoded: bf16, or fp8 e4m3 with fp32 row scales quantised on the host by
// runtime/ops/fp8.h, the CPU engine's code) or generated on the device (dummy weights for benchmarks). Projections that read the same input are fused
// (q|k|v, gate|up) and routed experts are packed into per-layer stacks for ops::cuda::moe_experts.
// Only included from .cu files (the CUDA build).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <memory>
#include <optional>
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
  DType expert_dtype = DType::BF16;  // which stack is set: F32, BF16 or F8_E4M3
  ops::cuda::ExpertStack<float> experts_f32;
  ops::cuda::ExpertStack<__nv_bfloat16> experts_bf16;
  ops::cuda::ExpertStack<__nv_fp8_e4m3> experts_fp8;  // + per-row scales
  DeviceMatrix shared_gate_up, shared_down, shared_gate;  // Qwen2-MoE shared expert (+ its [1, hidden] gate)
  DeviceMatrix dense_gate_up, dense_down;                 // dense MLP layers
  DeviceMatrix full_router;                               // bundle: router-full [global experts, hidden]
};

class DeviceWeights {
 public:
  // Copies every tensor of `w` to the current device. expert_dtype (EngineOptions::expert_dtype): nullopt keeps
  // the checkpoint's experts (bf16 if all are bf16, else f32); BF16 rounds them to bf16; F8_E4M3 quantises them
  // (ops::quantize_rows_e4m3, threads over experts) to fp8 + one fp32 scale per row.
  static std::unique_ptr<DeviceWeights> upload(const ModelWeights& w, cudaStream_t stream,
                                               std::optional<DType> expert_dtype = std::nullopt);
  // Random weights of the spec's geometry (dtype F32 or BF16), generated on the current device; the routed experts
  // in expert_dtype (nullopt: dtype; F8_E4M3: random codes with row scales 1/(448·sqrt(cols))).
  static std::unique_ptr<DeviceWeights> random(const ModelSpec& spec, const FamilyOptions& options, DType dtype,
                                               uint64_t seed, cudaStream_t stream,
                                               std::optional<DType> expert_dtype = std::nullopt);
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
