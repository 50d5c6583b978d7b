// JsonlReader on plain and xz-compressed files (compressed here with liblzma's encoder).
#include <gtest/gtest.h>
#include <lzma.h>

#include <fstream>

#include "core/error.h"
#include "format/jsonl_reader.h"
#include "test_paths.h"

namespace banyan {
namespace {

std::string xz_compress(const std::string& data) {
  std::string out(lzma_stream_buffer_bound(data.size()), '\0');
  size_t out_pos = 0;
  lzma_ret rc = lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr, reinterpret_cast<const uint8_t*>(data.data()),
                                        data.size(), reinterpret_cast<uint8_t*>(out.data()), &out_pos, out.size());
  EXPECT_EQ(rc, LZMA_OK);
  out.resize(out_pos);
  return out;
}

void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

std::vector<std::string> read_all(const std::filesystem::path& p) {
  JsonlReader r(p);
  std::vector<std::string> lines;
  std::string line;
  while (r.next(line)) lines.push_back(line);
  return lines;
}

TEST(JsonlReader, PlainAndXzGiveTheSameLines) {
  auto dir = test::make_temp_dir("jsonl_reader");
  // Enough lines to cross the reader's 64 KiB chunks; CRLF, blank lines and no final newline.
  std::string content;
  std::vector<std::string> expected;
  for (int i = 0; i < 5000; ++i) {
    std::string line = "{\"text\": \"line " + std::to_string(i) + std::string(i % 37, 'x') + "\"}";
    expected.push_back(line);
    content += line + (i % 3 == 0 ? "\r\n" : "\n");
    if (i % 100 == 0) content += "\n";
  }
  content.pop_back();
  write_file(dir / "a.jsonl", content);
  write_file(dir / "a.jsonl.xz", xz_compress(content));
  EXPECT_EQ(read_all(dir / "a.jsonl"), expected);
  EXPECT_EQ(read_all(dir / "a.jsonl.xz"), expected);
  std::filesystem::remove_all(dir);
}

TEST(JsonlReader, ErrorsNameTheFile) {
  auto dir = test::make_temp_dir("jsonl_reader");
  EXPECT_THROW(JsonlReader(dir / "missing.jsonl"), Error);
  write_file(dir / "bad.jsonl.xz", "this is not xz data at all");
  try {
    read_all(dir / "bad.jsonl.xz");
    ADD_FAILURE() << "corrupt xz was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl.xz"), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace banyan
