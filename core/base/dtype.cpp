#include "core/base/dtype.h"

#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace ql {

namespace {

struct DTypeInfo {
    DType type;
    std::string_view name;
    std::size_t size;
    bool isFloat;
};

constexpr std::array<DTypeInfo, 12> kDTypes{{
    {DType::F64, "F64", 8, true},     {DType::F32, "F32", 4, true},        {DType::F16, "F16", 2, true},
    {DType::BF16, "BF16", 2, true},   {DType::I64, "I64", 8, false},       {DType::I32, "I32", 4, false},
    {DType::I16, "I16", 2, false},    {DType::I8, "I8", 1, false},         {DType::U8, "U8", 1, false},
    {DType::Bool, "BOOL", 1, false},  {DType::F8E4M3, "F8_E4M3", 1, true}, {DType::F8E5M2, "F8_E5M2", 1, true},
}};

const DTypeInfo& info(DType t)
{
    return kDTypes[static_cast<std::size_t>(t)];
}

template <typename T>
T loadLE(const unsigned char* p)
{
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

template <typename T>
T byteswap(T v)
{
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    for (std::size_t i = 0; i < sizeof(T) / 2; ++i)
        std::swap(b[i], b[sizeof(T) - 1 - i]);
    std::memcpy(&v, b, sizeof(T));
    return v;
}

std::array<float, 256> makeFp8Table(bool e4m3)
{
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) {
        const int sign = v >> 7;
        float mag;
        if (e4m3) {
            const int e = (v >> 3) & 0xF, m = v & 0x7;
            if (e == 0xF && m == 0x7)
                mag = std::numeric_limits<float>::quiet_NaN();
            else if (e == 0)
                mag = std::ldexp(float(m), -9);  // subnormal: m/8 · 2^-6
            else
                mag = std::ldexp(1.0f + float(m) / 8.0f, e - 7);
        } else {
            const int e = (v >> 2) & 0x1F, m = v & 0x3;
            if (e == 0x1F)
                mag = m == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
            else if (e == 0)
                mag = std::ldexp(float(m), -16);  // subnormal: m/4 · 2^-14
            else
                mag = std::ldexp(1.0f + float(m) / 4.0f, e - 15);
        }
        t[v] = sign ? -mag : mag;
    }
    return t;
}

const std::array<float, 256>& fp8Table(bool e4m3)
{
    static const std::array<float, 256> kE4M3 = makeFp8Table(true);
    static const std::array<float, 256> kE5M2 = makeFp8Table(false);
    return e4m3 ? kE4M3 : kE5M2;
}

template <bool kSwap>
void convertImpl(DType t, const void* srcv, std::size_t n, float* dst)
{
    const auto* src = static_cast<const unsigned char*>(srcv);
    auto ld = [&](auto tag, std::size_t i) {
        using T = decltype(tag);
        T v = loadLE<T>(src + i * sizeof(T));
        if constexpr (kSwap)
            v = byteswap(v);
        return v;
    };
    switch (t) {
    case DType::F32:
        if constexpr (!kSwap) {
            std::memcpy(dst, src, n * 4);
        } else {
            for (std::size_t i = 0; i < n; ++i)
                dst[i] = std::bit_cast<float>(ld(std::uint32_t{}, i));
        }
        return;
    case DType::F64:
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = static_cast<float>(std::bit_cast<double>(ld(std::uint64_t{}, i)));
        return;
    case DType::F16: {
        std::size_t i = 0;
#if defined(__F16C__)
        if constexpr (!kSwap) {
            for (; i + 8 <= n; i += 8) {
                const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
                _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
            }
        }
#endif
        for (; i < n; ++i)
            dst[i] = halfToFloat(ld(std::uint16_t{}, i));
        return;
    }
    case DType::BF16:
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = bf16ToFloat(ld(std::uint16_t{}, i));
        return;
    case DType::I64:
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = static_cast<float>(static_cast<std::int64_t>(ld(std::uint64_t{}, i)));
        return;
    case DType::I32:
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = static_cast<float>(static_cast<std::int32_t>(ld(std::uint32_t{}, i)));
        return;
    case DType::I16:
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = static_cast<float>(static_cast<std::int16_t>(ld(std::uint16_t{}, i)));
        return;
    case DType::I8:
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = static_cast<float>(static_cast<std::int8_t>(src[i]));
        return;
    case DType::U8:
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = static_cast<float>(src[i]);
        return;
    case DType::Bool:
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = src[i] != 0 ? 1.0f : 0.0f;
        return;
    case DType::F8E4M3:
    case DType::F8E5M2: {
        const auto& table = fp8Table(t == DType::F8E4M3);
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = table[src[i]];
        return;
    }
    }
}

} // namespace

std::size_t dtypeSize(DType t)
{
    return info(t).size;
}

std::string_view dtypeName(DType t)
{
    return info(t).name;
}

bool dtypeIsFloat(DType t)
{
    return info(t).isFloat;
}

std::optional<DType> dtypeFromName(std::string_view name)
{
    for (const auto& d : kDTypes)
        if (d.name == name)
            return d.type;
    return std::nullopt;
}

float halfToFloat(std::uint16_t h)
{
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1Fu;
    std::uint32_t mant = h & 0x3FFu;
    std::uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            // Subnormal: normalise the mantissa; value = mant · 2^-24 exactly.
            int e = -1;
            do {
                ++e;
                mant <<= 1;
            } while ((mant & 0x400u) == 0);
            bits = sign | (std::uint32_t(127 - 15 - e) << 23) | ((mant & 0x3FFu) << 13);
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);  // Inf, or NaN with its payload
    } else {
        bits = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
    }
    return std::bit_cast<float>(bits);
}

std::uint16_t floatToHalf(float f)
{
    const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
    const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
    const std::uint32_t absx = x & 0x7FFFFFFFu;
    if (absx > 0x7F800000u)  // NaN: keep the top payload bits, force quiet
        return static_cast<std::uint16_t>(sign | 0x7E00u | ((absx >> 13) & 0x3FFu));
    if (absx >= 0x477FF000u)  // ≥ 65520 rounds to Inf (65504 + half an ulp)
        return static_cast<std::uint16_t>(sign | 0x7C00u);
    if (absx < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
        // value / 2^-24, rounded to nearest even, is the subnormal mantissa.
        const float a = std::bit_cast<float>(absx);
        const float scaled = a * 16777216.0f;  // exact: power-of-two scaling
        const float r = std::nearbyint(scaled);  // default rounding mode: nearest even
        return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(r));
    }
    // Normal: rebias exponent, round the 13 dropped mantissa bits to nearest even.
    std::uint32_t h = ((absx >> 13) - ((127u - 15u) << 10));
    const std::uint32_t rem = absx & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        ++h;  // a carry into the exponent is the correct result (may reach Inf)
    return static_cast<std::uint16_t>(sign | h);
}

std::uint16_t floatToBf16(float f)
{
    const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u)
        return static_cast<std::uint16_t>((x >> 16) | 0x0040u);  // quiet NaN
    const std::uint32_t lsb = (x >> 16) & 1u;
    return static_cast<std::uint16_t>((x + 0x7FFFu + lsb) >> 16);
}

float fp8E4M3ToFloat(std::uint8_t v)
{
    return fp8Table(true)[v];
}

float fp8E5M2ToFloat(std::uint8_t v)
{
    return fp8Table(false)[v];
}

void convertToFloat(DType t, const void* src, std::size_t n, float* dst)
{
    convertImpl<false>(t, src, n, dst);
}

void convertToFloatBigEndian(DType t, const void* src, std::size_t n, float* dst)
{
    convertImpl<true>(t, src, n, dst);
}

} // namespace ql
