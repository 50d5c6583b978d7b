#include "pack/gguf/gguf_reader.h"

#include <cstring>

#include "core/error.h"

namespace banyan::gguf {
namespace {

class Cursor {
 public:
  Cursor(const uint8_t* d, size_t n, std::string label) : d_(d), n_(n), label_(std::move(label)) {}
  template <class T>
  T pod() {
    need(sizeof(T));
    T x;
    std::memcpy(&x, d_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return x;
  }
  std::string str() {
    const uint64_t len = pod<uint64_t>();
    need(len);
    std::string s(reinterpret_cast<const char*>(d_ + pos_), size_t(len));
    pos_ += len;
    return s;
  }
  size_t pos() const { return pos_; }
  const std::string& label() const { return label_; }

 private:
  void need(uint64_t k) {
    BANYAN_CHECK(k <= n_ - pos_, "{}: truncated at byte {} (need {} more)", label_, pos_, k);
  }
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
  std::string label_;
};

template <class T>
std::vector<T> read_array(Cursor& c, uint64_t n) {
  std::vector<T> a;
  for (uint64_t i = 0; i < n; ++i) a.push_back(c.pod<T>());
  return a;
}

Value read_value(Cursor& c, ValueType t, const std::string& key) {
  switch (t) {
    case ValueType::U32: return c.pod<uint32_t>();
    case ValueType::I32: return c.pod<int32_t>();
    case ValueType::F32: return c.pod<float>();
    case ValueType::U64: return c.pod<uint64_t>();
    case ValueType::BOOL: {
      const auto b = c.pod<uint8_t>();
      BANYAN_CHECK(b <= 1, "{}: key {}: bool byte {}", c.label(), key, b);
      return b == 1;
    }
    case ValueType::STRING: return c.str();
    case ValueType::ARRAY: {
      const auto et = ValueType(c.pod<uint32_t>());
      const auto n = c.pod<uint64_t>();
      if (et == ValueType::STRING) {
        std::vector<std::string> a;
        for (uint64_t i = 0; i < n; ++i) a.push_back(c.str());
        return a;
      }
      if (et == ValueType::I32) return read_array<int32_t>(c, n);
      if (et == ValueType::F32) return read_array<float>(c, n);
      fail("{}: key {}: unsupported array element type {}", c.label(), key, uint32_t(et));
    }
    default: fail("{}: key {}: unsupported value type {}", c.label(), key, uint32_t(t));
  }
}

}  // namespace

Reader::Reader(const std::filesystem::path& path) : file_(path) {
  Cursor c(file_.data(), file_.size(), path.string());
  BANYAN_CHECK(c.pod<uint32_t>() == kMagic, "{}: not a GGUF file (bad magic)", path.string());
  const auto version = c.pod<uint32_t>();
  BANYAN_CHECK(version == kVersion, "{}: GGUF version {} (expected {})", path.string(), version, kVersion);
  const auto n_tensors = c.pod<uint64_t>();
  const auto n_kv = c.pod<uint64_t>();
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.str();
    const auto t = ValueType(c.pod<uint32_t>());
    Value v = read_value(c, t, key);
    if (key == "general.alignment") alignment_ = std::get<uint32_t>(v.v);
    kvs_.push_back({std::move(key), std::move(v)});
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorDesc t;
    t.name = c.str();
    const auto nd = c.pod<uint32_t>();
    BANYAN_CHECK(nd >= 1 && nd <= 4, "{}: tensor {} has {} dims", path.string(), t.name, nd);
    for (uint32_t d = 0; d < nd; ++d) t.dims.push_back(int64_t(c.pod<uint64_t>()));
    t.type = TensorType(c.pod<uint32_t>());
    t.offset = c.pod<uint64_t>();
    tensors_.push_back(std::move(t));
  }
  data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  for (const auto& t : tensors_) {
    BANYAN_CHECK(t.offset % alignment_ == 0, "{}: tensor {} offset {} not aligned to {}", path.string(), t.name,
                 t.offset, alignment_);
    const uint64_t end = data_offset_ + t.offset + tensor_type_bytes(t.type, t.numel());
    BANYAN_CHECK(end <= file_.size(), "{}: tensor {} ends at {} beyond the file ({} bytes)", path.string(), t.name,
                 end, file_.size());
  }
}

bool Reader::has(const std::string& key) const {
  for (const auto& kv : kvs_)
    if (kv.key == key) return true;
  return false;
}

const Value& Reader::value(const std::string& key) const {
  for (const auto& kv : kvs_)
    if (kv.key == key) return kv.value;
  fail("{}: no metadata key {}", file_.path().string(), key);
}

const TensorDesc& Reader::tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return t;
  fail("{}: no tensor {}", file_.path().string(), name);
}

const uint8_t* Reader::tensor_data(const TensorDesc& t) const { return file_.data() + data_offset_ + t.offset; }

}  // namespace banyan::gguf
