// GPT-2's bytes_to_unicode: every byte value is shown as one printable code point, so a byte-level
// vocabulary is stored as text. Printable Latin-1 bytes (! .. ~, ¡ .. ¬, ® .. ÿ) stand for
// themselves; the other 68 bytes take U+0100, U+0101, ... in byte order (space is U+0120 'Ġ').
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ptq::tok {

// The code point that stands for `byte`.
uint32_t byte_to_unicode(uint8_t byte);
// The byte a code point stands for, or -1 when it is outside the alphabet.
int unicode_to_byte(uint32_t cp);

// Raw bytes -> byte-level text (UTF-8 of the alphabet's code points).
std::string bytes_to_byte_level(std::string_view bytes);
// Byte-level text -> raw bytes, or nullopt when it holds a character outside the alphabet
// (such tokens, e.g. added tokens, stand for their own UTF-8 text).
std::optional<std::string> byte_level_to_bytes(std::string_view text);

}  // namespace ptq::tok
