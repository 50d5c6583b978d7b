#include "pack/gguf/tensor_encode.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"

namespace banyan::gguf {

void quantize_q8_0(const float* x, int64_t n, uint8_t* out) {
  BANYAN_CHECK(n % kQ8BlockSize == 0, "q8_0: {} values is not a multiple of {}", n, kQ8BlockSize);
  for (int64_t b = 0; b < n / kQ8BlockSize; ++b) {
    const float* xb = x + b * kQ8BlockSize;
    float amax = 0.0f;
    for (int64_t i = 0; i < kQ8BlockSize; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t* ob = out + b * kQ8BlockBytes;
    const uint16_t dh = f32_to_f16(d);
    std::memcpy(ob, &dh, 2);
    for (int64_t i = 0; i < kQ8BlockSize; ++i) {
      const float q = std::round(xb[i] * id);
      ob[2 + i] = uint8_t(int8_t(std::clamp(q, -127.0f, 127.0f)));
    }
  }
}

void dequantize_q8_0(const uint8_t* in, int64_t n, float* out) {
  BANYAN_CHECK(n % kQ8BlockSize == 0, "q8_0: {} values is not a multiple of {}", n, kQ8BlockSize);
  for (int64_t b = 0; b < n / kQ8BlockSize; ++b) {
    const uint8_t* ib = in + b * kQ8BlockBytes;
    uint16_t dh;
    std::memcpy(&dh, ib, 2);
    const float d = f16_to_f32(dh);
    for (int64_t i = 0; i < kQ8BlockSize; ++i) out[b * kQ8BlockSize + i] = d * float(int8_t(ib[2 + i]));
  }
}

void encode(TensorType t, const float* x, int64_t n, std::string& out) {
  const size_t start = out.size();
  out.resize(start + tensor_type_bytes(t, n));
  auto* dst = reinterpret_cast<uint8_t*>(out.data() + start);
  switch (t) {
    case TensorType::F32: std::memcpy(dst, x, size_t(n) * 4); return;
    case TensorType::F16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_f16(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_bf16(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case TensorType::Q8_0: quantize_q8_0(x, n, dst); return;
  }
}

std::vector<float> permute_rotary_rows(const std::vector<float>& w, int64_t rows, int64_t cols, int64_t n_head) {
  BANYAN_CHECK(int64_t(w.size()) == rows * cols, "rotary permutation: {} values for [{}, {}]", w.size(), rows, cols);
  BANYAN_CHECK(n_head > 0 && rows % (2 * n_head) == 0, "rotary permutation: {} rows do not split into {} heads of "
               "even size", rows, n_head);
  const int64_t head_dim = rows / n_head, half = head_dim / 2;
  std::vector<float> out(w.size());
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t s = 0; s < 2; ++s)
      for (int64_t i = 0; i < half; ++i) {
        const int64_t from = h * head_dim + s * half + i, to = h * head_dim + 2 * i + s;
        std::memcpy(&out[size_t(to * cols)], &w[size_t(from * cols)], size_t(cols) * 4);
      }
  return out;
}

}  // namespace banyan::gguf
