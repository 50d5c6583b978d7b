#include "format/jsonl_reader.h"

#include <lzma.h>

#include <cstring>
#include <vector>

#include "core/error.h"

namespace banyan {

struct JsonlReader::Xz {
  lzma_stream stream = LZMA_STREAM_INIT;
  std::vector<uint8_t> in = std::vector<uint8_t>(1 << 16);
  bool input_done = false;
  bool stream_ended = false;
  ~Xz() { lzma_end(&stream); }
};

JsonlReader::JsonlReader(const std::filesystem::path& path) : path_(path.string()) {
  if (path_ == "-") {
    file_ = stdin;
  } else {
    file_ = std::fopen(path_.c_str(), "rb");
    if (!file_) fail("{}: cannot open: {}", path_, std::strerror(errno));
    owns_file_ = true;
  }
  if (path.extension() == ".xz") {
    xz_ = std::make_unique<Xz>();
    // Concatenated .xz streams are valid too.
    if (lzma_stream_decoder(&xz_->stream, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
      fail("{}: cannot initialise the xz decoder", path_);
  }
}

JsonlReader::~JsonlReader() {
  if (owns_file_) std::fclose(file_);
}

bool JsonlReader::refill() {
  if (eof_) return false;
  buffer_.erase(0, pos_);
  pos_ = 0;
  constexpr size_t kChunk = 1 << 16;
  if (!xz_) {
    size_t old = buffer_.size();
    buffer_.resize(old + kChunk);
    size_t n = std::fread(buffer_.data() + old, 1, kChunk, file_);
    buffer_.resize(old + n);
    if (n == 0) {
      if (std::ferror(file_)) fail("{}: read error", path_);
      eof_ = true;
      return false;
    }
    return true;
  }
  if (xz_->stream_ended) {
    eof_ = true;
    return false;
  }
  lzma_stream& s = xz_->stream;
  size_t old = buffer_.size();
  buffer_.resize(old + kChunk);
  s.next_out = reinterpret_cast<uint8_t*>(buffer_.data() + old);
  s.avail_out = kChunk;
  while (s.avail_out == kChunk) {
    if (s.avail_in == 0 && !xz_->input_done) {
      size_t n = std::fread(xz_->in.data(), 1, xz_->in.size(), file_);
      if (n == 0 && std::ferror(file_)) fail("{}: read error", path_);
      if (n == 0) xz_->input_done = true;
      s.next_in = xz_->in.data();
      s.avail_in = n;
    }
    lzma_ret rc = lzma_code(&s, xz_->input_done ? LZMA_FINISH : LZMA_RUN);
    if (rc == LZMA_STREAM_END) {
      xz_->stream_ended = true;
      break;
    }
    if (rc != LZMA_OK) fail("{}: xz data is corrupt or truncated (lzma error {})", path_, static_cast<int>(rc));
  }
  size_t produced = kChunk - s.avail_out;
  buffer_.resize(old + produced);
  if (produced == 0) eof_ = true;
  return produced > 0;
}

bool JsonlReader::next(std::string& line) {
  for (;;) {
    size_t nl = buffer_.find('\n', pos_);
    if (nl == std::string::npos && refill()) continue;
    size_t end = nl == std::string::npos ? buffer_.size() : nl;
    if (nl == std::string::npos && pos_ >= buffer_.size()) return false;
    line.assign(buffer_, pos_, end - pos_);
    pos_ = nl == std::string::npos ? buffer_.size() : nl + 1;
    ++line_number_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    return true;
  }
}

}  // namespace banyan
