// The NFC fast path (is_nfc_inert) checked against utf8proc over the whole code space.
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>

#include "format/tokenizer/unicode.h"

namespace banyan::tok {
namespace {

std::string utf8(char32_t c) {
  std::string s;
  append_utf8(s, c);
  return s;
}

bool inert(char32_t c) { return is_nfc_inert(utf8(c)); }

// utf8proc's NFC, called directly (normalize_unicode itself takes the fast path under test).
std::string reference_nfc(const std::string& s) {
  utf8proc_uint8_t* out = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(s.c_str()));
  std::string result(reinterpret_cast<const char*>(out));
  std::free(out);
  return result;
}

TEST(NfcFastPath, InertCodePointsAreStableStarters) {
  size_t count = 0;
  for (char32_t c = 0x80; c < 0x20000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    if (!inert(c)) continue;
    ++count;
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(c));
    ASSERT_EQ(p->combining_class, 0) << std::hex << static_cast<uint32_t>(c);
    std::string s = utf8(c);
    ASSERT_EQ(reference_nfc(s + "a"), s + "a") << std::hex << static_cast<uint32_t>(c);
  }
  EXPECT_GT(count, 30000u);
}

TEST(NfcFastPath, NoInertCodePointIsTheSecondOfAComposition) {
  // Every canonical decomposition's non-initial code points are possible composition partners.
  utf8proc_int32_t buf[32];
  for (char32_t c = 0x80; c < 0x110000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    int opts = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 32,
                                                 static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE), &opts);
    ASSERT_GT(n, 0);
    for (utf8proc_ssize_t k = 1; k < n; ++k)
      ASSERT_FALSE(inert(static_cast<char32_t>(buf[k])))
          << std::hex << static_cast<uint32_t>(buf[k]) << " in the decomposition of " << static_cast<uint32_t>(c);
  }
  // And a string of inert characters is left as it is.
  std::string mixed = "abc \xE4\xBD\xA0\xE5\xA5\xBD \xED\x95\x9C \xE3\x81\x8B \xF0\x9F\x98\x80";
  EXPECT_TRUE(is_nfc_inert(mixed));
  EXPECT_FALSE(is_nfc_inert("e\xCC\x81"));
  EXPECT_FALSE(is_nfc_inert("\xE3\x81\x8B\xE3\x82\x99"));  // か + voicing mark composes to が
}

}  // namespace
}  // namespace banyan::tok
