#include "format/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/sha256.h"

namespace banyan {

namespace {

using nlohmann::json;

// The reference implementation refuses headers above 100 MB; so do we (it also bounds the parser's work).
constexpr uint64_t kMaxHeaderLen = 100'000'000;

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Parses JSON text, rejecting duplicate keys at any depth (nlohmann would silently keep the last one, which would
// let two readers disagree about a file).
json parse_json_strict(std::string_view text, const std::string& label) {
  std::vector<std::set<std::string>> keys_per_object;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys_per_object.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys_per_object.empty()) keys_per_object.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys_per_object.empty() && !keys_per_object.back().insert(parsed.get<std::string>()).second)
          fail("{}: invalid header: duplicate key \"{}\"", label, parsed.get<std::string>());
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    fail("{}: invalid header JSON: {}", label, e.what());
  }
}

TensorInfo parse_tensor_entry(const std::string& name, const json& entry, const std::string& label) {
  auto where = [&] { return fmt::format("{}: tensor '{}'", label, name); };
  BANYAN_CHECK(entry.is_object(), "{}: entry is not an object", where());
  TensorInfo info;
  info.name = name;
  bool have_dtype = false, have_shape = false, have_offsets = false;
  for (const auto& [key, value] : entry.items()) {
    if (key == "dtype") {
      BANYAN_CHECK(value.is_string(), "{}: dtype is not a string", where());
      auto dt = parse_dtype(value.get<std::string>());
      BANYAN_CHECK(dt.has_value(), "{}: unknown dtype \"{}\"", where(), value.get<std::string>());
      info.dtype = *dt;
      have_dtype = true;
    } else if (key == "shape") {
      BANYAN_CHECK(value.is_array(), "{}: shape is not an array", where());
      for (const auto& d : value) {
        BANYAN_CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(INT64_MAX),
                     "{}: shape {} has an entry that is not a non-negative integer", where(), value.dump());
        info.shape.push_back(int64_t(d.get<uint64_t>()));
      }
      have_shape = true;
    } else if (key == "data_offsets") {
      BANYAN_CHECK(value.is_array() && value.size() == 2 && value[0].is_number_unsigned() &&
                       value[1].is_number_unsigned(),
                   "{}: data_offsets must be [begin, end] non-negative integers, got {}", where(), value.dump());
      info.begin = value[0].get<uint64_t>();
      info.end = value[1].get<uint64_t>();
      BANYAN_CHECK(info.begin <= info.end, "{}: data_offsets [{}, {}] end before begin", where(), info.begin,
                   info.end);
      have_offsets = true;
    } else {
      fail("{}: unexpected field \"{}\"", where(), key);
    }
  }
  BANYAN_CHECK(have_dtype, "{}: missing dtype", where());
  BANYAN_CHECK(have_shape, "{}: missing shape", where());
  BANYAN_CHECK(have_offsets, "{}: missing data_offsets", where());

  uint64_t expected = dtype_size(info.dtype);
  for (int64_t d : info.shape)
    BANYAN_CHECK(!__builtin_mul_overflow(expected, uint64_t(d), &expected), "{}: shape {} overflows 64 bits",
                 where(), shape_str(info.shape));
  BANYAN_CHECK(expected == info.nbytes(), "{}: byte size {} != {} ({} x {} bytes)", where(), info.nbytes(), expected,
               shape_str(info.shape), dtype_size(info.dtype));
  return info;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t file_size, const std::string& label) {
  BANYAN_CHECK(file_size >= 8, "{}: file is {} bytes, too small for a safetensors header length", label, file_size);
  SafetensorsHeader h;
  h.header_len = read_le64(data);
  BANYAN_CHECK(h.header_len <= kMaxHeaderLen, "{}: header length {} exceeds the {} byte limit", label, h.header_len,
               kMaxHeaderLen);
  BANYAN_CHECK(h.header_len <= file_size - 8, "{}: header length {} is beyond the end of the file ({} bytes)", label,
               h.header_len, file_size);
  BANYAN_CHECK(h.header_len >= 2, "{}: header length {} is too small for a JSON object", label, h.header_len);
  h.data_offset = 8 + h.header_len;
  std::string_view text(reinterpret_cast<const char*>(data + 8), h.header_len);
  BANYAN_CHECK(text.front() == '{', "{}: invalid header: does not start with '{{'", label);

  json root = parse_json_strict(text, label);
  BANYAN_CHECK(root.is_object(), "{}: invalid header: not a JSON object", label);

  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      BANYAN_CHECK(value.is_object(), "{}: __metadata__ is not an object", label);
      for (const auto& [mk, mv] : value.items()) {
        BANYAN_CHECK(mv.is_string(), "{}: __metadata__ value of \"{}\" is not a string", label, mk);
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_tensor_entry(key, value, label));
  }

  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : (a.end != b.end ? a.end < b.end : a.name < b.name);
  });
  // The tensors must tile the data section exactly: no gaps, no overlaps, nothing past its end.
  const uint64_t data_size = file_size - h.data_offset;
  uint64_t covered = 0;
  const TensorInfo* prev = nullptr;
  for (const auto& t : h.tensors) {
    BANYAN_CHECK(t.end <= data_size, "{}: tensor '{}': data_offsets [{}, {}] out of range (data section is {} bytes)",
                 label, t.name, t.begin, t.end, data_size);
    if (t.begin < covered)
      fail("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", label, t.name, t.begin, t.end,
           prev->name, prev->begin, prev->end);
    if (t.begin > covered)
      fail("{}: tensor '{}': data_offsets [{}, {}] leave bytes [{}, {}) not covered by any tensor", label, t.name,
           t.begin, t.end, covered, t.begin);
    covered = t.end;
    prev = &t;
  }
  BANYAN_CHECK(covered == data_size, "{}: data section is {} bytes but tensors cover only [0, {}){}", label,
               data_size, covered, prev ? fmt::format(" (last tensor '{}')", prev->name) : std::string());
  return h;
}

// ---------------------------------------------------------------------------------------------- SafetensorsFile

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
  header_ = parse_safetensors_header(file_.data(), file_.size(), path.string());
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

TensorView SafetensorsFile::view(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (!info) fail("{}: no tensor named '{}'", path().string(), name);
  return view(*info);
}

TensorView SafetensorsFile::view(const TensorInfo& info) const {
  TensorView v;
  v.dtype = info.dtype;
  v.shape = info.shape;
  v.data = file_.data() + header_.data_offset + info.begin;
  v.nbytes = info.nbytes();
  return v;
}

std::string_view SafetensorsFile::header_bytes() const {
  return {reinterpret_cast<const char*>(file_.data() + 8), header_.header_len};
}

// --------------------------------------------------------------------------------------------------- Checkpoint

namespace {
std::string read_text_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) fail("{}: cannot open: {}", p.string(), std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

Checkpoint::Checkpoint(const std::filesystem::path& dir) : dir_(dir) {
  namespace fs = std::filesystem;
  BANYAN_CHECK(fs::is_directory(dir), "{}: not a directory", dir.string());
  const fs::path index_path = dir / "model.safetensors.index.json";
  const fs::path single_path = dir / "model.safetensors";

  if (fs::exists(index_path)) {
    has_index_ = true;
    index_bytes_ = read_text_file(index_path);
    json index;
    try {
      index = json::parse(index_bytes_);
    } catch (const json::exception& e) {
      fail("{}: invalid JSON: {}", index_path.string(), e.what());
    }
    BANYAN_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
                 "{}: missing \"weight_map\" object", index_path.string());
    std::map<std::string, size_t> shard_ids;
    std::vector<std::pair<std::string, size_t>> wanted;  // tensor name → file index
    for (const auto& [name, shard] : index["weight_map"].items()) {
      BANYAN_CHECK(shard.is_string(), "{}: weight_map entry for tensor '{}' is not a file name", index_path.string(),
                   name);
      std::string shard_name = shard.get<std::string>();
      BANYAN_CHECK(!shard_name.empty() && shard_name.find('/') == std::string::npos && shard_name != ".." &&
                       shard_name != ".",
                   "{}: tensor '{}' maps to invalid shard file name \"{}\"", index_path.string(), name, shard_name);
      auto [it, inserted] = shard_ids.emplace(shard_name, files_.size());
      if (inserted) files_.push_back(std::make_unique<SafetensorsFile>(dir / shard_name));
      wanted.emplace_back(name, it->second);
    }
    for (const auto& [name, file_index] : wanted) {
      const TensorInfo* info = files_[file_index]->find(name);
      if (!info)
        fail("{}: tensor '{}' is listed in the index but missing from its shard {}", index_path.string(), name,
             files_[file_index]->path().string());
      where_[name] = {file_index, info};
    }
    // The reverse direction: a shard holding tensors the index does not list means the two disagree.
    for (const auto& f : files_)
      for (const auto& t : f->tensors())
        if (!where_.count(t.name) || where_[t.name].second != &t)
          fail("{}: tensor '{}' in shard {} is not listed in the index for that shard", index_path.string(), t.name,
               f->path().string());
  } else if (fs::exists(single_path)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single_path));
    for (const auto& t : files_[0]->tensors()) where_[t.name] = {0, &t};
  } else {
    fail("{}: no model.safetensors or model.safetensors.index.json", dir.string());
  }
}

std::vector<std::string> Checkpoint::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(where_.size());
  for (const auto& [name, loc] : where_) names.push_back(name);
  return names;  // std::map iteration order: already sorted
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("{}: checkpoint has no tensor named '{}'", dir_.string(), name);
  return *it->second.second;
}

const SafetensorsFile& Checkpoint::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("{}: checkpoint has no tensor named '{}'", dir_.string(), name);
  return *files_[it->second.first];
}

TensorView Checkpoint::view(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("{}: checkpoint has no tensor named '{}'", dir_.string(), name);
  return files_[it->second.first]->view(*it->second.second);
}

std::string Checkpoint::source_hash() const {
  if (has_index_) return sha256_hex(index_bytes_);
  return sha256_hex(files_.at(0)->header_bytes());
}

// -------------------------------------------------------------------------------------------- SafetensorsWriter

std::string safetensors_header_json(const std::vector<TensorSpec>& specs,
                                    const std::map<std::string, std::string>& metadata) {
  // Layout as the reference implementation writes it: compact JSON, __metadata__ first, then tensors in data
  // order with fields dtype, shape, data_offsets; padded with spaces to a multiple of 8 bytes.
  std::string out = "{";
  bool first = true;
  if (!metadata.empty()) {
    out += "\"__metadata__\":{";
    bool first_md = true;
    for (const auto& [k, v] : metadata) {
      if (!first_md) out += ',';
      first_md = false;
      out += json(k).dump() + ":" + json(v).dump();
    }
    out += '}';
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& s : specs) {
    uint64_t n = dtype_size(s.dtype);
    for (int64_t d : s.shape) n *= uint64_t(d);
    if (!first) out += ',';
    first = false;
    out += json(s.name).dump();
    out += fmt::format(":{{\"dtype\":\"{}\",\"shape\":[", dtype_name(s.dtype));
    for (size_t i = 0; i < s.shape.size(); ++i) {
      if (i) out += ',';
      out += std::to_string(s.shape[i]);
    }
    out += fmt::format("],\"data_offsets\":[{},{}]}}", offset, offset + n);
    offset += n;
  }
  out += '}';
  out.append((8 - out.size() % 8) % 8, ' ');
  return out;
}

SafetensorsWriter::SafetensorsWriter(const std::filesystem::path& path, std::vector<TensorSpec> specs,
                                     std::map<std::string, std::string> metadata)
    : path_(path), specs_(std::move(specs)) {
  std::set<std::string> seen;
  for (const auto& s : specs_) {
    BANYAN_CHECK(!s.name.empty() && s.name != "__metadata__", "{}: invalid tensor name \"{}\"", path_.string(),
                 s.name);
    BANYAN_CHECK(seen.insert(s.name).second, "{}: tensor '{}' given twice", path_.string(), s.name);
    uint64_t n = dtype_size(s.dtype);
    for (int64_t d : s.shape) {
      BANYAN_CHECK(d >= 0, "{}: tensor '{}': negative dimension in shape {}", path_.string(), s.name,
                   shape_str(s.shape));
      BANYAN_CHECK(!__builtin_mul_overflow(n, uint64_t(d), &n), "{}: tensor '{}': shape {} overflows",
                   path_.string(), s.name, shape_str(s.shape));
    }
    sizes_.push_back(n);
  }
  std::string header = safetensors_header_json(specs_, metadata);
  fp_ = std::fopen(path_.c_str(), "wb");
  if (!fp_) fail("{}: cannot create: {}", path_.string(), std::strerror(errno));
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
  if (std::fwrite(len, 1, 8, fp_) != 8 || std::fwrite(header.data(), 1, header.size(), fp_) != header.size())
    fail("{}: write error: {}", path_.string(), std::strerror(errno));
  written_ = 8 + header.size();
}

SafetensorsWriter::~SafetensorsWriter() {
  if (fp_) {
    // Abandoned before finish(): the file is incomplete, so do not leave it looking like a checkpoint.
    std::fclose(fp_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
}

void SafetensorsWriter::append(const void* data, size_t nbytes) {
  BANYAN_CHECK(fp_ && !finished_, "{}: append after finish", path_.string());
  auto p = static_cast<const uint8_t*>(data);
  while (true) {
    while (current_ < specs_.size() && current_written_ == sizes_[current_]) {
      ++current_;
      current_written_ = 0;
    }
    if (nbytes == 0) return;
    BANYAN_CHECK(current_ < specs_.size(), "{}: {} bytes appended beyond the last tensor", path_.string(), nbytes);
    size_t take = size_t(std::min<uint64_t>(nbytes, sizes_[current_] - current_written_));
    if (std::fwrite(p, 1, take, fp_) != take)
      fail("{}: write error in tensor '{}': {}", path_.string(), specs_[current_].name, std::strerror(errno));
    current_written_ += take;
    written_ += take;
    p += take;
    nbytes -= take;
  }
}

void SafetensorsWriter::write(const std::string& name, const void* data, size_t nbytes) {
  BANYAN_CHECK(fp_ && !finished_, "{}: write of tensor '{}' after finish", path_.string(), name);
  if (nbytes == 0) {
    // A zero-byte tensor that append() already stepped over is complete: nothing to do.
    for (size_t i = 0; i < current_ && i < specs_.size(); ++i)
      if (specs_[i].name == name && sizes_[i] == 0) return;
  }
  BANYAN_CHECK(current_ >= specs_.size() || current_written_ == 0 || current_written_ == sizes_[current_],
               "{}: write of tensor '{}' while tensor '{}' is partly appended", path_.string(), name,
               specs_[current_].name);
  while (current_ < specs_.size() && current_written_ == sizes_[current_] && sizes_[current_] != 0) {
    ++current_;
    current_written_ = 0;
  }
  // Zero-byte tensors are complete by definition; skip them until the named one.
  while (current_ < specs_.size() && sizes_[current_] == 0 && specs_[current_].name != name) ++current_;
  BANYAN_CHECK(current_ < specs_.size(), "{}: tensor '{}' written after the last tensor", path_.string(), name);
  BANYAN_CHECK(specs_[current_].name == name, "{}: tensor '{}' written out of order: expected '{}'", path_.string(),
               name, specs_[current_].name);
  BANYAN_CHECK(nbytes == sizes_[current_], "{}: tensor '{}' has {} bytes, expected {}", path_.string(), name, nbytes,
               sizes_[current_]);
  if (nbytes == 0) {
    ++current_;
    return;
  }
  append(data, nbytes);
}

void SafetensorsWriter::finish() {
  BANYAN_CHECK(fp_ && !finished_, "{}: finish called twice", path_.string());
  while (current_ < specs_.size() && current_written_ == sizes_[current_]) {
    ++current_;
    current_written_ = 0;
  }
  if (current_ < specs_.size())
    fail("{}: finish before tensor '{}' was complete ({} of {} bytes)", path_.string(), specs_[current_].name,
         current_written_, sizes_[current_]);
  std::FILE* fp = fp_;
  fp_ = nullptr;
  finished_ = true;
  bool ok = std::fflush(fp) == 0;
  ok = (std::fclose(fp) == 0) && ok;
  if (!ok) {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    fail("{}: error while closing: {}", path_.string(), std::strerror(errno));
  }
}

}  // namespace banyan
