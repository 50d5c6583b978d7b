// safetensors: strict reader (mmap, zero-copy views), sharded checkpoints, streaming writer.
// Format: u64 little-endian header length N, N bytes of JSON header, then the data section.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace banyan {

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0;  // offsets relative to the start of the data section
  uint64_t end = 0;
  uint64_t nbytes() const { return end - begin; }
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // sorted by begin offset
  std::map<std::string, std::string> metadata;
  uint64_t header_len = 0;  // N
  uint64_t data_offset = 0;  // 8 + N
};

// Parses and validates a header against a file of `file_size` bytes whose first bytes are `data`.
// `label` (usually the file path) prefixes every error. Checks: header length within the file, valid JSON object,
// known dtypes, byte size == dtype size × numel, offsets in range, no overlap, data section fully covered.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t file_size, const std::string& label);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);  // mmaps and validates

  const std::filesystem::path& path() const { return file_.path(); }
  const SafetensorsHeader& header() const { return header_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const TensorInfo* find(const std::string& name) const;
  bool has(const std::string& name) const { return find(name) != nullptr; }
  TensorView view(const std::string& name) const;  // throws naming file and tensor when missing
  TensorView view(const TensorInfo& info) const;
  // The raw JSON header bytes (for hashing a checkpoint's identity).
  std::string_view header_bytes() const;

 private:
  MappedFile file_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> index_;
};

// A Hugging Face model directory: model.safetensors, or shards listed in model.safetensors.index.json.
class Checkpoint {
 public:
  explicit Checkpoint(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  bool sharded() const { return files_.size() > 1 || has_index_; }
  std::vector<std::string> tensor_names() const;  // sorted
  size_t num_tensors() const { return where_.size(); }
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  TensorView view(const std::string& name) const;
  const SafetensorsFile& file_of(const std::string& name) const;
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  // sha256 (hex) of the index JSON if sharded, else of the single file's header bytes: the checkpoint's identity.
  std::string source_hash() const;

 private:
  std::filesystem::path dir_;
  bool has_index_ = false;
  std::string index_bytes_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<size_t, const TensorInfo*>> where_;
};

struct TensorSpec {
  std::string name;
  DType dtype;
  Shape shape;
};

// The header JSON the writer emits for `specs` laid out back to back in the given order (padded with spaces to a
// multiple of 8 bytes, as the reference implementation does).
std::string safetensors_header_json(const std::vector<TensorSpec>& specs,
                                    const std::map<std::string, std::string>& metadata);

// Streaming writer: the header is written first, then tensors are appended one at a time in the order given,
// so files larger than RAM can be written. Tensor bytes may come in several chunks.
class SafetensorsWriter {
 public:
  SafetensorsWriter(const std::filesystem::path& path, std::vector<TensorSpec> specs,
                    std::map<std::string, std::string> metadata = {});
  ~SafetensorsWriter();
  // Appends bytes of the current tensor (the next in spec order). A tensor is complete when its size is reached.
  void append(const void* data, size_t nbytes);
  // Writes a whole tensor; `name` must be the next one in spec order.
  void write(const std::string& name, const void* data, size_t nbytes);
  void finish();  // checks every tensor was written completely, flushes and closes
  uint64_t bytes_written() const { return written_; }

 private:
  std::filesystem::path path_;
  std::vector<TensorSpec> specs_;
  std::vector<uint64_t> sizes_;
  std::FILE* fp_ = nullptr;
  size_t current_ = 0;
  uint64_t current_written_ = 0;
  uint64_t written_ = 0;
  bool finished_ = false;
};

}  // namespace banyan
