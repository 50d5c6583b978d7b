// SHA-256 against the FIPS 180-2 example vectors and the system's sha256sum.
#include "format/sha256.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "test_paths.h"

namespace banyan {
namespace {

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShotAcrossBlockBoundaries) {
  std::string msg;
  for (int i = 0; i < 300; ++i) msg += char('a' + i % 26);
  for (size_t len : {0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300}) {
    std::string m = msg.substr(0, len);
    std::string expected = sha256_hex(m);
    for (size_t chunk : {1, 3, 7, 64, 65}) {
      Sha256 h;
      for (size_t i = 0; i < m.size(); i += chunk) h.update(std::string_view(m).substr(i, chunk));
      EXPECT_EQ(h.hex_digest(), expected) << "len " << len << " chunk " << chunk;
    }
  }
}

TEST(Sha256, FileMatchesSha256sum) {
  auto dir = test::make_temp_dir("banyan-sha");
  auto path = dir / "data.bin";
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 3 * 1024 * 1024 + 17; ++i) out.put(char((i * 2654435761u) >> 13));
  }
  std::string out;
  ASSERT_EQ(test::run_command("sha256sum " + path.string(), &out), 0);
  EXPECT_EQ(sha256_file_hex(path), out.substr(0, 64));
  std::filesystem::remove_all(dir);
}

TEST(Sha256, MissingFileNamesIt) {
  try {
    sha256_file_hex("/nonexistent/banyan-file");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/banyan-file"), std::string::npos);
  }
}

}  // namespace
}  // namespace banyan
