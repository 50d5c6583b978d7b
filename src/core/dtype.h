// Element types of checkpoint tensors and conversions to/from fp32.
#pragma once
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace banyan {

enum class DType : uint8_t { BF16, F16, F32, F64, I8, U8, I16, I32, I64, BOOL, F8_E4M3, F8_E5M2 };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);  // safetensors spelling: "BF16", "F8_E4M3", ...
std::optional<DType> parse_dtype(std::string_view name);
bool dtype_is_float(DType t);

inline float bf16_to_f32(uint16_t v) {
  uint32_t bits = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
// Round to nearest even, NaN kept quiet (what torch does).
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}
float f16_to_f32(uint16_t v);
uint16_t f32_to_f16(float f);
float f8e4m3_to_f32(uint8_t v);
float f8e5m2_to_f32(uint8_t v);

// Converts `n` elements of float type `t` at `src` to fp32. Errors on non-float types.
void convert_to_f32(DType t, const void* src, float* dst, size_t n);

}  // namespace banyan
