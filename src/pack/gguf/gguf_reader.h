// A strict GGUF v3 reader (mmap): metadata, tensor infos and views of tensor bytes. Used to verify what the
// writer produced.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "pack/gguf/gguf_format.h"

namespace banyan::gguf {

class Reader {
 public:
  explicit Reader(const std::filesystem::path& path);
  const std::vector<KeyValue>& kvs() const { return kvs_; }
  const Value& value(const std::string& key) const;  // throws naming the file and key when missing
  bool has(const std::string& key) const;
  const std::vector<TensorDesc>& tensors() const { return tensors_; }
  const TensorDesc& tensor(const std::string& name) const;
  const uint8_t* tensor_data(const TensorDesc& t) const;
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

 private:
  MappedFile file_;
  std::vector<KeyValue> kvs_;
  std::vector<TensorDesc> tensors_;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
};

}  // namespace banyan::gguf
