#include "pack/gguf/gguf_writer.h"

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace banyan::gguf {
namespace {

// Serialises header pieces into a byte buffer (little-endian host assumed, as x86-64/aarch64 are).
struct Bytes {
  std::string out;
  template <class T>
  void pod(T x) { out.append(reinterpret_cast<const char*>(&x), sizeof(T)); }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    out += s;
  }
  void value(const Value& v) {
    std::visit([&](const auto& x) { put(x); }, v.v);
  }
  void typed(const Value& v) {
    pod<uint32_t>(uint32_t(type_of(v)));
    value(v);
  }
  static ValueType type_of(const Value& v) {
    static constexpr ValueType kTypes[] = {ValueType::U32, ValueType::I32, ValueType::F32,
                                           ValueType::BOOL, ValueType::U64, ValueType::STRING,
                                           ValueType::ARRAY, ValueType::ARRAY, ValueType::ARRAY};
    return kTypes[v.v.index()];
  }
  void put(uint32_t x) { pod(x); }
  void put(int32_t x) { pod(x); }
  void put(float x) { pod(x); }
  void put(bool x) { pod<uint8_t>(x ? 1 : 0); }
  void put(uint64_t x) { pod(x); }
  void put(const std::string& s) { str(s); }
  void put(const std::vector<std::string>& a) {
    pod(uint32_t(ValueType::STRING));
    pod<uint64_t>(a.size());
    for (const auto& s : a) str(s);
  }
  void put(const std::vector<int32_t>& a) {
    pod(uint32_t(ValueType::I32));
    pod<uint64_t>(a.size());
    out.append(reinterpret_cast<const char*>(a.data()), a.size() * 4);
  }
  void put(const std::vector<float>& a) {
    pod(uint32_t(ValueType::F32));
    pod<uint64_t>(a.size());
    out.append(reinterpret_cast<const char*>(a.data()), a.size() * 4);
  }
};

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

Writer::Writer(const std::filesystem::path& path, std::vector<KeyValue> kvs, std::vector<TensorDesc> tensors,
               uint64_t alignment)
    : path_(path), tensors_(std::move(tensors)), alignment_(alignment) {
  BANYAN_CHECK(alignment_ > 0 && alignment_ % 8 == 0, "{}: GGUF alignment must be a positive multiple of 8, got {}",
               path.string(), alignment_);
  if (alignment_ != kDefaultAlignment) kvs.push_back({"general.alignment", uint32_t(alignment_)});
  uint64_t offset = 0;
  for (auto& t : tensors_) {
    BANYAN_CHECK(!t.dims.empty() && t.dims.size() <= 4, "{}: tensor {} has {} dims (GGUF allows 1..4)",
                 path.string(), t.name, t.dims.size());
    if (t.type == TensorType::Q8_0)
      BANYAN_CHECK(t.dims[0] % kQ8BlockSize == 0, "{}: tensor {}: q8_0 rows need a multiple of 32 elements, got {}",
                   path.string(), t.name, t.dims[0]);
    t.offset = offset;
    sizes_.push_back(tensor_type_bytes(t.type, t.numel()));
    offset = align_up(offset + sizes_.back(), alignment_);
  }
  Bytes h;
  h.pod(kMagic);
  h.pod(kVersion);
  h.pod<uint64_t>(tensors_.size());
  h.pod<uint64_t>(kvs.size());
  for (const auto& kv : kvs) {
    h.str(kv.key);
    h.typed(kv.value);
  }
  for (const auto& t : tensors_) {
    h.str(t.name);
    h.pod<uint32_t>(uint32_t(t.dims.size()));
    for (auto d : t.dims) h.pod<uint64_t>(uint64_t(d));
    h.pod<uint32_t>(uint32_t(t.type));
    h.pod<uint64_t>(t.offset);
  }
  fp_ = std::fopen(path.c_str(), "wb");
  BANYAN_CHECK(fp_ != nullptr, "cannot create {}: {}", path.string(), std::strerror(errno));
  write_raw(h.out.data(), h.out.size());
  pad_to(alignment_);
  data_start_ = pos_;
}

Writer::~Writer() {
  if (fp_) std::fclose(fp_);
}

const std::string& Writer::current_tensor() const {
  static const std::string kNone = "(none: all written)";
  return current_ < tensors_.size() ? tensors_[current_].name : kNone;
}

void Writer::write_raw(const void* p, size_t n) {
  if (n && std::fwrite(p, 1, n, fp_) != n) fail("writing {}: {}", path_.string(), std::strerror(errno));
  pos_ += n;
}

void Writer::pad_to(uint64_t multiple) {
  static const char kZeros[64] = {};
  uint64_t pad = align_up(pos_, multiple) - pos_;
  while (pad) {
    size_t n = size_t(std::min<uint64_t>(pad, sizeof kZeros));
    write_raw(kZeros, n);
    pad -= n;
  }
}

void Writer::append(const void* data, size_t nbytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (nbytes) {
    BANYAN_CHECK(current_ < tensors_.size(), "{}: {} bytes appended after the last tensor", path_.string(), nbytes);
    if (current_written_ == 0) {
      BANYAN_CHECK(pos_ - data_start_ == tensors_[current_].offset, "{}: tensor {} would start at {} not {}",
                   path_.string(), tensors_[current_].name, pos_ - data_start_, tensors_[current_].offset);
    }
    const uint64_t room = sizes_[current_] - current_written_;
    const size_t n = size_t(std::min<uint64_t>(room, nbytes));
    write_raw(p, n);
    p += n;
    nbytes -= n;
    current_written_ += n;
    if (current_written_ == sizes_[current_]) {
      pad_to(alignment_);  // the next tensor starts aligned
      ++current_;
      current_written_ = 0;
    }
  }
}

void Writer::finish() {
  BANYAN_CHECK(!finished_, "{}: finish() called twice", path_.string());
  BANYAN_CHECK(current_ == tensors_.size() && current_written_ == 0,
               "{}: incomplete: tensor {} of {} ({}) has {} bytes written", path_.string(), current_,
               tensors_.size(), current_tensor(), current_written_);
  finished_ = true;
  const bool ok = std::fflush(fp_) == 0;
  const bool closed = std::fclose(fp_) == 0;
  fp_ = nullptr;
  BANYAN_CHECK(ok && closed, "closing {}: {}", path_.string(), std::strerror(errno));
}

}  // namespace banyan::gguf
