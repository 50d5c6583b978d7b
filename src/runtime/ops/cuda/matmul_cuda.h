// CUDA projections: y[n, m] (=|+=) x[n, k] · Wᵀ for W [m, k] in bf16 or fp32, fp32 accumulation; the device twin
// of ops::matmul (runtime/ops/matmul.h).
//   n ≤ kGemvMaxRows (decode): a bandwidth-bound GEMV kernel (one warp per W row, 128-bit loads) reads fp32
//     activations as they are, so decode matches the CPU engine's arithmetic up to summation order.
//   larger n (prefill, big batches): cuBLAS. bf16 W: activations are split into bf16 hi + lo parts, both run on
//     the tensor cores with fp32 accumulation and fp32 output (~16 mantissa bits of the activations kept): for
//     n ≤ kStackedMaxRows as one GEMM over the stacked [hi; lo] rows, above as two GEMMs;
//     fp32 W: a plain fp32 GEMM (no TF32).
// Only included from .cu files (the CUDA build).
#pragma once
#include <cstdint>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/dtype.h"

namespace banyan::ops::cuda {

struct DeviceMatrix {
  DType dtype = DType::F32;  // F32 or BF16
  const void* data = nullptr;
  int64_t rows = 0, cols = 0;
  bool empty() const { return data == nullptr; }
  size_t bytes() const { return size_t(rows) * size_t(cols) * dtype_size(dtype); }
};

constexpr int64_t kGemvMaxRows = 8;
// Up to this many rows, bf16 GEMMs run once over the stacked [hi; lo] activations (W read once); above, as two
// GEMMs accumulating into y (no [2n, m] scratch at prefill sizes).
constexpr int64_t kStackedMaxRows = 64;

// Owns the cuBLAS handle and the bf16 staging buffer of the activations.
class Matmul {
 public:
  explicit Matmul(cudaStream_t stream);
  ~Matmul();
  Matmul(const Matmul&) = delete;
  Matmul& operator=(const Matmul&) = delete;

  // Grows the staging buffer for n bf16 rows of k columns plus an fp32 [n, m] result (run() grows it on demand;
  // a graph captures its address).
  void reserve(int64_t n, int64_t k, int64_t m = 0);
  // y rows ldy apart, x rows ldx apart. accumulate: y += x·Wᵀ (the residual add fused into the projection).
  void run(const float* x, int64_t n, int64_t ldx, const DeviceMatrix& w, float* y, int64_t ldy, bool accumulate);
  // The staging buffer's address (a captured CUDA graph holds it; it changes when reserve() grows it).
  const void* staging() const { return staging_; }

 private:
  cudaStream_t stream_;
  cublasHandle_t handle_ = nullptr;
  void* staging_ = nullptr;
  size_t staging_bytes_ = 0;
  void* cublas_ws_ = nullptr;
};

}  // namespace banyan::ops::cuda
