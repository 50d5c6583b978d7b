// A non-owning view of a tensor's bytes (usually inside an mmap'd checkpoint).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace banyan {

using Shape = std::vector<int64_t>;

inline int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}
std::string shape_str(const Shape& s);  // "[2, 3]"

struct TensorView {
  DType dtype = DType::F32;
  Shape shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const { return shape_numel(shape); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  template <class T>
  const T* as() const { return reinterpret_cast<const T*>(data); }
  // Copies (and converts) the elements to fp32. Errors on non-float dtypes.
  std::vector<float> to_f32() const;
};

}  // namespace banyan
