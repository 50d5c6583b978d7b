// UTF-8 decoding/encoding and the few Unicode character classes the tokenizer pipeline needs
// (matching Rust's char predicates, which Hugging Face `tokenizers` uses).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace banyan::tok {

// Decodes the code point starting at s[i] and advances i. Invalid bytes decode as U+FFFD, one byte each,
// so every input makes progress.
char32_t next_code_point(std::string_view s, size_t& i);
// Byte length of the UTF-8 sequence that starts with byte b (1 for invalid lead bytes).
size_t utf8_sequence_length(unsigned char b);
void append_utf8(std::string& out, char32_t cp);
// True when s is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);
// Length of the longest prefix of s that does not end inside an incomplete (truncated) UTF-8 sequence.
size_t complete_utf8_prefix(std::string_view s);

bool is_whitespace(char32_t c);    // Rust char::is_whitespace (Unicode White_Space)
bool is_alphanumeric(char32_t c);  // letters and numbers
bool is_numeric(char32_t c);       // Rust char::is_numeric (general categories Nd, Nl, No)
bool is_punctuation(char32_t c);   // ASCII punctuation or general category P*
bool is_nonspacing_mark(char32_t c);  // general category Mn

// Rust char::to_lowercase appended to out (full mapping: U+0130 becomes "i\u0307").
void append_lowercase(std::string& out, char32_t c);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
std::string normalize_unicode(std::string_view s, NormalForm form);
// True when s is certainly already in NFC and stays so next to any other text (a fast path; false means
// "run the real normalization", not "not NFC").
bool is_nfc_inert(std::string_view s);

}  // namespace banyan::tok
