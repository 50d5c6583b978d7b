// Small CUDA ops of the forward pass, each the device twin of a CPU op (runtime/ops/*.h): embedding lookup,
// RMSNorm (fused with the residual add), the attention input chain (bias, q/k norm, clip, RoPE, KV-cache store),
// SwiGLU gating, shared-expert gating, row gathers and argmax. fp32 activations; weights bf16 or fp32.
// Device pointers only; every op is enqueued on `stream` without host synchronisation or allocation.
// Only included from .cu files (the CUDA build).
#pragma once
#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"
#include "model/model_spec.h"
#include "runtime/ops/kv_layout.h"

namespace banyan::ops::cuda {

// out[i, :] = table[ids[i], :] as fp32; table [rows, cols] in `dtype` (F32 or BF16).
void embedding(DType dtype, const void* table, int64_t cols, const int32_t* ids, int64_t n, float* out,
               cudaStream_t stream);

// If y: x += y (rows of dim, both `stride` apart). Then out = rmsnorm(x) · weight (out rows out_stride apart).
void add_rmsnorm(float* x, const float* y, int64_t n, int64_t dim, int64_t stride, const float* weight, float eps,
                 float* out, int64_t out_stride, cudaStream_t stream);

// cos/sin of the rotary angles: [n, half] each, angle = inv_freq[j] · position (fp32 product, cos/sin in double,
// times attention_scaling), as ops::rope_cos_sin computes them.
void rope_cos_sin(const float* inv_freq, int64_t half, float attention_scaling, const int32_t* positions, int64_t n,
                  float* cos_out, float* sin_out, cudaStream_t stream);

// The attention input chain on a fused q|k|v buffer [n, q_dim + 2·kv_dim] (rows qkv_stride apart), in the CPU
// engine's order: + bias (nullable, [q_dim + 2·kv_dim]); q/k RMSNorm (per head with [head_dim] weights, or over
// the whole projection); clamp of q, k and v to ±clip (clip ≤ 0: none); RoPE on q and k (rotary_dim ≤ head_dim);
// then K and V of row i are stored at position positions[i] of page row_page[i] (device page pointers) for
// `layer`, in the layout's dtype (bf16 round-to-nearest-even).
struct QkvChain {
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0, rotary_dim = 0;
  const float* bias = nullptr;
  QkNorm qk_norm = QkNorm::None;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  float eps = 1e-6f;
  float clip = 0.0f;
};
void qkv_chain(const QkvChain& c, float* qkv, int64_t n, int64_t qkv_stride, const float* cos, const float* sin,
               const KvLayout& layout, int64_t layer, uint8_t* const* row_page, const int32_t* positions,
               cudaStream_t stream);

// out[i, j] = silu(gu[i, j]) · gu[i, inter + j] for gu [n, 2·inter] (gate columns first); out [n, inter].
void swiglu(const float* gu, int64_t n, int64_t inter, float* out, cudaStream_t stream);

// x[i, :] += sigmoid(gate[i]) · y[i, :] (gate nullable: factor 1); rows of dim, contiguous.
void add_gated(float* x, const float* y, const float* gate, int64_t n, int64_t dim, cudaStream_t stream);

// out[r, :] = x[rows[r], :] for r < n; rows of dim, contiguous.
void gather_rows(const float* x, const int32_t* rows, int64_t n, int64_t dim, float* out, cudaStream_t stream);

// In-place softmax of n rows of width w (fp32, max-subtracted, as the CPU engine's tap softmax).
void softmax_rows(float* x, int64_t n, int64_t w, cudaStream_t stream);

// ids[r] = argmax of row r of x [n, w] (lowest index on ties).
void argmax_rows(const float* x, int64_t n, int64_t w, int32_t* ids, cudaStream_t stream);

// fp32 → bf16 (round to nearest even) of n rows of `cols` (src rows ld_src apart; dst contiguous).
void to_bf16(const float* src, int64_t n, int64_t cols, int64_t ld_src, void* dst, cudaStream_t stream);

}  // namespace banyan::ops::cuda
