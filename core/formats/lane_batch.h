#pragma once
// Sixteen blocks at a time (internal to core/formats).
//
// A round-to-nearest block encoder needs a few horizontal reductions per block of 32 (its range,
// then the least-squares sums of the refit). Done one block at a time, each is a chain of four
// dependent shuffle-and-add steps, and that latency, not memory, bounds the encoder. Here each
// block keeps its partial sums in one 16-lane vector, and the partial vectors of 16 blocks are
// reduced together: four levels of two-input shuffles leave block b's total in lane b. The tree
// is the one laneSum (block_search.h) uses, so a batched encoder and a block-at-a-time reference
// produce the same bits.
//
// Also here: the small lane operations those encoders share (fp16 conversion of 16 scales, byte
// and nibble moves, masks, min and fused multiply-add). Where GCC's vector extensions compile
// them poorly (a comparison turned into a blend, a byte shuffle into per-byte code) they use
// AVX-512 or F16C intrinsics when the build has them, with a plain fallback of the same result.

#include "core/base/dtype.h"
#include "core/formats/block_search.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif

namespace ql::batch {

using search::Ints16;
using search::Lanes16;
using search::lanesOf;

inline constexpr int kBlocks = 16;  // blocks per batch: one lane each in the reduced sums

/// v in every lane (keeping the sign of zero, which `Lanes16{} + v` would lose).
inline Lanes16 splat(float v)
{
    return Lanes16{v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v};
}

struct Add {
    Lanes16 operator()(Lanes16 a, Lanes16 b) const { return a + b; }
};
struct Max {
    Lanes16 operator()(Lanes16 a, Lanes16 b) const { return a > b ? a : b; }
};
struct Min {
    Lanes16 operator()(Lanes16 a, Lanes16 b) const { return a < b ? a : b; }
};

/// Largest / smallest lane (exact: the order does not matter).
inline float hmax(Lanes16 v)
{
    float m = v[0];
    for (int i = 1; i < 16; ++i)
        m = v[i] > m ? v[i] : m;
    return m;
}
inline float hmin(Lanes16 v)
{
    float m = v[0];
    for (int i = 1; i < 16; ++i)
        m = v[i] < m ? v[i] : m;
    return m;
}

/// The first lane equal to t (16 if none).
inline int firstEqual(Lanes16 v, float t)
{
#if defined(__AVX512F__)
    __m512 r;
    std::memcpy(&r, &v, sizeof r);
    const unsigned m = _mm512_cmp_ps_mask(r, _mm512_set1_ps(t), _CMP_EQ_OQ);
    return m ? __builtin_ctz(m) : 16;
#else
    for (int i = 0; i < 16; ++i)
        if (v[i] == t)
            return i;
    return 16;
#endif
}

/// True when every lane of a comparison result is true.
inline bool allTrue(Ints16 m)
{
    Ints16 t = m;
    for (int i = 1; i < 16; ++i)
        t[0] &= m[i];
    return t[0] != 0;
}

/// a·b + c lane by lane with one rounding (std::fma's result, whatever the instruction set).
inline Lanes16 fma(Lanes16 a, Lanes16 b, Lanes16 c)
{
#if defined(__AVX512F__)
    __m512 x, y, z;
    std::memcpy(&x, &a, 64);
    std::memcpy(&y, &b, 64);
    std::memcpy(&z, &c, 64);
    const __m512 r = _mm512_fmadd_ps(x, y, z);
    std::memcpy(&c, &r, 64);
#else
    for (int i = 0; i < 16; ++i)
        c[i] = std::fma(a[i], b[i], c[i]);
#endif
    return c;
}

/// min(v, t) lane by lane for non-NaN lanes (one instruction with AVX-512).
inline Lanes16 minLanes(Lanes16 v, float t)
{
    return search::minLanes(v, splat(t));
}

/// c + 1 in the lanes where a ≥ b.
inline Ints16 incrementWhereAtLeast(Ints16 c, Lanes16 a, Lanes16 b)
{
#if defined(__AVX512F__)
    __m512 x, y;
    __m512i z;
    std::memcpy(&x, &a, 64);
    std::memcpy(&y, &b, 64);
    std::memcpy(&z, &c, 64);
    z = _mm512_mask_add_epi32(z, _mm512_cmp_ps_mask(x, y, _CMP_GE_OQ), z, _mm512_set1_epi32(1));
    std::memcpy(&c, &z, 64);
    return c;
#else
    return c - (a >= b);
#endif
}

/// r[b] = the reduction of the 16 lanes of v[b] by `op`, b = 0..15 (float or int lanes). Level k
/// combines lane i with lane i + 8 / 4 / 2 / 1 of the same block, exactly as laneSum's halving
/// does for lane 0.
template <typename V, typename Op>
inline V reduce16(const V* v, Op op)
{
    constexpr Ints16 lo8 = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
    constexpr Ints16 hi8 = {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
    constexpr Ints16 lo4 = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
    constexpr Ints16 hi4 = {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31};
    constexpr Ints16 lo2 = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29};
    constexpr Ints16 hi2 = {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31};
    constexpr Ints16 lo1 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    constexpr Ints16 hi1 = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
    V u[8], w[4], z[2];
    for (int k = 0; k < 8; ++k)  // lanes 0-7: block 2k, 8-15: block 2k + 1
        u[k] = op(__builtin_shuffle(v[2 * k], v[2 * k + 1], lo8), __builtin_shuffle(v[2 * k], v[2 * k + 1], hi8));
    for (int k = 0; k < 4; ++k)  // four lanes per block
        w[k] = op(__builtin_shuffle(u[2 * k], u[2 * k + 1], lo4), __builtin_shuffle(u[2 * k], u[2 * k + 1], hi4));
    for (int k = 0; k < 2; ++k)  // two lanes per block
        z[k] = op(__builtin_shuffle(w[2 * k], w[2 * k + 1], lo2), __builtin_shuffle(w[2 * k], w[2 * k + 1], hi2));
    return op(__builtin_shuffle(z[0], z[1], lo1), __builtin_shuffle(z[0], z[1], hi1));
}

/// The 16 lanes as fp16 bits, rounded to nearest even (F16C / AVX-512 when the build has them;
/// the scalar conversion gives the same bits).
inline void toF16(Lanes16 v, std::uint16_t* h)
{
#if defined(__AVX512F__)
    __m512 r;
    std::memcpy(&r, &v, sizeof r);
    const __m256i p = _mm512_maskz_cvtps_ph(0xFFFF, r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    std::memcpy(h, &p, 32);
#elif defined(__F16C__) && defined(__AVX__)
    float f[16];
    std::memcpy(f, &v, sizeof f);
    const __m128i a = _mm256_cvtps_ph(_mm256_loadu_ps(f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m128i b = _mm256_cvtps_ph(_mm256_loadu_ps(f + 8), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    std::memcpy(h, &a, 16);
    std::memcpy(h + 8, &b, 16);
#else
    for (int i = 0; i < 16; ++i)
        h[i] = floatToHalf(v[i]);
#endif
}

/// v rounded to the nearest fp16 value (ties to even) and back to float.
inline float roundToF16(float v)
{
#if defined(__F16C__)
    return _cvtsh_ss(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#else
    return halfToFloat(floatToHalf(v));
#endif
}

/// The 16 lanes rounded to fp16 and back (the same as roundToF16 lane by lane).
inline Lanes16 roundToF16(Lanes16 v)
{
#if defined(__AVX512F__)
    __m512 r;
    std::memcpy(&r, &v, sizeof r);
    // The masked forms: GCC 12 warns of an uninitialised operand in the plain ones.
    r = _mm512_maskz_cvtph_ps(0xFFFF, _mm512_maskz_cvtps_ph(0xFFFF, r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    std::memcpy(&v, &r, sizeof r);
#else
    for (int i = 0; i < 16; ++i)
        v[i] = roundToF16(v[i]);
#endif
    return v;
}

/// The low byte of each of the 16 lanes → 16 bytes (codes that fit a byte, signed or not).
inline void storeBytes(Ints16 v, std::uint8_t* dst)
{
    using Bytes16 = std::uint8_t __attribute__((vector_size(16)));
    const Bytes16 b = __builtin_convertvector(v, Bytes16);
    std::memcpy(dst, &b, 16);
}

/// Integer-valued float lanes → int32 lanes.
inline Ints16 toInts(Lanes16 v)
{
    return __builtin_convertvector(v, Ints16);
}

/// |v| by clearing the sign bit (−0 becomes +0, as std::fabs).
inline Lanes16 absLanes(Lanes16 v)
{
    Ints16 i;
    std::memcpy(&i, &v, sizeof i);
    i &= 0x7FFFFFFF;
    std::memcpy(&v, &i, sizeof v);
    return v;
}

inline Lanes16 clampLanes(Lanes16 v, float lo, float hi)
{
    v = v < lo ? Lanes16{} + lo : v;
    return v > hi ? Lanes16{} + hi : v;
}

/// 16 bytes → 16 int lanes (zero-extended). One instruction with AVX-512: in some contexts GCC 12
/// turns the generic conversion into per-byte scalar code.
inline Ints16 loadBytes(const std::uint8_t* src)
{
#if defined(__AVX512F__)
    // The masked form: GCC 12 warns of an uninitialised operand in the plain one.
    const __m512i v = _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
    Ints16 r;
    std::memcpy(&r, &v, 64);
    return r;
#else
    using Bytes16 = std::uint8_t __attribute__((vector_size(16)));
    Bytes16 b;
    std::memcpy(&b, src, 16);
    return __builtin_convertvector(b, Ints16);
#endif
}

/// 16 bytes → their low and high nibbles as int lanes (nibble codes of the 4-bit formats).
inline void nibbles(const std::uint8_t* src, Ints16& lo, Ints16& hi)
{
    const Ints16 v = loadBytes(src);
    lo = v & 15;
    hi = v >> 4;
}

/// table[idx] lane by lane (idx in 0..15): one register permute.
inline Lanes16 lookup16(Lanes16 table, Ints16 idx)
{
    return __builtin_shuffle(table, idx);
}

/// Bit i set where lane i of v is ≥ t.
inline std::uint32_t maskAtLeast(Lanes16 v, float t)
{
#if defined(__AVX512F__)
    __m512 r;
    std::memcpy(&r, &v, sizeof r);
    return _mm512_cmp_ps_mask(r, _mm512_set1_ps(t), _CMP_GE_OQ);
#else
    std::uint32_t m = 0;
    for (int i = 0; i < 16; ++i)
        m |= std::uint32_t(v[i] >= t) << i;
    return m;
#endif
}

// ---- streaming ------------------------------------------------------------------------------
// A conversion touches each byte once, and on the machines measured (shared 2-vCPU VMs) two
// things decide whether it runs at memory speed: the input must be fetched ahead of use (their
// hardware prefetch trails a tight loop: FP8 encode on 2 threads, 11 GB/s without software
// prefetch, 21 GB/s with it), and a large float output must bypass the cache (an ordinary store
// first reads the line it overwrites: F16 decode 12 GB/s, 35 GB/s with streaming stores).

/// Input read this far ahead of the element being converted.
inline constexpr std::uintptr_t kPrefetchBytes = 2048;

/// Requests the cache lines of `bytes` bytes starting `offset` bytes past p (an address that may lie
/// past the end of the buffer: a prefetch never faults).
inline void prefetchLines(const void* p, std::uintptr_t offset, std::uintptr_t bytes = 64)
{
    const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(p) + offset;
    for (std::uintptr_t k = 0; k < bytes; k += 64)
        __builtin_prefetch(reinterpret_cast<const void*>(a + k));
}

inline void prefetchAhead(const void* p)
{
    prefetchLines(p, kPrefetchBytes);
}

/// Float outputs of at least this many elements go out by streaming stores; a smaller one is
/// likely read again while it is still in the cache those stores bypass.
inline constexpr std::int64_t kStreamMinFloats = std::int64_t(1) << 16;

/// y[i] for i in [0, n): 16 at a time from `lanes(i)`, the rest from `one(i)`; by streaming stores
/// (after a head that aligns them) when n ≥ kStreamMinFloats and the build has AVX-512.
template <typename LanesFn, typename OneFn>
inline void writeFloats(float* y, std::int64_t n, LanesFn&& lanes, OneFn&& one)
{
    std::int64_t i = 0;
#if defined(__AVX512F__)
    if (n >= kStreamMinFloats && (reinterpret_cast<std::uintptr_t>(y) & 3) == 0) {
        const auto misalign = reinterpret_cast<std::uintptr_t>(y) & 63;
        const auto head = std::int64_t(misalign == 0 ? 0 : (64 - misalign) / 4);
        for (; i < head; ++i)
            y[i] = one(i);
        for (; i + 16 <= n; i += 16) {
            const Lanes16 v = lanes(i);
            __m512 r;
            std::memcpy(&r, &v, 64);
            _mm512_stream_ps(y + i, r);
        }
        _mm_sfence();  // the streamed lines are visible to other threads before the caller goes on
    }
#endif
    for (; i + 16 <= n; i += 16) {
        const Lanes16 v = lanes(i);
        std::memcpy(y + i, &v, 64);
    }
    for (; i < n; ++i)
        y[i] = one(i);
}

/// Runs `kernel(x, dst)` over the blocks of one row 16 blocks at a time; a last partial batch is
/// padded with zero blocks in a local buffer and only its real blocks are copied out.
template <int BlockSize, int BlockBytes, typename Kernel>
inline void forBatches(const float* x, std::int64_t n, std::uint8_t* dst, Kernel&& kernel)
{
    const std::int64_t nb = n / BlockSize;
    std::int64_t b = 0;
    for (; b + kBlocks <= nb; b += kBlocks)
        kernel(x + b * BlockSize, dst + b * BlockBytes);
    if (b < nb) {
        alignas(64) float pad[kBlocks * BlockSize] = {};
        std::uint8_t out[kBlocks * BlockBytes];
        std::memcpy(pad, x + b * BlockSize, std::size_t(nb - b) * BlockSize * sizeof(float));
        kernel(pad, out);
        std::memcpy(dst + b * BlockBytes, out, std::size_t(nb - b) * BlockBytes);
    }
}

} // namespace ql::batch
