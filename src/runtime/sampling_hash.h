// The sampler's counter-based random stream, shared by the CPU Sampler (runtime/sampler.h) and the CUDA sampling
// kernels (runtime/ops/cuda/sampling_cuda.h), so both backends draw with bit-identical uniforms: the draw at index
// `step` of a request seeded `seed` uses uniform_for_step(seed, step). Header-only; __host__ __device__ under nvcc.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define BANYAN_HOST_DEVICE __host__ __device__
#else
#define BANYAN_HOST_DEVICE
#endif

namespace banyan::sampling {

// splitmix64's finaliser: a bijective 64-bit mix with good avalanche, enough for a counter-based stream.
BANYAN_HOST_DEVICE inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A uniform number in [0, 1): 53 random bits of the mixed (seed, step) pair (exact in double on every backend).
BANYAN_HOST_DEVICE inline double uniform_for_step(uint64_t seed, uint64_t step) {
  const uint64_t bits = mix64(mix64(seed) ^ (step * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace banyan::sampling
