#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "runtime/ops/cuda/cuda_check.h"
#include "runtime/ops/cuda/init_cuda.h"

namespace banyan::ops::cuda {

namespace {
__device__ __forceinline__ uint64_t mix64(uint64_t z) {  // splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <class T>
__global__ void fill_uniform_kernel(T* data, int64_t n, uint64_t seed, float scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t h = mix64(seed * 0x9e3779b97f4a7c15ull + uint64_t(i));
    const float u = float(h >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    const float v = (2.0f * u - 1.0f) * scale;
    if constexpr (std::is_same_v<T, float>) data[i] = v;
    else data[i] = __float2bfloat16_rn(v);
  }
}

__global__ void fill_e4m3_kernel(uint8_t* data, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t h = mix64(seed * 0x9e3779b97f4a7c15ull + uint64_t(i));
    const float u = float(h >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    data[i] = __nv_cvt_float_to_fp8((2.0f * u - 1.0f) * 448.0f, __NV_SATFINITE, __NV_E4M3);
  }
}

__global__ void fill_constant_kernel(float* data, int64_t n, float value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    data[i] = value;
}
}  // namespace

void fill_uniform(void* data, DType dtype, int64_t n, uint64_t seed, float scale, cudaStream_t stream) {
  if (n == 0) return;
  const unsigned blocks = unsigned(std::min<int64_t>((n + 255) / 256, 65536));
  if (dtype == DType::BF16)
    fill_uniform_kernel<<<blocks, 256, 0, stream>>>(static_cast<__nv_bfloat16*>(data), n, seed, scale);
  else
    fill_uniform_kernel<<<blocks, 256, 0, stream>>>(static_cast<float*>(data), n, seed, scale);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void fill_uniform_e4m3(uint8_t* data, int64_t n, uint64_t seed, cudaStream_t stream) {
  if (n == 0) return;
  const unsigned blocks = unsigned(std::min<int64_t>((n + 255) / 256, 65536));
  fill_e4m3_kernel<<<blocks, 256, 0, stream>>>(data, n, seed);
  BANYAN_CUDA_CHECK_LAUNCH();
}

void fill_constant(float* data, int64_t n, float value, cudaStream_t stream) {
  if (n == 0) return;
  const unsigned blocks = unsigned(std::min<int64_t>((n + 255) / 256, 65536));
  fill_constant_kernel<<<blocks, 256, 0, stream>>>(data, n, value);
  BANYAN_CUDA_CHECK_LAUNCH();
}

}  // namespace banyan::ops::cuda
