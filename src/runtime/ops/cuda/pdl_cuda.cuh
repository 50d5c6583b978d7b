// Programmatic dependent launch (Hopper): a kernel launched with launch_pdl() may start while the previous kernel
// on its stream is still running. Every such kernel calls pdl_wait() before it reads anything an earlier kernel
// wrote (or writes anything an earlier kernel reads); pdl_wait() returns once the previous grid has completed and
// its memory is visible, and since that grid waited on its own predecessor the order is transitive. Kernels call
// pdl_trigger() early so their successor is scheduled onto free SM slots at once: decode steps are ~550 short
// kernels, and the successor's launch latency and its weight loads (which depend on no earlier kernel) then
// overlap the predecessor's tail. Both instructions are no-ops in a kernel launched the ordinary way.
// BANYAN_CUDA_PDL=0 launches everything the ordinary way (for A/B timing).
#pragma once
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "runtime/ops/cuda/cuda_check.h"

namespace banyan::ops::cuda {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

inline bool pdl_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("BANYAN_CUDA_PDL");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on;
}

// kernel<<<grid, block, smem, stream>>>(args...), allowed to overlap the stream's previous kernel (see above).
template <class... KArgs, class... Args>
void launch_pdl(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = pdl_enabled() ? 1 : 0;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  BANYAN_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

}  // namespace banyan::ops::cuda
