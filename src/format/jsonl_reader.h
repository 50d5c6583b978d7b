// Line reader for .jsonl and .jsonl.xz files (xz decoded with liblzma as it streams); "-" reads stdin.
//   JsonlReader r(path); std::string line; while (r.next(line)) { ... }
// Lines come without their trailing "\n" (and "\r"); empty lines are skipped.
#pragma once
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace banyan {

class JsonlReader {
 public:
  explicit JsonlReader(const std::filesystem::path& path);
  ~JsonlReader();
  JsonlReader(const JsonlReader&) = delete;
  JsonlReader& operator=(const JsonlReader&) = delete;

  bool next(std::string& line);
  // 1-based number of the line last returned by next(), for error messages.
  size_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }

 private:
  // Fills buffer_ with more decoded bytes; false at end of input.
  bool refill();

  std::string path_;
  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
  struct Xz;
  std::unique_ptr<Xz> xz_;  // set for .xz input
  std::string buffer_;
  size_t pos_ = 0;
  bool eof_ = false;
  size_t line_number_ = 0;
};

}  // namespace banyan
