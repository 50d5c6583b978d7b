// Random weights generated on the device (benchmarks of real geometries with no files): a counter-based hash, so
// the values depend only on (seed, index) and no host memory or transfer is involved.
// Only included from .cu files (the CUDA build).
#pragma once
#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"

namespace banyan::ops::cuda {

// data[i] = uniform in [-scale, scale) for i < n, in `dtype` (F32 or BF16).
void fill_uniform(void* data, DType dtype, int64_t n, uint64_t seed, float scale, cudaStream_t stream);
// data[i] = the fp8 e4m3 code of a uniform value in [-448, 448) (rounded to nearest, never NaN), for i < n: with a
// row scale of s / 448 the row stands for uniform values in [-s, s).
void fill_uniform_e4m3(uint8_t* data, int64_t n, uint64_t seed, cudaStream_t stream);
// data[i] = value (fp32).
void fill_constant(float* data, int64_t n, float value, cudaStream_t stream);

}  // namespace banyan::ops::cuda
