// libFuzzer target for the safetensors header parser. Any input must either parse or raise banyan::Error; a
// parsed header must tile the data section, and re-serialising it with the writer's header layout must parse back
// to the same tensors.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "format/safetensors.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_roundtrip(const banyan::SafetensorsHeader& h, size_t file_size) {
  uint64_t covered = 0;
  for (const auto& t : h.tensors) {
    check(t.begin == covered && t.end >= t.begin);
    covered = t.end;
  }
  check(covered == file_size - h.data_offset);

  std::vector<banyan::TensorSpec> specs;
  for (const auto& t : h.tensors) specs.push_back({t.name, t.dtype, t.shape});
  std::string header = banyan::safetensors_header_json(specs, h.metadata);
  std::vector<uint8_t> file(8 + header.size() + covered, 0);
  for (int i = 0; i < 8; ++i) file[size_t(i)] = uint8_t(uint64_t(header.size()) >> (8 * i));
  std::memcpy(file.data() + 8, header.data(), header.size());
  banyan::SafetensorsHeader again = banyan::parse_safetensors_header(file.data(), file.size(), "roundtrip");
  check(again.metadata == h.metadata);
  check(again.tensors.size() == h.tensors.size());
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const auto &a = h.tensors[i], &b = again.tensors[i];
    check(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.begin == b.begin && a.end == b.end);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  banyan::SafetensorsHeader h;
  try {
    h = banyan::parse_safetensors_header(data, size, "fuzz");
  } catch (const banyan::Error&) {
    return 0;
  }
  check_roundtrip(h, size);
  return 0;
}
