// GGUF v3 building blocks shared by the writer and the reader: value types, ggml tensor types, metadata values.
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace banyan::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kVersion = 3;
inline constexpr uint64_t kDefaultAlignment = 32;

// Metadata value type codes of the GGUF specification.
enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10,
  I64 = 11, F64 = 12,
};

// The ggml tensor types this writer emits.
enum class TensorType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };

inline constexpr int64_t kQ8BlockSize = 32;
inline constexpr size_t kQ8BlockBytes = 2 + 32;  // fp16 scale + 32 int8

const char* tensor_type_name(TensorType t);
// Bytes of `n` elements of type `t` (n must be a multiple of the block size for q8_0).
uint64_t tensor_type_bytes(TensorType t, int64_t n);

// One metadata value. Arrays hold one element type (strings, or a scalar vector).
struct Value {
  using Storage = std::variant<uint32_t, int32_t, float, bool, uint64_t, std::string, std::vector<std::string>,
                               std::vector<int32_t>, std::vector<float>>;
  Storage v;
  Value() = default;
  template <class T>
  Value(T x) : v(std::move(x)) {}
  bool operator==(const Value&) const = default;
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorDesc {
  std::string name;
  std::vector<int64_t> dims;  // GGML order: dims[0] is the contiguous (fastest) dimension
  TensorType type = TensorType::F32;
  uint64_t offset = 0;        // relative to the data section; filled in by the writer
  int64_t numel() const {
    int64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
};

}  // namespace banyan::gguf
