// Bit packing of integer codes for the quantized safetensors layout (docs/export.md, "Packing").

#include "core/export/exporter.h"

#include <cstring>

namespace ql {

std::uint64_t packedBytes(std::int64_t n, int bits)
{
    return (static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(bits) + 7) / 8;
}

void packCodes(const std::int32_t* codes, std::int64_t n, int bits, std::uint8_t* dst)
{
    const std::uint64_t bytes = packedBytes(n, bits);
    if (bits == 8) {
        for (std::int64_t i = 0; i < n; ++i)
            dst[i] = static_cast<std::uint8_t>(codes[i]);
        return;
    }
    std::memset(dst, 0, bytes);
    const std::uint32_t mask = (1u << bits) - 1u;
    // A 64-bit accumulator drains whole bytes as they fill; codes wider than the space left in the
    // current byte simply continue into the next one (little-endian bit order).
    std::uint64_t acc = 0;
    int filled = 0;
    std::uint64_t out = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        acc |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(codes[i]) & mask) << filled;
        filled += bits;
        while (filled >= 8) {
            dst[out++] = static_cast<std::uint8_t>(acc & 0xffu);
            acc >>= 8;
            filled -= 8;
        }
    }
    if (filled > 0)
        dst[out] = static_cast<std::uint8_t>(acc & 0xffu);
}

void unpackCodes(const std::uint8_t* src, std::int64_t n, int bits, bool isSigned, std::int32_t* dst)
{
    const std::uint32_t mask = (1u << bits) - 1u;
    const std::uint32_t signBit = 1u << (bits - 1);
    std::uint64_t acc = 0;
    int filled = 0;
    std::uint64_t in = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        while (filled < bits) {
            acc |= static_cast<std::uint64_t>(src[in++]) << filled;
            filled += 8;
        }
        std::uint32_t v = static_cast<std::uint32_t>(acc) & mask;
        acc >>= bits;
        filled -= bits;
        if (isSigned && (v & signBit))
            dst[i] = static_cast<std::int32_t>(v) - static_cast<std::int32_t>(1u << bits);
        else
            dst[i] = static_cast<std::int32_t>(v);
    }
}

} // namespace ql
