#include "core/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace banyan {

std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

std::vector<float> TensorView::to_f32() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  convert_to_f32(dtype, data, out.data(), out.size());
  return out;
}

}  // namespace banyan
