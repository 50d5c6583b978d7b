// GPT-2's reversible byte <-> printable-character alphabet used by byte-level BPE.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace banyan::tok {

// UTF-8 spelling of the alphabet character standing for each byte.
const std::array<std::string, 256>& byte_to_unicode_table();
// Appends the alphabet spelling of every byte of s.
void append_byte_level(std::string& out, std::string_view s);
// The byte an alphabet character stands for; nullopt for characters outside the alphabet.
std::optional<unsigned char> unicode_to_byte(char32_t c);

}  // namespace banyan::tok
