#include "core/formats/float_formats.h"

#include "core/formats/block_layouts.h"
#include "core/formats/block_search.h"
#include "core/formats/format_driver.h"
#include "core/formats/gguf_formats.h"
#include "core/formats/lane_batch.h"
#include "core/quant/int_quant.h"

#include <omp.h>

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#define QL_HAVE_F16C 1
#endif

#include <algorithm>
#include <array>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>

namespace ql {

namespace {

// Positive finite values of an FP8 format, indexed by code (0 .. maxCode).
struct Fp8Table {
    std::array<float, 128> value{};
    int maxCode = 0;
    std::array<float, 256> decoded{};
};

const Fp8Table& e4m3Table()
{
    static const Fp8Table t = [] {
        Fp8Table r;
        r.maxCode = 0x7E;
        for (int c = 0; c <= r.maxCode; ++c)
            r.value[c] = fp8E4M3ToFloat(std::uint8_t(c));
        for (int c = 0; c < 256; ++c)
            r.decoded[c] = fp8E4M3ToFloat(std::uint8_t(c));
        return r;
    }();
    return t;
}

const Fp8Table& e5m2Table()
{
    static const Fp8Table t = [] {
        Fp8Table r;
        r.maxCode = 0x7B;
        for (int c = 0; c <= r.maxCode; ++c)
            r.value[c] = fp8E5M2ToFloat(std::uint8_t(c));
        for (int c = 0; c < 256; ++c)
            r.decoded[c] = fp8E5M2ToFloat(std::uint8_t(c));
        return r;
    }();
    return t;
}

// Nearest code on a sorted table, ties to the even code, saturating at maxCode.
int nearestCodeRef(const float* values, int maxCode, float a)
{
    if (a >= values[maxCode])
        return maxCode;
    const int hi = int(std::upper_bound(values, values + maxCode + 1, a) - values);  // values[hi] > a
    const int lo = hi - 1;
    const double dl = double(a) - values[lo], dh = double(values[hi]) - a;
    if (dl < dh)
        return lo;
    if (dh < dl)
        return hi;
    return (lo & 1) ? hi : lo;
}

constexpr float kE2M1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
// The value of each 4-bit E2M1 code (bit 3 the sign): the decoders' lookup table.
constexpr float kFp4Levels[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                  -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

// 2^k as a float: built from its exponent field when normal, ldexp otherwise (a libm call per
// block costs more than the block's arithmetic).
inline float pow2f(int k)
{
    if (k >= -126 && k <= 127)
        return std::bit_cast<float>(std::uint32_t(k + 127) << 23);
    return std::ldexp(1.0f, k);
}

using search::Ints16;
using search::Lanes16;

// The 4-bit E2M1 codes (sign in bit 3, no negative zero) of 16 values, equal to e2m1CodeRef lane by
// lane. E2M1 is a float format (bias 1, one mantissa bit): for |v| ≥ 1 the code is the float's
// exponent and top mantissa bit after rounding the other 22 bits to nearest even (a carry moves
// to the exponent), saturated at 7 (6.0); below 1 it is round-half-even(2|v|) (0, 0.5 or 1.0).
inline Ints16 e2m1Nibbles(Lanes16 v)
{
    Ints16 bits;
    std::memcpy(&bits, &v, sizeof bits);
    const Ints16 a = bits & 0x7FFFFFFF;
    const Ints16 r = a + 0x1FFFFF + ((a >> 22) & 1);
    Ints16 normal = (r >> 22) - (126 << 1);
    normal = normal < 7 ? normal : Ints16{} + 7;
    Lanes16 af;
    std::memcpy(&af, &a, sizeof af);
    const Ints16 sub = batch::toInts(search::roundMagic(af * 2.0f));
    const Ints16 c = a < 0x3F800000 ? sub : normal;
    return c | ((v < 0.0f) & (c != 0) & 8);
}

inline std::uint8_t e4m3Fast(float v)
{
    const std::uint32_t u = std::bit_cast<std::uint32_t>(v);
    const std::uint32_t sign = (u >> 24) & 0x80u;
    const std::uint32_t a = u & 0x7FFFFFFFu;
    // Normal range (≥ 2^−6): round the mantissa to 3 bits (nearest even), rebias 127 → 7.
    const std::uint32_t r = a + 0x7FFFFu + ((a >> 20) & 1u);
    const std::int32_t codeN = std::min<std::int32_t>(std::int32_t(r >> 20) - (120 << 3), 0x7E);
    // Subnormal range: steps of 2^−9, the code is the rounded multiple.
    const std::int32_t codeS = std::int32_t(__builtin_rintf(std::bit_cast<float>(a) * 512.0f));
    std::int32_t code = a < (121u << 23) ? codeS : codeN;
    code = a > 0x7F800000u ? 0x7F : code;
    return std::uint8_t(std::uint32_t(code) | sign);
}

// e4m3Fast lane by lane, for finite non-negative values (the NVFP4 block scales).
inline Ints16 e4m3FastLanes(Lanes16 v)
{
    Ints16 a;
    std::memcpy(&a, &v, sizeof a);
    const Ints16 r = a + 0x7FFFF + ((a >> 20) & 1);
    const Ints16 codeN = (r >> 20) - (120 << 3);
    const Ints16 codeS = batch::toInts(search::roundMagic(v * 512.0f));
    return a < (121 << 23) ? codeS : (codeN > 0x7E ? Ints16{} + 0x7E : codeN);
}

// The values of E4M3 codes 0..0x7E lane by lane (exact, as the decoded table).
inline Lanes16 e4m3ValueLanes(Ints16 c)
{
    const Ints16 e = c >> 3, m = c & 7;
    const Ints16 bits = ((e + 120) << 23) | (m << 20);
    Lanes16 normal;
    std::memcpy(&normal, &bits, sizeof normal);
    const Lanes16 sub = __builtin_convertvector(m, Lanes16) * 0x1p-9f;
    return e == 0 ? sub : normal;
}

inline std::uint8_t e5m2Fast(float v)
{
    const std::uint32_t u = std::bit_cast<std::uint32_t>(v);
    const std::uint32_t sign = (u >> 24) & 0x80u;
    const std::uint32_t a = u & 0x7FFFFFFFu;
    const std::uint32_t r = a + 0xFFFFFu + ((a >> 21) & 1u);
    const std::int32_t codeN = std::min<std::int32_t>(std::int32_t(r >> 21) - (112 << 2), 0x7B);
    const std::int32_t codeS = std::int32_t(__builtin_rintf(std::bit_cast<float>(a) * 65536.0f));
    std::int32_t code = a < (113u << 23) ? codeS : codeN;
    code = a == 0x7F800000u ? 0x7C : code;
    code = a > 0x7F800000u ? 0x7F : code;
    return std::uint8_t(std::uint32_t(code) | sign);
}

} // namespace

std::uint8_t floatToFp8E4M3Ref(float v)
{
    const std::uint8_t sign = std::signbit(v) ? 0x80 : 0x00;
    if (std::isnan(v))
        return std::uint8_t(sign | 0x7F);
    const Fp8Table& t = e4m3Table();
    return std::uint8_t(sign | nearestCodeRef(t.value.data(), t.maxCode, std::fabs(v)));
}

std::uint8_t floatToFp8E5M2Ref(float v)
{
    const std::uint8_t sign = std::signbit(v) ? 0x80 : 0x00;
    if (std::isnan(v))
        return std::uint8_t(sign | 0x7F);
    if (std::isinf(v))
        return std::uint8_t(sign | 0x7C);
    const Fp8Table& t = e5m2Table();
    return std::uint8_t(sign | nearestCodeRef(t.value.data(), t.maxCode, std::fabs(v)));
}

int e2m1CodeRef(float a)
{
    return nearestCodeRef(kE2M1, 7, a);
}

float e2m1Value(int nibble)
{
    const float v = kE2M1[nibble & 7];
    return (nibble & 8) ? -v : v;
}

void encodeFp8E4M3Ref(const float* x, std::int64_t n, float scale, std::uint8_t* dst)
{
    for (std::int64_t i = 0; i < n; ++i)
        dst[i] = floatToFp8E4M3Ref(x[i] / scale);
}

void encodeFp8E5M2Ref(const float* x, std::int64_t n, float scale, std::uint8_t* dst)
{
    for (std::int64_t i = 0; i < n; ++i)
        dst[i] = floatToFp8E5M2Ref(x[i] / scale);
}

namespace {

// The codes of 16 values (already divided by the scale) in an FP8 format with M mantissa bits and
// exponent bias B, lane by lane equal to e4m3Fast / e5m2Fast: finite values beyond the largest
// (code kMax) saturate, Inf saturates too unless the format has it, NaN becomes 0x7F.
template <int M, int B, int kMax, bool kHasInf>
inline Ints16 fp8CodeLanes(Lanes16 v)
{
    constexpr int kShift = 23 - M;
    constexpr int kMinNormal = (128 - B) << 23;               // the bits of 2^(1 − B)
    constexpr int kMagic = (127 + 1 - B - M + 23) << 23;      // the bits of 2^23 subnormal steps
    Ints16 u;
    std::memcpy(&u, &v, sizeof u);
    const Ints16 a = u & 0x7FFFFFFF;
    // Normal range: the mantissa rounded to M bits (nearest even) and the rebias 127 → B in one add.
    Ints16 codeN = (a + ((1 << (kShift - 1)) - 1 - ((127 - B) << 23)) + ((a >> kShift) & 1)) >> kShift;
    codeN = codeN < kMax ? codeN : Ints16{} + kMax;
    // Subnormal range: adding 2^23 steps, whose ulp is one step, rounds |v| to the step (ties to
    // even); the low bits of the sum are the code.
    Lanes16 af;
    std::memcpy(&af, &a, sizeof af);
    const Lanes16 t = af + std::bit_cast<float>(kMagic);
    Ints16 codeS;
    std::memcpy(&codeS, &t, sizeof codeS);
    Ints16 code = a < kMinNormal ? codeS - kMagic : codeN;
    if constexpr (kHasInf)
        code = a == 0x7F800000 ? Ints16{} + 0x7C : code;
    code = a > 0x7F800000 ? Ints16{} + 0x7F : code;
    return code | ((u >> 24) & 0x80);
}

template <typename CodeLanes, typename CodeOne>
inline void encodeFp8Span(const float* x, std::int64_t n, float scale, std::uint8_t* dst, CodeLanes lanes, CodeOne one)
{
    std::int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        batch::prefetchAhead(x + i);
        batch::storeBytes(lanes(search::lanesOf(x + i) / scale), dst + i);
    }
    for (; i < n; ++i)
        dst[i] = one(x[i] / scale);
}

// The values of 16 FP8 codes from a format's 256-entry table: the magnitude (codes 0..127) by four
// two-register permutes with AVX-512 (masked forms of the intrinsics: GCC 12 warns of an
// uninitialised operand in the plain ones), the sign from bit 7. The negative half of each table is
// the positive half with the sign set, so every code decodes to its table entry (a NaN code to a
// NaN).
struct Fp8Lanes {
    const float* table;
#if defined(__AVX512F__)
    __m512 t[8];
#endif
    explicit Fp8Lanes(const float* decoded) : table(decoded)
    {
#if defined(__AVX512F__)
        for (int k = 0; k < 8; ++k)
            t[k] = _mm512_loadu_ps(decoded + 16 * k);
#endif
    }
    Lanes16 operator()(const std::uint8_t* codes) const
    {
        Lanes16 r;
#if defined(__AVX512F__)
        const __m512i c = _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes)));
        const __m512 a = _mm512_permutex2var_ps(t[0], c, t[1]), b = _mm512_permutex2var_ps(t[2], c, t[3]);
        const __m512 e = _mm512_permutex2var_ps(t[4], c, t[5]), f = _mm512_permutex2var_ps(t[6], c, t[7]);
        const __mmask16 bit5 = _mm512_test_epi32_mask(c, _mm512_set1_epi32(32));
        const __mmask16 bit6 = _mm512_test_epi32_mask(c, _mm512_set1_epi32(64));
        const __m512 m = _mm512_mask_blend_ps(bit6, _mm512_mask_blend_ps(bit5, a, b), _mm512_mask_blend_ps(bit5, e, f));
        const __m512i sign = _mm512_maskz_slli_epi32(0xFFFF, _mm512_and_si512(c, _mm512_set1_epi32(0x80)), 24);
        const __m512 v = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(m), sign));
        std::memcpy(&r, &v, sizeof r);
#else
        for (int k = 0; k < 16; ++k)
            r[k] = table[codes[k]];
#endif
        return r;
    }
};

void decodeFp8Span(const std::uint8_t* src, std::int64_t n, float scale, float* y, const float* table)
{
    const Fp8Lanes lanes(table);
    batch::writeFloats(
        y, n,
        [&](std::int64_t i) {
            batch::prefetchAhead(src + i);
            return lanes(src + i) * scale;
        },
        [&](std::int64_t i) { return scale * table[src[i]]; });
}

} // namespace

void encodeFp8E4M3(const float* x, std::int64_t n, float scale, std::uint8_t* dst)
{
    encodeFp8Span(
        x, n, scale, dst, [](Lanes16 v) { return fp8CodeLanes<3, 7, 0x7E, false>(v); },
        [](float v) { return e4m3Fast(v); });
}

void encodeFp8E5M2(const float* x, std::int64_t n, float scale, std::uint8_t* dst)
{
    encodeFp8Span(
        x, n, scale, dst, [](Lanes16 v) { return fp8CodeLanes<2, 15, 0x7B, true>(v); },
        [](float v) { return e5m2Fast(v); });
}

void decodeFp8E4M3(const std::uint8_t* src, std::int64_t n, float scale, float* y)
{
    decodeFp8Span(src, n, scale, y, e4m3Table().decoded.data());
}

void decodeFp8E5M2(const std::uint8_t* src, std::int64_t n, float scale, float* y)
{
    decodeFp8Span(src, n, scale, y, e5m2Table().decoded.data());
}

void encodeF16Ref(const float* x, std::int64_t n, std::uint16_t* dst)
{
    for (std::int64_t i = 0; i < n; ++i)
        dst[i] = floatToHalf(x[i]);
}

void encodeF16(const float* x, std::int64_t n, std::uint16_t* dst)
{
    std::int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        batch::prefetchAhead(x + i);
        const __m256i h =
            _mm512_maskz_cvtps_ph(0xFFFF, _mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
    }
#elif defined(QL_HAVE_F16C)
    for (; i + 8 <= n; i += 8) {
        batch::prefetchAhead(x + i);
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
    }
#endif
    for (; i < n; ++i)
        dst[i] = floatToHalf(x[i]);
}

void decodeF16(const std::uint16_t* src, std::int64_t n, float* y)
{
    batch::writeFloats(
        y, n,
        [&](std::int64_t i) {
            batch::prefetchAhead(src + i);
            Lanes16 r;
#if defined(__AVX512F__)
            const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
            const __m512 v = _mm512_maskz_cvtph_ps(0xFFFF, h);
            std::memcpy(&r, &v, sizeof r);
#elif defined(QL_HAVE_F16C)
            const __m256 lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
            const __m256 hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 8)));
            std::memcpy(&r, &lo, 32);
            std::memcpy(reinterpret_cast<char*>(&r) + 32, &hi, 32);
#else
            for (int k = 0; k < 16; ++k)
                r[k] = halfToFloat(src[i + k]);
#endif
            return r;
        },
        [&](std::int64_t i) { return halfToFloat(src[i]); });
}

void encodeBf16Ref(const float* x, std::int64_t n, std::uint16_t* dst)
{
    for (std::int64_t i = 0; i < n; ++i)
        dst[i] = floatToBf16(x[i]);
}

void encodeBf16(const float* x, std::int64_t n, std::uint16_t* dst)
{
    using U32x16 = std::uint32_t __attribute__((vector_size(64)));
    using U16x16 = std::uint16_t __attribute__((vector_size(32)));
    // Round to nearest even on the top 16 bits; a NaN keeps its sign and top payload, made quiet.
    auto lanes = [](U32x16 u) {
        const U32x16 rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
        return (u & 0x7FFFFFFFu) > 0x7F800000u ? (u >> 16) | 0x40u : rounded;
    };
    std::int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        batch::prefetchAhead(x + i);
        U32x16 u;
        std::memcpy(&u, x + i, sizeof u);
        const U16x16 h = __builtin_convertvector(lanes(u), U16x16);
        std::memcpy(dst + i, &h, sizeof h);
    }
    for (; i < n; ++i)
        dst[i] = floatToBf16(x[i]);
}

void decodeBf16(const std::uint16_t* src, std::int64_t n, float* y)
{
    using U16x16 = std::uint16_t __attribute__((vector_size(32)));
    using U32x16 = std::uint32_t __attribute__((vector_size(64)));
    batch::writeFloats(
        y, n,
        [&](std::int64_t i) {
            batch::prefetchAhead(src + i);
            U16x16 h;
            std::memcpy(&h, src + i, sizeof h);
            const U32x16 bits = __builtin_convertvector(h, U32x16) << 16;
            Lanes16 r;
            std::memcpy(&r, &bits, sizeof r);
            return r;
        },
        [&](std::int64_t i) { return std::bit_cast<float>(std::uint32_t(src[i]) << 16); });
}

// ---- NVFP4 ---------------------------------------------------------------------------------------

float nvfp4TensorScale(const float* x, std::int64_t n)
{
    float amax = 0.0f;
#pragma omp parallel for reduction(max : amax) schedule(static)
    for (std::int64_t c = 0; c < (n + 65535) / 65536; ++c) {
        const std::int64_t b = c * 65536;
        amax = std::max(amax, finiteAbsMax(x + b, std::min<std::int64_t>(65536, n - b)));
    }
    return amax > 0.0f ? amax / (448.0f * 6.0f) : 1.0f;
}

namespace {

// 16 NVFP4 blocks at once: their absmax values reduced together (lane_batch.h), the 16 scale
// codes converted as one vector, then each block's codes from one vector division, as the
// block-at-a-time path below.
void nvfp4Batch(const float* x, std::uint8_t* out, float g)
{
    Lanes16 part[16];
    for (int b = 0; b < 16; ++b)
        part[b] = batch::absLanes(search::lanesOf(x + 16 * b));
    const Ints16 code = e4m3FastLanes(batch::reduce16(part, batch::Max{}) / 6.0f / g);
    const Lanes16 s = e4m3ValueLanes(code) * g;
    for (int b = 0; b < 16; ++b) {
        std::uint8_t* blk = out + sizeof(BlockNvfp4) * b;
        blk[0] = std::uint8_t(code[b]);
        // Byte j holds codes 2j (low nibble) and 2j + 1: as 64-bit lanes, lane j holds the two
        // codes in its halves, so the packing is two shifts and one narrowing (no lane permutes).
        using U64x8 = std::uint64_t __attribute__((vector_size(64)));
        using U8x8 = std::uint8_t __attribute__((vector_size(8)));
        U64x8 w = {};
        if (s[b] > 0.0f) {
            const Ints16 nib = e2m1Nibbles(search::lanesOf(x + 16 * b) / s[b]);
            std::memcpy(&w, &nib, sizeof w);
        }
        const U8x8 bytes = __builtin_convertvector((w & 0xFu) | ((w >> 32) << 4), U8x8);
        std::memcpy(blk + 1, &bytes, kQKNvfp4 / 2);
    }
}

template <bool kFast>
void encodeNvfp4Impl(const float* x, std::int64_t n, float g, std::uint8_t* dst)
{
    if constexpr (kFast) {
        batch::forBatches<kQKNvfp4, sizeof(BlockNvfp4)>(x, n, dst,
                                                        [g](const float* xb, std::uint8_t* out) { nvfp4Batch(xb, out, g); });
        return;
    }
    const float* e4 = e4m3Table().decoded.data();
    for (std::int64_t b = 0; b < n / kQKNvfp4; ++b) {
        const float* xb = x + b * kQKNvfp4;
        const float amax = search::laneAbsMax<kQKNvfp4>(xb);
        BlockNvfp4 blk{};
        blk.scale = floatToFp8E4M3Ref(amax / 6.0f / g);
        const float s = e4[blk.scale] * g;
        if (s > 0.0f) {
            for (int j = 0; j < kQKNvfp4; ++j) {
                const float v = xb[j] / s;
                const int c = e2m1CodeRef(std::fabs(v));
                const int nib = c | (v < 0.0f && c != 0 ? 8 : 0);
                blk.qs[j / 2] |= std::uint8_t(nib << (4 * (j & 1)));
            }
        }
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

} // namespace

void encodeNvfp4(const float* x, std::int64_t n, float g, std::uint8_t* dst) { encodeNvfp4Impl<true>(x, n, g, dst); }
void encodeNvfp4Ref(const float* x, std::int64_t n, float g, std::uint8_t* dst) { encodeNvfp4Impl<false>(x, n, g, dst); }

void decodeNvfp4Ref(const std::uint8_t* src, std::int64_t nb, float g, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* p = src + b * sizeof(BlockNvfp4);
        const float s = fp8E4M3ToFloat(p[0]) * g;
        for (int j = 0; j < kQKNvfp4; ++j)
            y[b * kQKNvfp4 + j] = s * e2m1Value(j % 2 == 0 ? p[1 + j / 2] & 0xF : p[1 + j / 2] >> 4);
    }
}

void decodeNvfp4(const std::uint8_t* src, std::int64_t nb, float g, float* y)
{
    const float* e4 = e4m3Table().decoded.data();
    const Lanes16 levels = search::lanesOf(kFp4Levels);
    // Two blocks per step: their 16 code bytes expand to 32 nibbles, then one permute each.
    std::int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const std::uint8_t* p = src + b * sizeof(BlockNvfp4);
        std::uint8_t q[16];
        std::memcpy(q, p + 1, 8);
        std::memcpy(q + 8, p + 10, 8);
        Ints16 lo, hi;
        batch::nibbles(q, lo, hi);
        // Element 2j is the low nibble of byte j, 2j + 1 the high one.
        const Ints16 c0 = __builtin_shuffle(lo, hi, Ints16{0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23});
        const Ints16 c1 = __builtin_shuffle(lo, hi, Ints16{8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31});
        const Lanes16 y0 = batch::lookup16(levels, c0) * (e4[p[0]] * g);
        const Lanes16 y1 = batch::lookup16(levels, c1) * (e4[p[9]] * g);
        std::memcpy(y + b * kQKNvfp4, &y0, sizeof y0);
        std::memcpy(y + b * kQKNvfp4 + 16, &y1, sizeof y1);
    }
    for (; b < nb; ++b) {
        const std::uint8_t* p = src + b * sizeof(BlockNvfp4);
        const float s = e4[p[0]] * g;
        float* yb = y + b * kQKNvfp4;
        for (int j = 0; j < kQKNvfp4 / 2; ++j) {
            yb[2 * j] = s * kFp4Levels[p[1 + j] & 0xF];
            yb[2 * j + 1] = s * kFp4Levels[p[1 + j] >> 4];
        }
    }
}

namespace {

// ---- MXFP4 ---------------------------------------------------------------------------------------

// floor(log2 a) for a > 0: the exponent field of a normal a, frexp for a subnormal one.
inline int floorLog2(float a)
{
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(a);
    if ((bits >> 23) != 0)
        return int(bits >> 23) - 127;
    int ex;
    std::frexp(a, &ex);  // a = m · 2^ex, m ∈ [0.5, 1)
    return ex - 1;
}

// 16 MXFP4 blocks at once: absmax values reduced together, the 16 shared exponents and scales as
// vectors, then each block's codes (two vectors of 16) as the block-at-a-time reference. The
// exponent is floor(log2 amax) − 2 + 127 clamped to [0, 254], i.e. the exponent field of amax
// minus 2: a subnormal amax (field 0) and a zero block both get 0, as floorLog2 would give.
void mxfp4Batch(const float* x, std::uint8_t* out)
{
    Lanes16 part[16];
    for (int b = 0; b < 16; ++b)
        part[b] = batch::Max{}(batch::absLanes(search::lanesOf(x + 32 * b)),
                               batch::absLanes(search::lanesOf(x + 32 * b + 16)));
    const Lanes16 amax = batch::reduce16(part, batch::Max{});
    Ints16 e;
    std::memcpy(&e, &amax, sizeof e);
    e = (e >> 23) - 2;
    e = e < 0 ? Ints16{} : e;
    e = e > 254 ? Ints16{} + 254 : e;
    // 2^(127 − e): its exponent field when normal (e ≤ 253), the subnormal 2^−127 for e = 254.
    const Ints16 invBits = e <= 253 ? (254 - e) << 23 : Ints16{} + 0x00400000;
    Lanes16 inv;
    std::memcpy(&inv, &invBits, sizeof inv);
    for (int b = 0; b < 16; ++b) {
        std::uint8_t* blk = out + sizeof(BlockMxfp4) * b;
        const Ints16 lo = e2m1Nibbles(search::lanesOf(x + 32 * b) * inv[b]);
        const Ints16 hi = e2m1Nibbles(search::lanesOf(x + 32 * b + 16) * inv[b]);
        const Ints16 packed = lo | (hi << 4);
        blk[0] = std::uint8_t(e[b]);
        batch::storeBytes(packed, blk + 1);
    }
}

template <bool kFast>
void encodeMxfp4Impl(const float* x, const float*, std::int64_t n, std::uint8_t* dst)
{
    if constexpr (kFast) {
        batch::forBatches<kQKMxfp4, sizeof(BlockMxfp4)>(x, n, dst, mxfp4Batch);
        return;
    }
    for (std::int64_t b = 0; b < n / kQKMxfp4; ++b) {
        const float* xb = x + b * kQKMxfp4;
        const float amax = search::laneAbsMax<kQKMxfp4>(xb);
        BlockMxfp4 blk{};
        if (amax > 0.0f) {
            const int e = std::clamp(floorLog2(amax) - 2 + 127, 0, 254);
            blk.e = std::uint8_t(e);
            const float inv = pow2f(127 - e);
            std::uint8_t nib[kQKMxfp4];
            for (int j = 0; j < kQKMxfp4; ++j) {
                const float v = xb[j] * inv;
                const int c = e2m1CodeRef(std::fabs(v));
                nib[j] = std::uint8_t(c | (v < 0.0f && c != 0 ? 8 : 0));
            }
            for (int j = 0; j < 16; ++j)
                blk.qs[j] = std::uint8_t(nib[j] | (nib[j + 16] << 4));
        }
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

void encodeMxfp4(const float* x, const float* w, std::int64_t n, std::uint8_t* dst) { encodeMxfp4Impl<true>(x, w, n, dst); }
void encodeMxfp4Ref(const float* x, const float* w, std::int64_t n, std::uint8_t* dst) { encodeMxfp4Impl<false>(x, w, n, dst); }

void decodeMxfp4(const std::uint8_t* src, std::int64_t nb, float* y)
{
    const Lanes16 levels = search::lanesOf(kFp4Levels);
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* p = src + b * sizeof(BlockMxfp4);
        const float s = pow2f(int(p[0]) - 127);
        Ints16 lo, hi;
        batch::nibbles(p + 1, lo, hi);  // byte j holds elements j and j + 16
        const Lanes16 y0 = batch::lookup16(levels, lo) * s, y1 = batch::lookup16(levels, hi) * s;
        std::memcpy(y + b * 32, &y0, sizeof y0);
        std::memcpy(y + b * 32 + 16, &y1, sizeof y1);
    }
}

void decodeMxfp4Ref(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b)
        for (int j = 0; j < 32; ++j) {
            const std::uint8_t* p = src + b * sizeof(BlockMxfp4);
            const int nib = j < 16 ? (p[1 + j] & 0xF) : (p[1 + j - 16] >> 4);
            y[b * 32 + j] = std::ldexp(1.0f, int(p[0]) - 127) * e2m1Value(nib);
        }
}

void codesMxfp4(const std::uint8_t* block, std::int32_t* c)
{
    for (int j = 0; j < 16; ++j) {
        c[j] = block[1 + j] & 0xF;
        c[j + 16] = block[1 + j] >> 4;
    }
}

// ---- F16 / BF16 as 1-element blocks --------------------------------------------------------------

void encodeF16Row(const float* x, const float*, std::int64_t n, std::uint8_t* dst)
{
    encodeF16(x, n, reinterpret_cast<std::uint16_t*>(dst));
}
void encodeF16RowRef(const float* x, const float*, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t i = 0; i < n; ++i) {
        const std::uint16_t h = floatToHalf(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
    }
}
void decodeF16Row(const std::uint8_t* src, std::int64_t n, float* y)
{
    decodeF16(reinterpret_cast<const std::uint16_t*>(src), n, y);
}
void decodeF16RowRef(const std::uint8_t* src, std::int64_t n, float* y)
{
    for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        y[i] = halfToFloat(h);
    }
}
void encodeBf16Row(const float* x, const float*, std::int64_t n, std::uint8_t* dst)
{
    encodeBf16(x, n, reinterpret_cast<std::uint16_t*>(dst));
}
void encodeBf16RowRef(const float* x, const float*, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t i = 0; i < n; ++i) {
        const std::uint16_t h = floatToBf16(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
    }
}
void decodeBf16Row(const std::uint8_t* src, std::int64_t n, float* y)
{
    decodeBf16(reinterpret_cast<const std::uint16_t*>(src), n, y);
}
void decodeBf16RowRef(const std::uint8_t* src, std::int64_t n, float* y)
{
    for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        y[i] = bf16ToFloat(h);
    }
}
void codes16(const std::uint8_t* block, std::int32_t* c)
{
    std::uint16_t h;
    std::memcpy(&h, block, 2);
    c[0] = h;
}

const RowKernels kKernels[] = {
    {Format::F16, 1, 2, &encodeF16Row, &encodeF16RowRef, &decodeF16Row, &decodeF16RowRef, &codes16},
    {Format::BF16, 1, 2, &encodeBf16Row, &encodeBf16RowRef, &decodeBf16Row, &decodeBf16RowRef, &codes16},
    {Format::MXFP4, kQKMxfp4, sizeof(BlockMxfp4), &encodeMxfp4, &encodeMxfp4Ref, &decodeMxfp4, &decodeMxfp4Ref,
     &codesMxfp4},
};

template <Format F>
const RowKernels& kernelsOf()
{
    for (const auto& k : kKernels)
        if (k.format == F)
            return k;
    return kKernels[0];
}

// ---- traits rows -------------------------------------------------------------------------------

constexpr unsigned kAllGranularities = granularityBit(GranularityKind::Tensor) |
                                       granularityBit(GranularityKind::Channel) | granularityBit(GranularityKind::Group);

float mxScale(const std::uint8_t* block, float)
{
    return std::ldexp(1.0f, int(block[0]) - 127);
}

template <Format F>
Result<QuantResult> quantizeBlockFloat(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt,
                                       TaskContext& ctx)
{
    const RowKernels& k = kernelsOf<F>();
    BlockCodec c;
    c.blockSize = k.blockSize;
    c.blockBytes = k.blockBytes;
    c.encodeRow = [](const float* xr, const float* imp, std::int64_t n, std::uint8_t* dst, float) {
        kernelsOf<F>().encode(xr, imp, n, dst);
    };
    c.decodeRow = [](const std::uint8_t* src, std::int64_t nb, float* y, float) { kernelsOf<F>().decode(src, nb, y); };
    c.blockCodes = k.codes;
    if constexpr (F == Format::MXFP4) {
        c.blockScale = &mxScale;
        c.clip = {kQKMxfp4, 0, 15, kFp4Levels};
    }
    auto r = quantizeRows(x, spec, opt, ctx, c, formatTraits(F).name);
    if (r && (F == Format::F16 || F == Format::BF16) && r->metrics.sumErr2 == INFINITY) {
        std::int64_t overflow = 0;
        const std::int64_t n = x.numel();
        for (std::int64_t i = 0; i < n; ++i)
            if (std::fabs(x.data[i]) <= FLT_MAX && !(std::fabs(F == Format::F16 ? halfToFloat(floatToHalf(x.data[i]))
                                                                                 : bf16ToFloat(floatToBf16(x.data[i]))) <= FLT_MAX))
                ++overflow;
        if (overflow > 0)
            r->warnings.push_back(std::to_string(overflow) + " finite values overflow to ±Inf in " +
                                  std::string(formatTraits(F).name));
    }
    return r;
}

template <Format F>
void decodeBlockFloat(const std::uint8_t* src, std::int64_t nb, float* y)
{
    kernelsOf<F>().decode(src, nb, y);
}

template <Format F>
Result<void> validateBlockFloat(const QuantSpec&, const Shape& shape)
{
    return validateRows(shape, kernelsOf<F>().blockSize, formatTraits(F).name);
}

Result<QuantResult> quantizeNvfp4(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt, TaskContext& ctx)
{
    BlockCodec c;
    c.blockSize = kQKNvfp4;
    c.blockBytes = sizeof(BlockNvfp4);
    c.encodeRow = [](const float* xr, const float*, std::int64_t n, std::uint8_t* dst, float g) {
        encodeNvfp4(xr, n, g, dst);
    };
    c.decodeRow = [](const std::uint8_t* src, std::int64_t nb, float* y, float g) { decodeNvfp4(src, nb, g, y); };
    c.blockCodes = [](const std::uint8_t* block, std::int32_t* codes) {
        for (int j = 0; j < kQKNvfp4; ++j)
            codes[j] = (block[1 + j / 2] >> (4 * (j & 1))) & 0xF;
    };
    c.blockScale = [](const std::uint8_t* block, float g) { return fp8E4M3ToFloat(block[0]) * g; };
    c.tensorScaleOf = &nvfp4TensorScale;
    c.clip = {kQKNvfp4, 0, 15, kFp4Levels};
    return quantizeRows(x, spec, opt, ctx, c, "nvfp4");
}

Result<void> validateNvfp4(const QuantSpec&, const Shape& shape)
{
    return validateRows(shape, kQKNvfp4, "nvfp4");
}

double nvfp4Bits(const QuantSpec&, const Shape& shape)
{
    const std::int64_t n = numel(shape);
    return 4.0 + 8.0 / 16.0 + (n > 0 ? 32.0 / double(n) : 0.0);
}

// ---- FP8 with a per-segment scale ---------------------------------------------------------------

template <bool kE4M3>
double fp8ClipError(const float* x, std::int64_t n, float t, const void*)
{
    const float maxV = kE4M3 ? 448.0f : 57344.0f;
    const float s = t / maxV;
    const float* table = kE4M3 ? e4m3Table().decoded.data() : e5m2Table().decoded.data();
    double e = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
        if (!(std::fabs(x[i]) <= FLT_MAX))
            continue;
        const std::uint8_t q = kE4M3 ? e4m3Fast(x[i] / s) : e5m2Fast(x[i] / s);
        const double d = double(x[i]) - double(s * table[q]);
        e += d * d;
    }
    return e;
}

template <bool kE4M3>
void fp8Fit(const float* x, std::int64_t n, const QuantSpec& spec, SegmentFit& fit, bool)
{
    const float t = chooseSymmetricThreshold(x, n, spec.range, 8, &fp8ClipError<kE4M3>, nullptr);
    fit.range = ClipRange{-t, t};
    fit.scale = t > 0.0f ? t / (kE4M3 ? 448.0f : 57344.0f) : 1.0f;
}

template <bool kE4M3>
void fp8Encode(const float* x, std::int64_t n, const QuantSpec&, const SegmentFit& fit, std::int32_t* codes, float* xhat)
{
    const float s = fit.scale;
    const float* table = kE4M3 ? e4m3Table().decoded.data() : e5m2Table().decoded.data();
    for (std::int64_t b = 0; b < n; b += 4096) {
        const std::int64_t len = std::min<std::int64_t>(4096, n - b);
        std::uint8_t q[4096];
        if constexpr (kE4M3)
            encodeFp8E4M3(x + b, len, s, q);
        else
            encodeFp8E5M2(x + b, len, s, q);
        for (std::int64_t i = 0; i < len; ++i) {
            const float v = x[b + i];
            const bool fin = std::fabs(v) <= FLT_MAX;
            xhat[b + i] = fin ? s * table[q[i]] : v;
            if (codes)
                codes[b + i] = fin ? q[i] : 0;
        }
    }
}

template <bool kE4M3>
Result<QuantResult> quantizeFp8(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt, TaskContext& ctx)
{
    ElementCodec c;
    c.fit = &fp8Fit<kE4M3>;
    c.encode = &fp8Encode<kE4M3>;
    return quantizeSegments(x, spec, opt, ctx, c);
}

double fp8Bits(const QuantSpec& spec, const Shape& shape)
{
    auto L = makeLayout(shape, spec.granularity);
    const double segN = L && L->segmentSize > 0 ? double(L->segmentSize) : 1.0;
    return 8.0 + scaleStorageBits(spec.scaleStorage) / segN;
}

template <bool kE4M3>
std::vector<double> fp8Levels(const QuantResult& r, std::int64_t segment)
{
    std::vector<double> out;
    if (segment < 0 || segment >= std::int64_t(r.scales.size()))
        return out;
    const float s = r.scales[segment];
    const Fp8Table& t = kE4M3 ? e4m3Table() : e5m2Table();
    for (int c = t.maxCode; c >= 1; --c)
        out.push_back(-double(s) * t.value[c]);
    for (int c = 0; c <= t.maxCode; ++c)
        out.push_back(double(s) * t.value[c]);
    return out;
}

std::vector<double> f16Levels(const QuantResult&, std::int64_t)
{
    return {};  // 63,488 finite values: too many to draw as lines
}

double bits16(const QuantSpec&, const Shape&)
{
    return 16.0;
}

} // namespace

std::span<const RowKernels> floatBlockKernels()
{
    return kKernels;
}

void appendFloatFormats(std::vector<FormatTraits>& table)
{
    table.push_back(FormatTraits{Format::F16, "f16", "FP16", FormatFamily::Float, 16, 16, 16, 0, kAllGranularities, 1, 2,
                                 ggml_type::kF16, "IEEE half precision, round to nearest even, overflow to ±Inf", "16",
                                 &validateBlockFloat<Format::F16>, &bits16, &quantizeBlockFloat<Format::F16>, &f16Levels,
                                 &decodeBlockFloat<Format::F16>});
    table.push_back(FormatTraits{Format::BF16, "bf16", "BF16", FormatFamily::Float, 16, 16, 16, 0, kAllGranularities, 1,
                                 2, ggml_type::kBF16, "bfloat16, round to nearest even, overflow to ±Inf", "16",
                                 &validateBlockFloat<Format::BF16>, &bits16, &quantizeBlockFloat<Format::BF16>,
                                 &f16Levels, &decodeBlockFloat<Format::BF16>});
    const unsigned fp8Params = kParamGranularity | kParamGroupSize | kParamRange | kParamScaleStorage;
    table.push_back(FormatTraits{Format::F8E4M3, "fp8_e4m3", "FP8 E4M3", FormatFamily::Float, 8, 8, 8, fp8Params,
                                 kAllGranularities, 0, 0, -1,
                                 "FP8 E4M3 (max 448, saturating) with a scale per tensor, channel or group",
                                 "8 + scale bits / segment size", nullptr, &fp8Bits, &quantizeFp8<true>,
                                 &fp8Levels<true>, nullptr});
    table.push_back(FormatTraits{Format::F8E5M2, "fp8_e5m2", "FP8 E5M2", FormatFamily::Float, 8, 8, 8, fp8Params,
                                 kAllGranularities, 0, 0, -1,
                                 "FP8 E5M2 (max 57344, IEEE-like) with a scale per tensor, channel or group",
                                 "8 + scale bits / segment size", nullptr, &fp8Bits, &quantizeFp8<false>,
                                 &fp8Levels<false>, nullptr});
    table.push_back(FormatTraits{Format::MXFP4, "mxfp4", "MXFP4", FormatFamily::Float, 4, 4, 4, 0, kAllGranularities,
                                 kQKMxfp4, sizeof(BlockMxfp4), ggml_type::kMXFP4,
                                 "OCP MXFP4: FP4 E2M1 in blocks of 32 along rows with an E8M0 power-of-two scale",
                                 "4 + 8/32 = 4.25", &validateBlockFloat<Format::MXFP4>, &blockBitsPerWeight,
                                 &quantizeBlockFloat<Format::MXFP4>, &blockLevels, &decodeBlockFloat<Format::MXFP4>});
    table.push_back(FormatTraits{Format::NVFP4, "nvfp4", "NVFP4", FormatFamily::Float, 4, 4, 4, 0, kAllGranularities,
                                 kQKNvfp4, sizeof(BlockNvfp4), -1,
                                 "NVFP4: FP4 E2M1 in blocks of 16 along rows, FP8 E4M3 block scale, fp32 tensor scale",
                                 "4 + 8/16 + 32/numel", &validateNvfp4, &nvfp4Bits, &quantizeNvfp4, &blockLevels,
                                 nullptr});
}

} // namespace ql
