#include "format/tokenizer/byte_level.h"

#include "format/tokenizer/unicode.h"

namespace banyan::tok {
namespace {

struct Tables {
  std::array<std::string, 256> to_unicode;
  std::array<int, 512> from_unicode;  // alphabet code points are all below 512; -1 = not in the alphabet
};

const Tables& tables() {
  static const Tables t = [] {
    Tables t;
    t.from_unicode.fill(-1);
    // Printable bytes stand for themselves; the others are shifted to 256 + n in byte order.
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      append_utf8(t.to_unicode[b], cp);
      t.from_unicode[cp] = b;
    }
    return t;
  }();
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_to_unicode_table() { return tables().to_unicode; }

void append_byte_level(std::string& out, std::string_view s) {
  const auto& table = tables().to_unicode;
  for (char ch : s) out += table[static_cast<unsigned char>(ch)];
}

std::optional<unsigned char> unicode_to_byte(char32_t c) {
  if (c >= 512) return std::nullopt;
  int b = tables().from_unicode[c];
  if (b < 0) return std::nullopt;
  return static_cast<unsigned char>(b);
}

}  // namespace banyan::tok
