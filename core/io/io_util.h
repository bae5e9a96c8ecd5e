#pragma once
// Small helpers shared by the file readers and writers (internal to core/io).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ql {

inline std::uint16_t loadLE16(const std::uint8_t* p)
{
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t loadLE32(const std::uint8_t* p)
{
    return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) | (std::uint32_t(p[3]) << 24);
}
inline std::uint64_t loadLE64(const std::uint8_t* p)
{
    return std::uint64_t(loadLE32(p)) | (std::uint64_t(loadLE32(p + 4)) << 32);
}
inline void storeLE32(std::uint8_t* p, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void storeLE64(std::uint8_t* p, std::uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

/// True if `s` is well-formed UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF).
bool isValidUtf8(std::string_view s);

/// Deepest nesting of [ and { in JSON text (strings skipped). Linear, no allocation.
std::size_t jsonNestingDepth(const char* text, std::size_t n);

/// A display-safe copy of a name that may hold control characters (replaced by '?').
std::string printableName(std::string_view s, std::size_t maxLen = 200);

/// "1.5 GB"-style size for messages.
std::string humanBytes(std::uint64_t bytes);

} // namespace ql
