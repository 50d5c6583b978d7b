// Error checking for CUDA runtime and cuBLAS calls: failures become banyan::Error naming the call and the site.
// Only included from .cu files (the CUDA build).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/error.h"

#define BANYAN_CUDA_CHECK(call)                                                                          \
  do {                                                                                                   \
    const cudaError_t banyan_cuda_err_ = (call);                                                         \
    if (banyan_cuda_err_ != cudaSuccess)                                                                 \
      ::banyan::fail("CUDA: {} failed at {}:{}: {}", #call, __FILE__, __LINE__,                          \
                     cudaGetErrorString(banyan_cuda_err_));                                              \
  } while (0)

#define BANYAN_CUBLAS_CHECK(call)                                                                        \
  do {                                                                                                   \
    const cublasStatus_t banyan_cublas_st_ = (call);                                                     \
    if (banyan_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                      \
      ::banyan::fail("cuBLAS: {} failed at {}:{}: {}", #call, __FILE__, __LINE__,                        \
                     cublasGetStatusString(banyan_cublas_st_));                                          \
  } while (0)

// Checks the last kernel launch (configuration errors); execution errors surface at the next synchronisation.
#define BANYAN_CUDA_CHECK_LAUNCH() BANYAN_CUDA_CHECK(cudaGetLastError())
