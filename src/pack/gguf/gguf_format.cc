#include "pack/gguf/gguf_format.h"

#include "core/error.h"

namespace banyan::gguf {

const char* tensor_type_name(TensorType t) {
  switch (t) {
    case TensorType::F32: return "f32";
    case TensorType::F16: return "f16";
    case TensorType::Q8_0: return "q8_0";
    case TensorType::BF16: return "bf16";
  }
  return "?";
}

uint64_t tensor_type_bytes(TensorType t, int64_t n) {
  switch (t) {
    case TensorType::F32: return uint64_t(n) * 4;
    case TensorType::F16:
    case TensorType::BF16: return uint64_t(n) * 2;
    case TensorType::Q8_0:
      BANYAN_CHECK(n % kQ8BlockSize == 0, "q8_0 needs a multiple of {} elements, got {}", kQ8BlockSize, n);
      return uint64_t(n / kQ8BlockSize) * kQ8BlockBytes;
  }
  fail("unknown ggml tensor type {}", uint32_t(t));
}

}  // namespace banyan::gguf
