// The little Unicode the byte-level BPE pre-tokenizers need: lenient UTF-8 decoding, the character
// classes \p{L}, \p{N} and \s (from ICU), and NFC normalization.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace ptq::tok::unicode {

// A byte that does not start a well-formed UTF-8 sequence decodes as kIllFormed | byte, one byte
// long, so any input can be split and byte-encoded losslessly (it belongs to no class).
constexpr uint32_t kIllFormed = 0x80000000u;

// Decodes the code point starting at s[pos] (pos < s.size()); *len receives its byte length.
// Overlong forms, surrogates and values above U+10FFFF are ill-formed.
uint32_t decode_utf8(std::string_view s, size_t pos, size_t* len);
bool is_valid_utf8(std::string_view s);
void append_utf8(std::string& out, uint32_t cp);

// Character classes as the tokenizer regexes use them: \p{L} (Lu Ll Lt Lm Lo), \p{N} (Nd Nl No)
// and \s (the White_Space property, as Oniguruma and Rust's regex define \s).
enum ClassBits : uint8_t { kLetter = 1, kNumber = 2, kSpace = 4 };
uint8_t char_class(uint32_t cp);
inline bool is_letter(uint32_t cp) { return char_class(cp) & kLetter; }
inline bool is_number(uint32_t cp) { return char_class(cp) & kNumber; }
inline bool is_space(uint32_t cp) { return char_class(cp) & kSpace; }

// NFC form of `s`; text that is not valid UTF-8 is returned unchanged (NFC is defined on text).
std::string to_nfc(const std::string& s);

}  // namespace ptq::tok::unicode
