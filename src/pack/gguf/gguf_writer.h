// Streaming GGUF v3 writer: the header (metadata and tensor infos with their offsets) is written first, then
// tensor data is appended in declaration order, so memory stays bounded by one chunk of the caller.
#pragma once
#include <cstdio>
#include <filesystem>
#include <vector>

#include "pack/gguf/gguf_format.h"

namespace banyan::gguf {

class Writer {
 public:
  // Computes every tensor's offset (aligned to `alignment`) and writes the header. `general.alignment` is added to
  // the metadata when the alignment is not the default.
  Writer(const std::filesystem::path& path, std::vector<KeyValue> kvs, std::vector<TensorDesc> tensors,
         uint64_t alignment = kDefaultAlignment);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Appends encoded bytes of the current tensor (the next one in declaration order); may be called in chunks.
  void append(const void* data, size_t nbytes);
  void finish();  // checks every tensor is complete, pads, flushes and closes
  const std::vector<TensorDesc>& tensors() const { return tensors_; }
  const std::string& current_tensor() const;

 private:
  void write_raw(const void* p, size_t n);
  void pad_to(uint64_t multiple);

  std::filesystem::path path_;
  std::vector<TensorDesc> tensors_;
  std::vector<uint64_t> sizes_;
  uint64_t alignment_;
  std::FILE* fp_ = nullptr;
  uint64_t pos_ = 0;         // bytes written to the file
  uint64_t data_start_ = 0;  // file offset of the data section
  size_t current_ = 0;
  uint64_t current_written_ = 0;
  bool finished_ = false;
};

}  // namespace banyan::gguf
