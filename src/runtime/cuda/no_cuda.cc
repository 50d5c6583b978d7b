// The device-backend factory of a build without CUDA: every device but "cpu" is a clear error.
#if !BANYAN_WITH_CUDA
#include "core/error.h"
#include "runtime/cuda/device_backend.h"

namespace banyan {

std::unique_ptr<DeviceBackend> make_device_backend(const std::string& device, const ModelWeights&,
                                                   const EngineOptions&, bool) {
  if (device == "cuda" || device.starts_with("cuda:"))
    fail("device '{}': built without CUDA: configure with -DBANYAN_CUDA=ON", device);
  fail("unknown device '{}' (expected cpu, cuda or cuda:i)", device);
}

}  // namespace banyan
#endif

#if !BANYAN_WITH_CUDA
#include "runtime/cuda/bench_cuda.h"

namespace banyan {

nlohmann::json bench_cuda(const CudaBenchOptions& options) {
  fail("bench --device {}: built without CUDA: configure with -DBANYAN_CUDA=ON", options.device);
}

}  // namespace banyan
#endif
