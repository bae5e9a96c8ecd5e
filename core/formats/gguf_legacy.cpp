// GGUF block formats with one scale per 32 elements: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and IQ4_NL.
//
// Without importance weights Q8_0..Q5_1 round to nearest, as ggml's reference quantizers, and then
// refit the scale (and minimum) by least squares for those codes:
//  Q8_0: d = amax / 127, q = round(x / d);
//  Q4_0 / Q5_0: d = max / −8 (−16) where max is the value of largest magnitude (the positive one
//        when +a and −a tie), q = clamp(round(x / d) + 8 (16), 0, 15 (31));
//  Q4_1 / Q5_1: d = (max − min) / 15 (31), m = min, q = clamp(round((x − min) / d), 0, 15 (31)).
// Rounding is half to even. With importance weights w (one per row element) the scale is searched
// (block_search.h) to minimise Σ w'·(x − x̂)² with w' = w · sqrt(σ² + x²), σ² = mean x² of the row:
// the symmetric search for Q4_0/Q5_0, the affine one for Q4_1/Q5_1; Q8_0 ignores importance.
// IQ4_NL follows ggml's search: 16 candidate scales, weights x² (or w · sqrt(σ² + x²) with
// σ² = 2 · mean x² of the block), the best least-squares scale, then nearest table entries.
// Input that already lies on a block's grid (decoded blocks) is kept as it is by the searched
// encoders (IQ4_NL, and Q4_0..Q5_1 with importance), so re-encoding decoded blocks gives the same
// bytes; the round-to-nearest ones are fixed points by construction.

#include "core/formats/block_search.h"
#include "core/formats/format_driver.h"
#include "core/formats/gguf_formats.h"
#include "core/formats/lane_batch.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ql {

namespace {

using search::clampf;

// max = the value of largest magnitude, the positive one on a tie between +a and −a.
inline float signedAbsMaxRef(const float* x, int n)
{
    float mx = x[0], mn = x[0];
    for (int i = 1; i < n; ++i) {
        mx = std::max(mx, x[i]);
        mn = std::min(mn, x[i]);
    }
    return mx >= -mn ? mx : mn;
}

template <int N>
inline float signedAbsMax(const float* x)
{
    float mx = x[0], mn = x[0];
#pragma omp simd reduction(max : mx) reduction(min : mn)
    for (int i = 0; i < N; ++i) {
        mx = std::max(mx, x[i]);
        mn = std::min(mn, x[i]);
    }
    return mx >= -mn ? mx : mn;
}

// Weights w' = w · sqrt(σ² + x²) of the importance-weighted searches, σ² = mean x² of the row.
inline void importanceWeights(const float* x, const float* imp, int n, float sigma2, float* w)
{
    for (int i = 0; i < n; ++i)
        w[i] = imp[i] * std::sqrt(sigma2 + x[i] * x[i]);
}

inline float rowSigma2(const float* x, std::int64_t n)
{
    double s = 0.0;
    for (std::int64_t i = 0; i < n; ++i)
        s += double(x[i]) * x[i];
    return float(s / double(n));
}

// Packs 32 codes (0..15) as ggml: qs[j] = c[j] | c[j + 16] << 4.
inline void packNibbles32(const std::uint8_t* L, std::uint8_t* qs)
{
    for (int j = 0; j < 16; ++j)
        qs[j] = std::uint8_t(L[j] | (L[j + 16] << 4));
}


using search::Ints16;
using search::Lanes16;
using search::laneSum;
using search::lanesOf;

// Least-squares refit of the scale (and minimum) for fixed round-to-nearest codes: the codes stay,
// the stored scale becomes the one that minimises the squared error for them. The sums are 16-lane
// vector reductions (a sequential sum over a block is a 32-step dependency chain) with the codes
// as floats, which the encoders have before narrowing: GCC 12 turns a vector conversion from 8-bit
// integers into per-lane scalar code. The fast encoders reduce 16 blocks at once (lane_batch.h) in
// the same tree as laneSum, the block-at-a-time references use the functions below; both build
// their per-block partials with the same inline expressions and finish in the same compiled
// function, so their bytes are identical.
using batch::splat;

inline Lanes16 partDot(Lanes16 a0, Lanes16 b0, Lanes16 a1, Lanes16 b1)
{
    return a0 * b0 + a1 * b1;
}
inline Lanes16 partSum(Lanes16 a0, Lanes16 a1)
{
    return a0 + a1;
}

// Scale Σxl / Σl² lane-wise, `fallback` where Σl² = 0.
inline Lanes16 finishScale(Lanes16 sxl, Lanes16 sl2, Lanes16 fallback)
{
    return sl2 > 0.0f ? sxl / sl2 : fallback;
}

// Affine least squares over 32 values, lane-wise: d and m solve the 2×2 normal equations where
// their determinant is positive and keep the round-to-nearest fit elsewhere.
[[gnu::noinline]] void finishAffine(const Lanes16& sq, const Lanes16& sq2, const Lanes16& sx, const Lanes16& sxq,
                                    Lanes16& d, Lanes16& m)
{
    const Lanes16 det = 32.0f * sq2 - sq * sq;
    const Lanes16 dn = (32.0f * sxq - sx * sq) / det, mn = (sq2 * sx - sq * sxq) / det;
    d = det > 0.0f ? dn : d;
    m = det > 0.0f ? mn : m;
}

float refitScale(const float* x, const float* l, float d)
{
    const Lanes16 x0 = lanesOf(x), x1 = lanesOf(x + 16), l0 = lanesOf(l), l1 = lanesOf(l + 16);
    const float sxl = laneSum(partDot(x0, l0, x1, l1)), sl2 = laneSum(partDot(l0, l0, l1, l1));
    return finishScale(splat(sxl), splat(sl2), splat(d))[0];
}

void refitAffine(const float* x, const float* q, float& d, float& m)
{
    const Lanes16 x0 = lanesOf(x), x1 = lanesOf(x + 16), q0 = lanesOf(q), q1 = lanesOf(q + 16);
    Lanes16 dv = splat(d), mv = splat(m);
    finishAffine(splat(laneSum(partSum(q0, q1))), splat(laneSum(partDot(q0, q0, q1, q1))),
                 splat(laneSum(partSum(x0, x1))), splat(laneSum(partDot(x0, q0, x1, q1))), dv, mv);
    d = dv[0];
    m = mv[0];
}

using batch::absLanes;
using batch::clampLanes;
using batch::reduce16;
using batch::toInts;
using search::roundMagic;

// The fast round-to-nearest encoders, 16 blocks per call: a range pass (per-block partial
// extremes, reduced together), then codes and refit sums, then the 16 scales as one fp16
// conversion. Rounding is by the magic number (half to even, |v| ≤ 32 here), as rint.

inline Lanes16 laneMax(Lanes16 a, Lanes16 b)
{
    return a > b ? a : b;
}
inline Lanes16 laneMin(Lanes16 a, Lanes16 b)
{
    return a < b ? a : b;
}

void q8_0Batch(const float* x, std::uint8_t* out)
{
    Lanes16 part[16], sxl[16], sl2[16];
    for (int b = 0; b < 16; ++b)
        part[b] = laneMax(absLanes(lanesOf(x + 32 * b)), absLanes(lanesOf(x + 32 * b + 16)));
    const Lanes16 d = reduce16(part, batch::Max{}) / 127.0f;
    const Lanes16 id = d != 0.0f ? 1.0f / d : Lanes16{};
    for (int b = 0; b < 16; ++b) {
        const Lanes16 x0 = lanesOf(x + 32 * b), x1 = lanesOf(x + 32 * b + 16);
        const Lanes16 q0 = roundMagic(x0 * id[b]), q1 = roundMagic(x1 * id[b]);
        batch::storeBytes(toInts(q0), out + 34 * b + 2);
        batch::storeBytes(toInts(q1), out + 34 * b + 18);
        sxl[b] = partDot(x0, q0, x1, q1);
        sl2[b] = partDot(q0, q0, q1, q1);
    }
    std::uint16_t h[16];
    batch::toF16(finishScale(reduce16(sxl, batch::Add{}), reduce16(sl2, batch::Add{}), d), h);
    for (int b = 0; b < 16; ++b)
        std::memcpy(out + 34 * b, h + b, 2);
}

// Q4_0 (NMAX 8) and Q5_0 (NMAX 16): d = max / −NMAX, codes c = clamp(round(x / d) + NMAX).
template <int NMAX>
void symBatch(const float* x, std::uint8_t* out)
{
    constexpr int kBytes = NMAX == 8 ? 18 : 22;
    Lanes16 hi[16], lo[16], sxl[16], sl2[16];
    for (int b = 0; b < 16; ++b) {
        const Lanes16 x0 = lanesOf(x + 32 * b), x1 = lanesOf(x + 32 * b + 16);
        hi[b] = laneMax(x0, x1);
        lo[b] = laneMin(x0, x1);
    }
    const Lanes16 mx = reduce16(hi, batch::Max{}), mn = reduce16(lo, batch::Min{});
    const Lanes16 d = (mx >= -mn ? mx : mn) / float(-NMAX);
    const Lanes16 id = d != 0.0f ? 1.0f / d : Lanes16{};
    for (int b = 0; b < 16; ++b) {
        const Lanes16 x0 = lanesOf(x + 32 * b), x1 = lanesOf(x + 32 * b + 16);
        const Lanes16 c0 = clampLanes(roundMagic(x0 * id[b]) + float(NMAX), 0.0f, float(2 * NMAX - 1));
        const Lanes16 c1 = clampLanes(roundMagic(x1 * id[b]) + float(NMAX), 0.0f, float(2 * NMAX - 1));
        const Lanes16 l0 = c0 - float(NMAX), l1 = c1 - float(NMAX);
        sxl[b] = partDot(x0, l0, x1, l1);
        sl2[b] = partDot(l0, l0, l1, l1);
        const Ints16 i0 = toInts(c0), i1 = toInts(c1);
        std::uint8_t* blk = out + kBytes * b;
        if constexpr (NMAX == 8) {
            batch::storeBytes(i0 | (i1 << 4), blk + 2);
        } else {
            const std::uint32_t qh = batch::maskAtLeast(c0, 16.0f) | batch::maskAtLeast(c1, 16.0f) << 16;
            std::memcpy(blk + 2, &qh, 4);
            batch::storeBytes((i0 & 15) | ((i1 & 15) << 4), blk + 6);
        }
    }
    std::uint16_t h[16];
    batch::toF16(finishScale(reduce16(sxl, batch::Add{}), reduce16(sl2, batch::Add{}), d), h);
    for (int b = 0; b < 16; ++b)
        std::memcpy(out + kBytes * b, h + b, 2);
}

// Q4_1 (NMAX 15) and Q5_1 (NMAX 31): d = (max − min) / NMAX, m = min, c = clamp(round((x − m) / d)).
template <int NMAX>
void affineBatch(const float* x, std::uint8_t* out)
{
    constexpr int kBytes = NMAX == 15 ? 20 : 24;
    Lanes16 hi[16], lo[16], sq[16], sq2[16], sx[16], sxq[16];
    for (int b = 0; b < 16; ++b) {
        const Lanes16 x0 = lanesOf(x + 32 * b), x1 = lanesOf(x + 32 * b + 16);
        hi[b] = laneMax(x0, x1);
        lo[b] = laneMin(x0, x1);
    }
    const Lanes16 mx = reduce16(hi, batch::Max{}), mn = reduce16(lo, batch::Min{});
    Lanes16 d = (mx - mn) / float(NMAX), m = mn;
    const Lanes16 id = d != 0.0f ? 1.0f / d : Lanes16{};
    for (int b = 0; b < 16; ++b) {
        const Lanes16 x0 = lanesOf(x + 32 * b), x1 = lanesOf(x + 32 * b + 16);
        const Lanes16 q0 = clampLanes(roundMagic((x0 - mn[b]) * id[b]), 0.0f, float(NMAX));
        const Lanes16 q1 = clampLanes(roundMagic((x1 - mn[b]) * id[b]), 0.0f, float(NMAX));
        sq[b] = partSum(q0, q1);
        sq2[b] = partDot(q0, q0, q1, q1);
        sx[b] = partSum(x0, x1);
        sxq[b] = partDot(x0, q0, x1, q1);
        const Ints16 i0 = toInts(q0), i1 = toInts(q1);
        std::uint8_t* blk = out + kBytes * b;
        if constexpr (NMAX == 15) {
            batch::storeBytes(i0 | (i1 << 4), blk + 4);
        } else {
            const std::uint32_t qh = batch::maskAtLeast(q0, 16.0f) | batch::maskAtLeast(q1, 16.0f) << 16;
            std::memcpy(blk + 4, &qh, 4);
            batch::storeBytes((i0 & 15) | ((i1 & 15) << 4), blk + 8);
        }
    }
    finishAffine(reduce16(sq, batch::Add{}), reduce16(sq2, batch::Add{}), reduce16(sx, batch::Add{}),
                 reduce16(sxq, batch::Add{}), d, m);
    std::uint16_t hd[16], hm[16];
    batch::toF16(d, hd);
    batch::toF16(m, hm);
    for (int b = 0; b < 16; ++b) {
        std::memcpy(out + kBytes * b, hd + b, 2);
        std::memcpy(out + kBytes * b + 2, hm + b, 2);
    }
}

// ---------------------------------------------------------------------------------------------
// Q8_0

void encodeQ8_0Ref(const float* x, const float*, std::int64_t n, std::uint8_t* dst)
{
    auto* y = reinterpret_cast<BlockQ8_0*>(dst);
    for (std::int64_t b = 0; b < n / kQK8_0; ++b) {
        const float* xb = x + b * kQK8_0;
        float amax = 0.0f;
        for (int j = 0; j < kQK8_0; ++j)
            amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ8_0 blk;
        float lf[kQK8_0];
        for (int j = 0; j < kQK8_0; ++j) {
            blk.qs[j] = std::int8_t(nearestInt(xb[j] * id));
            lf[j] = float(blk.qs[j]);
        }
        blk.d = toF16(refitScale(xb, lf, d));
        std::memcpy(y + b, &blk, sizeof blk);
    }
}

void encodeQ8_0(const float* x, const float*, std::int64_t n, std::uint8_t* dst)
{
    batch::forBatches<32, sizeof(BlockQ8_0)>(x, n, dst, q8_0Batch);
}

void decodeQ8_0Ref(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        BlockQ8_0 blk;
        std::memcpy(&blk, src + b * sizeof blk, sizeof blk);
        const float d = fromF16(blk.d);
        for (int j = 0; j < kQK8_0; ++j)
            y[b * kQK8_0 + j] = d * float(blk.qs[j]);
    }
}

void decodeQ8_0(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* p = src + b * sizeof(BlockQ8_0);
        std::uint16_t dh;
        std::memcpy(&dh, p, 2);
        const float d = fromF16(dh);
        const auto* q = reinterpret_cast<const std::int8_t*>(p + 2);
        float* yb = y + b * kQK8_0;
#pragma omp simd
        for (int j = 0; j < kQK8_0; ++j)
            yb[j] = d * float(q[j]);
    }
}

void codesQ8_0(const std::uint8_t* block, std::int32_t* c)
{
    const auto* q = reinterpret_cast<const std::int8_t*>(block + 2);
    for (int j = 0; j < kQK8_0; ++j)
        c[j] = q[j];
}

// ---------------------------------------------------------------------------------------------
// Q4_0 and Q5_0 (symmetric, offset codes)

// Input already on a block grid (decoded blocks re-encoded with importance weights, whose searches
// would refit them): when the value of largest magnitude is d·l for an fp16 d and a code l within
// two of either end (where the searches' candidate scales put it), and every value equals
// d·(its rounded code), that zero-error encoding is kept. The test on the
// largest value alone rejects data not yet quantized before any per-element work.
template <int NMAX>
bool symOnGrid(const float* xb, float& d, std::uint8_t* L)
{
    const float max = signedAbsMaxRef(xb, 32);
    for (const float level : {float(-NMAX), float(1 - NMAX), float(NMAX - 1), float(2 - NMAX), float(NMAX - 2)}) {
        const float dd = batch::roundToF16(max / level);
        if (dd == 0.0f || dd * level != max)
            continue;
        const float id = 1.0f / dd;
        bool exact = true;
        for (int j = 0; j < 32 && exact; ++j) {
            const float c = clampf(__builtin_rintf(xb[j] * id) + float(NMAX), 0.0f, float(2 * NMAX - 1));
            L[j] = std::uint8_t(c);
            exact = dd * (c - float(NMAX)) == xb[j];
        }
        if (exact) {
            d = dd;
            return true;
        }
    }
    return false;
}

// The same for the affine grids x = d·q + m: the minimum is m itself (code 0), the maximum
// d·q + m with q the top code or one below it.
template <int NMAX>
bool affineOnGrid(const float* xb, float& d, float& m, std::uint8_t* L)
{
    float mn = xb[0], mx = xb[0];
    for (int j = 1; j < 32; ++j) {
        mn = std::min(mn, xb[j]);
        mx = std::max(mx, xb[j]);
    }
    if (batch::roundToF16(mn) != mn)
        return false;
    for (const float top : {float(NMAX), float(NMAX - 1)}) {
        const float dd = batch::roundToF16((mx - mn) / top);
        if (!(dd > 0.0f) || dd * top + mn != mx)
            continue;
        const float id = 1.0f / dd;
        bool exact = true;
        for (int j = 0; j < 32 && exact; ++j) {
            const float c = clampf(__builtin_rintf((xb[j] - mn) * id), 0.0f, float(NMAX));
            L[j] = std::uint8_t(c);
            exact = dd * c + mn == xb[j];
        }
        if (exact) {
            d = dd;
            m = mn;
            return true;
        }
    }
    return false;
}

// A block whose codes never reach −NMAX has a mirror encoding (−d, −l) with the same values; the
// weighted encoders store the one with d ≤ 0, so a block and its re-encoded decode (where a tie
// between +a and −a hides which one was larger) agree.
template <int NMAX>
void symCanonical(float& d, std::uint8_t* L)
{
    if (!(d > 0.0f) || std::find(L, L + 32, std::uint8_t(0)) != L + 32)
        return;
    d = -d;
    for (int j = 0; j < 32; ++j)
        L[j] = std::uint8_t(2 * NMAX - L[j]);
}

template <int NMAX>  // 8 (Q4_0) or 16 (Q5_0)
void symBlockRef(const float* xb, const float* wb, float& d, std::uint8_t* L)
{
    if (wb) {
        if (!symOnGrid<NMAX>(xb, d, L))
            d = search::symSearchRef(xb, wb, 32, NMAX, L);
        symCanonical<NMAX>(d, L);
        return;
    }
    const float max = signedAbsMaxRef(xb, 32);
    d = max / float(-NMAX);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    float l[32];
    for (int j = 0; j < 32; ++j) {
        L[j] = std::uint8_t(clampf(__builtin_rintf(xb[j] * id) + float(NMAX), 0.0f, float(2 * NMAX - 1)));
        l[j] = float(int(L[j]) - NMAX);
    }
    d = refitScale(xb, l, d);
}

template <int NMAX>
void symBlock(const float* xb, const float* wb, float& d, std::uint8_t* L)
{
    if (wb) {
        if (!symOnGrid<NMAX>(xb, d, L))
            d = search::symSearch<32>(xb, wb, NMAX, L);
        symCanonical<NMAX>(d, L);
        return;
    }
    const float max = signedAbsMax<32>(xb);
    d = max / float(-NMAX);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    float l[32];
#pragma omp simd
    for (int j = 0; j < 32; ++j) {
        const float c = clampf(__builtin_rintf(xb[j] * id) + float(NMAX), 0.0f, float(2 * NMAX - 1));
        L[j] = std::uint8_t(c);
        l[j] = c - float(NMAX);
    }
    d = refitScale(xb, l, d);
}

template <bool kFast>
void encodeQ4_0Impl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    if (kFast && !imp) {
        batch::forBatches<32, sizeof(BlockQ4_0)>(x, n, dst, symBatch<8>);
        return;
    }
    const float sigma2 = imp ? rowSigma2(x, n) : 0.0f;
    float w[32];
    for (std::int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        if (imp)
            importanceWeights(xb, imp + b * 32, 32, sigma2, w);
        std::uint8_t L[32];
        float d;
        if constexpr (kFast)
            symBlock<8>(xb, imp ? w : nullptr, d, L);
        else
            symBlockRef<8>(xb, imp ? w : nullptr, d, L);
        BlockQ4_0 blk;
        blk.d = toF16(d);
        packNibbles32(L, blk.qs);
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

template <bool kFast>
void encodeQ5_0Impl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    if (kFast && !imp) {
        batch::forBatches<32, sizeof(BlockQ5_0)>(x, n, dst, symBatch<16>);
        return;
    }
    const float sigma2 = imp ? rowSigma2(x, n) : 0.0f;
    float w[32];
    for (std::int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        if (imp)
            importanceWeights(xb, imp + b * 32, 32, sigma2, w);
        std::uint8_t L[32];
        float d;
        if constexpr (kFast)
            symBlock<16>(xb, imp ? w : nullptr, d, L);
        else
            symBlockRef<16>(xb, imp ? w : nullptr, d, L);
        BlockQ5_0 blk;
        blk.d = toF16(d);
        std::uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            blk.qs[j] = std::uint8_t((L[j] & 0xF) | ((L[j + 16] & 0xF) << 4));
            qh |= std::uint32_t(L[j] >> 4) << j;
            qh |= std::uint32_t(L[j + 16] >> 4) << (j + 16);
        }
        std::memcpy(blk.qh, &qh, 4);
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

void encodeQ4_0Ref(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ4_0Impl<false>(x, imp, n, dst); }
void encodeQ4_0(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ4_0Impl<true>(x, imp, n, dst); }
void encodeQ5_0Ref(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ5_0Impl<false>(x, imp, n, dst); }
void encodeQ5_0(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ5_0Impl<true>(x, imp, n, dst); }

void decodeQ4_0Ref(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        BlockQ4_0 blk;
        std::memcpy(&blk, src + b * sizeof blk, sizeof blk);
        const float d = fromF16(blk.d);
        for (int j = 0; j < 32; ++j) {
            const int q = j < 16 ? (blk.qs[j] & 0xF) : (blk.qs[j - 16] >> 4);
            y[b * 32 + j] = d * float(q - 8);
        }
    }
}

void decodeQ4_0(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* p = src + b * sizeof(BlockQ4_0);
        std::uint16_t dh;
        std::memcpy(&dh, p, 2);
        const float d = fromF16(dh);
        const std::uint8_t* qs = p + 2;
        float* yb = y + b * 32;
#pragma omp simd
        for (int j = 0; j < 16; ++j) {
            yb[j] = d * float(int(qs[j] & 0xF) - 8);
            yb[j + 16] = d * float(int(qs[j] >> 4) - 8);
        }
    }
}

void codesQ4_0(const std::uint8_t* block, std::int32_t* c)
{
    const std::uint8_t* qs = block + 2;
    for (int j = 0; j < 16; ++j) {
        c[j] = int(qs[j] & 0xF) - 8;
        c[j + 16] = int(qs[j] >> 4) - 8;
    }
}

void decodeQ5_0Ref(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        BlockQ5_0 blk;
        std::memcpy(&blk, src + b * sizeof blk, sizeof blk);
        std::uint32_t qh;
        std::memcpy(&qh, blk.qh, 4);
        const float d = fromF16(blk.d);
        for (int j = 0; j < 32; ++j) {
            const int lo = j < 16 ? (blk.qs[j] & 0xF) : (blk.qs[j - 16] >> 4);
            const int q = lo | int(((qh >> j) & 1u) << 4);
            y[b * 32 + j] = d * float(q - 16);
        }
    }
}

void decodeQ5_0(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* p = src + b * sizeof(BlockQ5_0);
        std::uint16_t dh;
        std::uint32_t qh;
        std::memcpy(&dh, p, 2);
        std::memcpy(&qh, p + 2, 4);
        const float d = fromF16(dh);
        const std::uint8_t* qs = p + 6;
        float* yb = y + b * 32;
#pragma omp simd
        for (int j = 0; j < 16; ++j) {
            const int h0 = int((qh >> j) & 1u) << 4, h1 = int((qh >> (j + 16)) & 1u) << 4;
            yb[j] = d * float((int(qs[j] & 0xF) | h0) - 16);
            yb[j + 16] = d * float((int(qs[j] >> 4) | h1) - 16);
        }
    }
}

void codesQ5_0(const std::uint8_t* block, std::int32_t* c)
{
    std::uint32_t qh;
    std::memcpy(&qh, block + 2, 4);
    const std::uint8_t* qs = block + 6;
    for (int j = 0; j < 16; ++j) {
        c[j] = (int(qs[j] & 0xF) | int(((qh >> j) & 1u) << 4)) - 16;
        c[j + 16] = (int(qs[j] >> 4) | int(((qh >> (j + 16)) & 1u) << 4)) - 16;
    }
}

// ---------------------------------------------------------------------------------------------
// Q4_1 and Q5_1 (affine)

template <int NMAX, bool kFast>
void affineBlock(const float* xb, const float* wb, float& d, float& m, std::uint8_t* L)
{
    if (wb && affineOnGrid<NMAX>(xb, d, m, L))
        return;
    if (wb) {
        constexpr float rmin = NMAX == 15 ? -1.0f : -0.5f;
        constexpr int nstep = NMAX == 15 ? 20 : 15;
        float theMin;
        if constexpr (kFast)
            d = search::affineSearch<32, 32>(xb, wb, NMAX, rmin, 0.1f, nstep, L, &theMin);
        else
            d = search::affineSearchRef(xb, wb, 32, NMAX, rmin, 0.1f, nstep, L, &theMin);
        m = -theMin;
        return;
    }
    float mn = xb[0], mx = xb[0];
    if constexpr (kFast) {
#pragma omp simd reduction(max : mx) reduction(min : mn)
        for (int j = 0; j < 32; ++j) {
            mn = std::min(mn, xb[j]);
            mx = std::max(mx, xb[j]);
        }
    } else {
        for (int j = 1; j < 32; ++j) {
            mn = std::min(mn, xb[j]);
            mx = std::max(mx, xb[j]);
        }
    }
    d = (mx - mn) / float(NMAX);
    m = mn;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    float q[32];
#pragma omp simd
    for (int j = 0; j < 32; ++j) {
        q[j] = clampf(__builtin_rintf((xb[j] - mn) * id), 0.0f, float(NMAX));
        L[j] = std::uint8_t(q[j]);
    }
    refitAffine(xb, q, d, m);
}

template <bool kFast>
void encodeQ4_1Impl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    if (kFast && !imp) {
        batch::forBatches<32, sizeof(BlockQ4_1)>(x, n, dst, affineBatch<15>);
        return;
    }
    const float sigma2 = imp ? rowSigma2(x, n) : 0.0f;
    float w[32];
    for (std::int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        if (imp)
            importanceWeights(xb, imp + b * 32, 32, sigma2, w);
        std::uint8_t L[32];
        float d, m;
        affineBlock<15, kFast>(xb, imp ? w : nullptr, d, m, L);
        BlockQ4_1 blk;
        blk.d = toF16(d);
        blk.m = toF16(m);
        packNibbles32(L, blk.qs);
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

template <bool kFast>
void encodeQ5_1Impl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    if (kFast && !imp) {
        batch::forBatches<32, sizeof(BlockQ5_1)>(x, n, dst, affineBatch<31>);
        return;
    }
    const float sigma2 = imp ? rowSigma2(x, n) : 0.0f;
    float w[32];
    for (std::int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        if (imp)
            importanceWeights(xb, imp + b * 32, 32, sigma2, w);
        std::uint8_t L[32];
        float d, m;
        affineBlock<31, kFast>(xb, imp ? w : nullptr, d, m, L);
        BlockQ5_1 blk;
        blk.d = toF16(d);
        blk.m = toF16(m);
        std::uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            blk.qs[j] = std::uint8_t((L[j] & 0xF) | ((L[j + 16] & 0xF) << 4));
            qh |= std::uint32_t(L[j] >> 4) << j;
            qh |= std::uint32_t(L[j + 16] >> 4) << (j + 16);
        }
        std::memcpy(blk.qh, &qh, 4);
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

void encodeQ4_1Ref(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ4_1Impl<false>(x, imp, n, dst); }
void encodeQ4_1(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ4_1Impl<true>(x, imp, n, dst); }
void encodeQ5_1Ref(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ5_1Impl<false>(x, imp, n, dst); }
void encodeQ5_1(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ5_1Impl<true>(x, imp, n, dst); }

void decodeQ4_1Ref(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        BlockQ4_1 blk;
        std::memcpy(&blk, src + b * sizeof blk, sizeof blk);
        const float d = fromF16(blk.d), m = fromF16(blk.m);
        for (int j = 0; j < 32; ++j) {
            const int q = j < 16 ? (blk.qs[j] & 0xF) : (blk.qs[j - 16] >> 4);
            y[b * 32 + j] = d * float(q) + m;
        }
    }
}

void decodeQ4_1(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* p = src + b * sizeof(BlockQ4_1);
        std::uint16_t h[2];
        std::memcpy(h, p, 4);
        const float d = fromF16(h[0]), m = fromF16(h[1]);
        const std::uint8_t* qs = p + 4;
        float* yb = y + b * 32;
#pragma omp simd
        for (int j = 0; j < 16; ++j) {
            yb[j] = d * float(qs[j] & 0xF) + m;
            yb[j + 16] = d * float(qs[j] >> 4) + m;
        }
    }
}

void codesQ4_1(const std::uint8_t* block, std::int32_t* c)
{
    const std::uint8_t* qs = block + 4;
    for (int j = 0; j < 16; ++j) {
        c[j] = qs[j] & 0xF;
        c[j + 16] = qs[j] >> 4;
    }
}

void decodeQ5_1Ref(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        BlockQ5_1 blk;
        std::memcpy(&blk, src + b * sizeof blk, sizeof blk);
        std::uint32_t qh;
        std::memcpy(&qh, blk.qh, 4);
        const float d = fromF16(blk.d), m = fromF16(blk.m);
        for (int j = 0; j < 32; ++j) {
            const int lo = j < 16 ? (blk.qs[j] & 0xF) : (blk.qs[j - 16] >> 4);
            const int q = lo | int(((qh >> j) & 1u) << 4);
            y[b * 32 + j] = d * float(q) + m;
        }
    }
}

void decodeQ5_1(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* p = src + b * sizeof(BlockQ5_1);
        std::uint16_t h[2];
        std::uint32_t qh;
        std::memcpy(h, p, 4);
        std::memcpy(&qh, p + 4, 4);
        const float d = fromF16(h[0]), m = fromF16(h[1]);
        const std::uint8_t* qs = p + 8;
        float* yb = y + b * 32;
#pragma omp simd
        for (int j = 0; j < 16; ++j) {
            const int h0 = int((qh >> j) & 1u) << 4, h1 = int((qh >> (j + 16)) & 1u) << 4;
            yb[j] = d * float(int(qs[j] & 0xF) | h0) + m;
            yb[j + 16] = d * float(int(qs[j] >> 4) | h1) + m;
        }
    }
}

void codesQ5_1(const std::uint8_t* block, std::int32_t* c)
{
    std::uint32_t qh;
    std::memcpy(&qh, block + 4, 4);
    const std::uint8_t* qs = block + 8;
    for (int j = 0; j < 16; ++j) {
        c[j] = int(qs[j] & 0xF) | int(((qh >> j) & 1u) << 4);
        c[j + 16] = int(qs[j] >> 4) | int(((qh >> (j + 16)) & 1u) << 4);
    }
}

// ---------------------------------------------------------------------------------------------
// IQ4_NL

// Midpoints between consecutive table values (exact in float), +inf past the end, and the bins
// of the fast index (Iq4Lanes).
struct Iq4Tables {
    static constexpr float kBinScale = 1.0f / 8.5f;  // bins of width 8.5: 32 of them cover ±136
    static constexpr float kBinLimit = 135.0f;       // |v| clamped to this keeps every bin in 0..31
    float values[16];
    float mids[17];
    std::int32_t binLut[32];  // the number of midpoints in lower bins
    /// v's bin: the integer part of v / 8.5 + 16 as the fast index computes it (one rounding),
    /// non-decreasing in v.
    static int bin(float v) { return int(std::fma(v, kBinScale, 16.0f)); }
};

const Iq4Tables& iq4Tables()
{
    static const Iq4Tables t = [] {
        Iq4Tables r{};
        for (int k = 0; k < 16; ++k)
            r.values[k] = float(kIq4NlValues[k]);
        for (int k = 0; k < 15; ++k)
            r.mids[k] = 0.5f * (r.values[k] + r.values[k + 1]);
        r.mids[15] = r.mids[16] = INFINITY;
        for (int b = 0; b < 32; ++b) {
            int c = 0;
            while (c < 15 && Iq4Tables::bin(r.mids[c]) < b)
                ++c;
            r.binLut[b] = c;
        }
        return r;
    }();
    return t;
}

// Reference nearest index: the number of midpoints ≤ v (ties go to the upper entry, as ggml).
inline int iq4IndexRef(float v)
{
    const Iq4Tables& t = iq4Tables();
    return int(std::upper_bound(t.mids, t.mids + 15, v) - t.mids);
}

// The search, per block of 32. ggml's tries 16 inverse scales with weights x²; this one reaches a
// higher SQNR on N(0,1) and Student-t data with two trial passes and the encoding pass:
//  1. two candidate inverse scales kIq4Probe / max, max the value of largest magnitude: one maps
//     max just past the top of the table (113), the other just past its bottom (−127). Each
//     candidate's codes get their least-squares scale d = Σwqx / Σwq², whose weighted error is
//     Σwx² − d·Σwqx, and the one of least error wins (the first on a tie);
//  2. fp16(d), and the codes nearest to x / fp16(d), the scale the decoder uses.
// Without importance the weights are 1, so the search minimises the squared error SQNR measures;
// with it they are w · sqrt(σ² + x²), σ² = 2 · mean x² of the block, as ggml's. The probes were
// chosen by measurement: pairs from 113…117 and −127…−131 score within 0.03 dB of each other, and
// a least-squares refit of the final codes would gain 0.05 dB for a fifth more time.
constexpr float kIq4Probe[2] = {115.0f, -129.0f};

// The importance weights of one block (the same scalar code for the fast path and the reference).
void iq4Weights(const float* xb, const float* impb, float* w)
{
    float s = 0.0f;
    for (int j = 0; j < 32; ++j)
        s += xb[j] * xb[j];
    importanceWeights(xb, impb, 32, 2.0f * s / 32.0f, w);
}

// One block's partial sums Σwqx and Σwq² for codes with values q: lane i holds elements i and
// i + 16. Explicit fused multiply-adds, so that the batched encoder and the reference, which
// reduce these by the same tree, get the same bits. w = nullptr: weights 1.
struct Iq4Part {
    Lanes16 sqx, sq2;
};
inline Iq4Part iq4Part(Lanes16 x0, Lanes16 x1, Lanes16 q0, Lanes16 q1, const float* w)
{
    const Lanes16 wq0 = w ? lanesOf(w) * q0 : q0, wq1 = w ? lanesOf(w + 16) * q1 : q1;
    return {batch::fma(wq1, x1, wq0 * x0), batch::fma(wq1, q1, wq0 * q0)};
}

// Lane-wise least-squares scale and error gain d·Σwqx of reduced sums; where Σwq² = 0 the scale
// is 0 and the gain −∞, so such a fit never wins.
inline void iq4Fit(Lanes16 sqx, Lanes16 sq2, Lanes16& d, Lanes16& gain)
{
    const Lanes16 dn = sq2 > 0.0f ? sqx / sq2 : Lanes16{};
    d = dn;
    gain = sq2 > 0.0f ? dn * sqx : Lanes16{} - INFINITY;
}

// Keeps the fit (dn, gn) in the lanes where its gain is larger.
inline void iq4Keep(Lanes16 dn, Lanes16 gn, Lanes16& d, Lanes16& gain)
{
    d = gn > gain ? dn : d;
    gain = gn > gain ? gn : gain;
}

// The table index of 16 values at once, equal to iq4IndexRef lane by lane. The midpoints are at
// least 11.5 apart, so a bin of width 8.5 holds at most one; those of lower bins are below v and
// those of higher bins above (bins are non-decreasing in v), so the index is the count of lower
// bins' midpoints plus one where v reaches the midpoint its own bin may hold.
struct Iq4Lanes {
    Lanes16 vals, mids;
    Ints16 lutLo, lutHi;
    explicit Iq4Lanes(const Iq4Tables& t) : vals(lanesOf(t.values)), mids(lanesOf(t.mids))
    {
        std::memcpy(&lutLo, t.binLut, 64);
        std::memcpy(&lutHi, t.binLut + 16, 64);
    }
    /// For |v| ≤ kBinLimit (the search's candidates: |x| ≤ |max| and |probe| ≤ 129).
    Ints16 indexInRange(Lanes16 v) const
    {
        const Ints16 bin = toInts(batch::fma(v, splat(Iq4Tables::kBinScale), splat(16.0f)));
        const Ints16 c = __builtin_shuffle(lutLo, lutHi, bin);
        return batch::incrementWhereAtLeast(c, v, __builtin_shuffle(mids, c));
    }
    /// Any finite v: beyond ±kBinLimit (past every midpoint) the clamped value has the same index.
    Ints16 index(Lanes16 v) const
    {
        v = search::maxLanes(search::minLanes(v, splat(Iq4Tables::kBinLimit)), splat(-Iq4Tables::kBinLimit));
        return indexInRange(v);
    }
};

// Input already on an IQ4_NL grid (a decoded block): its largest magnitude sits on one of the two
// entries at either end of the table, so the stored scale is fp16(max / level) for one of them.
// When every value equals d · values[nearest(x / d)] for one (tried in kIq4Anchors order), that
// exact encoding is kept, whatever the search found: re-encoding decoded blocks gives back the
// same bytes.
constexpr float kIq4Anchors[4] = {-127.0f, 113.0f, -104.0f, 89.0f};  // the two entries at either end

inline bool iq4GridAnchor(float max, int which, float& d)
{
    const float level = kIq4Anchors[which];
    d = batch::roundToF16(max / level);
    // The largest value itself must be on the grid: for data not yet quantized this almost always
    // fails here, before any per-element work.
    return d != 0.0f && d * level == max;
}

bool iq4OnGridRef(const float* xb, float max, float& d)
{
    for (int which = 0; which < 4; ++which) {
        if (!iq4GridAnchor(max, which, d))
            continue;
        const float idf = 1.0f / d;
        bool exact = true;
        for (int j = 0; j < 32 && exact; ++j)
            exact = d * float(kIq4NlValues[iq4IndexRef(idf * xb[j])]) == xb[j];
        if (exact)
            return true;
    }
    return false;
}

bool iq4OnGrid(const Iq4Lanes& k, const float* xb, float max, float& d)
{
    const Lanes16 x0 = lanesOf(xb), x1 = lanesOf(xb + 16);
    for (int which = 0; which < 4; ++which) {
        if (!iq4GridAnchor(max, which, d))
            continue;
        const float idf = 1.0f / d;
        const Lanes16 y0 = __builtin_shuffle(k.vals, k.index(x0 * idf)) * d;
        const Lanes16 y1 = __builtin_shuffle(k.vals, k.index(x1 * idf)) * d;
        if (batch::allTrue((y0 == x0) & (y1 == x1)))
            return true;
    }
    return false;
}

// Sixteen blocks at a time (lane_batch.h): the per-block sums of each pass reduce together, block
// b's in lane b. w: 16 × 32 importance weights, or nullptr.
void iq4Batch(const Iq4Lanes& k, const float* x, const float* w, std::uint8_t* out)
{
    Lanes16 hi[16], lo[16];
    for (int b = 0; b < 16; ++b) {
        const Lanes16 x0 = lanesOf(x + 32 * b), x1 = lanesOf(x + 32 * b + 16);
        hi[b] = search::maxLanes(x0, x1);
        lo[b] = search::minLanes(x0, x1);
    }
    const Lanes16 mx = reduce16(hi, batch::Max{}), mn = reduce16(lo, batch::Min{});
    const Lanes16 max = mx >= -mn ? mx : mn;
    const Ints16 live = (mx >= -mn ? mx : -mn) >= search::kGroupEps;
    Lanes16 d{}, gain = Lanes16{} - INFINITY, sqx[16], sq2[16];
    auto pass = [&](Lanes16 id) {
        for (int b = 0; b < 16; ++b) {
            const Lanes16 x0 = lanesOf(x + 32 * b), x1 = lanesOf(x + 32 * b + 16);
            const Lanes16 q0 = __builtin_shuffle(k.vals, k.indexInRange(x0 * id[b]));
            const Lanes16 q1 = __builtin_shuffle(k.vals, k.indexInRange(x1 * id[b]));
            const Iq4Part p = iq4Part(x0, x1, q0, q1, w ? w + 32 * b : nullptr);
            sqx[b] = p.sqx;
            sq2[b] = p.sq2;
        }
        Lanes16 dn, gn;
        iq4Fit(reduce16(sqx, batch::Add{}), reduce16(sq2, batch::Add{}), dn, gn);
        iq4Keep(dn, gn, d, gain);
    };
    for (float probe : kIq4Probe)
        pass(live ? probe / max : Lanes16{});
    d = live ? d : Lanes16{};
    // Blocks already on a grid (decoded input): only where a block's largest value passes an
    // anchor test, which data not yet quantized almost never does, are its elements checked.
    {
        Ints16 anchored{};
        for (float level : kIq4Anchors) {
            const Lanes16 da = batch::roundToF16(max / level);
            anchored |= (da != 0.0f) & (da * level == max);
        }
        anchored &= live;
        if (!batch::allTrue(~anchored))
            for (int b = 0; b < 16; ++b) {
                float de;
                if (anchored[b] && iq4OnGrid(k, x + 32 * b, max[b], de))
                    d[b] = de;
            }
    }
    // fp16(d), and the codes nearest to x / fp16(d).
    std::uint16_t h[16];
    batch::toF16(d, h);
    const Lanes16 d16 = batch::roundToF16(d);
    const Lanes16 idf = d16 != 0.0f ? 1.0f / d16 : Lanes16{};
    auto store = [&](auto index) {
        for (int b = 0; b < 16; ++b) {
            std::uint8_t* blk = out + sizeof(BlockIq4Nl) * b;
            std::memcpy(blk, h + b, 2);
            const Ints16 c0 = index(lanesOf(x + 32 * b) * idf[b]), c1 = index(lanesOf(x + 32 * b + 16) * idf[b]);
            batch::storeBytes(c0 | (c1 << 4), blk + 2);
        }
    };
    // |x / d| ≤ |max / d|: almost always within the bins' range, so the clamps are not needed.
    if (batch::allTrue(batch::absLanes(max * idf) <= Iq4Tables::kBinLimit))
        store([&k](Lanes16 v) { return k.indexInRange(v); });
    else
        store([&k](Lanes16 v) { return k.index(v); });
}

void encodeIq4Nl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    const Iq4Lanes k(iq4Tables());
    const std::int64_t nb = n / 32;
    constexpr std::int64_t kB = batch::kBlocks;
    alignas(64) float w[kB * 32];
    for (std::int64_t b0 = 0; b0 < nb; b0 += kB) {
        const std::int64_t m = std::min(kB, nb - b0);
        const float* xb = x + b0 * 32;
        alignas(64) float pad[kB * 32];
        std::uint8_t tail[kB * sizeof(BlockIq4Nl)];
        if (m < kB) {  // a last, partial batch: zero blocks fill it (they encode to d = 0)
            std::fill(pad, pad + kB * 32, 0.0f);
            std::memcpy(pad, xb, std::size_t(m) * 32 * sizeof(float));
            xb = pad;
        }
        if (imp) {
            std::fill(w, w + kB * 32, 0.0f);
            for (std::int64_t b = 0; b < m; ++b)
                iq4Weights(xb + 32 * b, imp + (b0 + b) * 32, w + 32 * b);
        }
        std::uint8_t* out = m < kB ? tail : dst + b0 * std::int64_t(sizeof(BlockIq4Nl));
        iq4Batch(k, xb, imp ? w : nullptr, out);
        if (m < kB)
            std::memcpy(dst + b0 * std::int64_t(sizeof(BlockIq4Nl)), tail, std::size_t(m) * sizeof(BlockIq4Nl));
    }
}

// The reference, a block at a time: the same passes, with table indices by binary search and
// each block's sums reduced by laneSum.
void encodeIq4NlRef(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    const Iq4Tables& t = iq4Tables();
    for (std::int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        alignas(64) float w[32];
        if (imp)
            iq4Weights(xb, imp + b * 32, w);
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j)
            amax = std::max(amax, std::fabs(xb[j]));
        const float max = signedAbsMaxRef(xb, 32);
        float d = 0.0f;
        if (amax >= search::kGroupEps) {
            const Lanes16 x0 = lanesOf(xb), x1 = lanesOf(xb + 16);
            Lanes16 dv{}, gain = Lanes16{} - INFINITY;
            auto pass = [&](float id) {
                alignas(64) float q[32];
                for (int j = 0; j < 32; ++j)
                    q[j] = t.values[iq4IndexRef(xb[j] * id)];
                const Iq4Part p = iq4Part(x0, x1, lanesOf(q), lanesOf(q + 16), imp ? w : nullptr);
                Lanes16 dn, gn;
                iq4Fit(splat(laneSum(p.sqx)), splat(laneSum(p.sq2)), dn, gn);
                iq4Keep(dn, gn, dv, gain);
            };
            for (float probe : kIq4Probe)
                pass(probe / max);
            d = dv[0];
        }
        float de;
        if (amax >= search::kGroupEps && iq4OnGridRef(xb, max, de))
            d = de;
        BlockIq4Nl blk;
        blk.d = toF16(d);
        const float d16 = fromF16(blk.d);
        const float idf = d16 != 0.0f ? 1.0f / d16 : 0.0f;
        std::uint8_t L[32];
        for (int j = 0; j < 32; ++j)
            L[j] = std::uint8_t(iq4IndexRef(xb[j] * idf));
        packNibbles32(L, blk.qs);
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}


void decodeIq4NlRef(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        BlockIq4Nl blk;
        std::memcpy(&blk, src + b * sizeof blk, sizeof blk);
        const float d = fromF16(blk.d);
        for (int j = 0; j < 32; ++j) {
            const int q = j < 16 ? (blk.qs[j] & 0xF) : (blk.qs[j - 16] >> 4);
            y[b * 32 + j] = d * float(kIq4NlValues[q]);
        }
    }
}

void decodeIq4Nl(const std::uint8_t* src, std::int64_t nb, float* y)
{
    const Lanes16 values = lanesOf(iq4Tables().values);
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* p = src + b * sizeof(BlockIq4Nl);
        std::uint16_t dh;
        std::memcpy(&dh, p, 2);
        const float d = fromF16(dh);
        Ints16 lo, hi;
        batch::nibbles(p + 2, lo, hi);
        const Lanes16 y0 = batch::lookup16(values, lo) * d, y1 = batch::lookup16(values, hi) * d;
        std::memcpy(y + b * 32, &y0, sizeof y0);
        std::memcpy(y + b * 32 + 16, &y1, sizeof y1);
    }
}

void codesIq4Nl(const std::uint8_t* block, std::int32_t* c)
{
    const std::uint8_t* qs = block + 2;
    for (int j = 0; j < 16; ++j) {
        c[j] = qs[j] & 0xF;
        c[j + 16] = qs[j] >> 4;
    }
}

// ---------------------------------------------------------------------------------------------

const RowKernels kKernels[] = {
    {Format::Q8_0, 32, sizeof(BlockQ8_0), &encodeQ8_0, &encodeQ8_0Ref, &decodeQ8_0, &decodeQ8_0Ref, &codesQ8_0},
    {Format::Q4_0, 32, sizeof(BlockQ4_0), &encodeQ4_0, &encodeQ4_0Ref, &decodeQ4_0, &decodeQ4_0Ref, &codesQ4_0},
    {Format::Q4_1, 32, sizeof(BlockQ4_1), &encodeQ4_1, &encodeQ4_1Ref, &decodeQ4_1, &decodeQ4_1Ref, &codesQ4_1},
    {Format::Q5_0, 32, sizeof(BlockQ5_0), &encodeQ5_0, &encodeQ5_0Ref, &decodeQ5_0, &decodeQ5_0Ref, &codesQ5_0},
    {Format::Q5_1, 32, sizeof(BlockQ5_1), &encodeQ5_1, &encodeQ5_1Ref, &decodeQ5_1, &decodeQ5_1Ref, &codesQ5_1},
    {Format::IQ4_NL, 32, sizeof(BlockIq4Nl), &encodeIq4Nl, &encodeIq4NlRef, &decodeIq4Nl, &decodeIq4NlRef,
     &codesIq4Nl},
};

float scaleAtFront(const std::uint8_t* block, float)
{
    std::uint16_t dh;
    std::memcpy(&dh, block, 2);
    return fromF16(dh);
}

} // namespace

std::span<const RowKernels> ggufLegacyKernels()
{
    return kKernels;
}

// ---- traits rows ------------------------------------------------------------------------------

namespace {

template <Format F>
const RowKernels& kernelsOf()
{
    for (const auto& k : kKernels)
        if (k.format == F)
            return k;
    return kKernels[0];
}

template <Format F>
Result<QuantResult> quantizeLegacy(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt, TaskContext& ctx)
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
    c.blockScale = &scaleAtFront;
    // Code ranges as blockCodes reports them (Q4_0: q − 8, IQ4_NL: the table index).
    c.clip.subBlock = 32;
    switch (F) {
    case Format::Q8_0: c.clip.codeMin = -128, c.clip.codeMax = 127; break;
    case Format::Q4_0: c.clip.codeMin = -8, c.clip.codeMax = 7; break;
    case Format::Q5_0: c.clip.codeMin = -16, c.clip.codeMax = 15; break;
    case Format::Q4_1: c.clip.codeMin = 0, c.clip.codeMax = 15; break;
    case Format::Q5_1: c.clip.codeMin = 0, c.clip.codeMax = 31; break;
    case Format::IQ4_NL: c.clip.codeMin = 0, c.clip.codeMax = 15, c.clip.levels = iq4Tables().values; break;
    default: c.clip.subBlock = 0; break;
    }
    return quantizeRows(x, spec, opt, ctx, c, formatTraits(F).name);
}

template <Format F>
Result<void> validateLegacy(const QuantSpec&, const Shape& shape)
{
    return validateRows(shape, 32, formatTraits(F).name);
}

template <Format F>
void decodeLegacy(const std::uint8_t* src, std::int64_t nb, float* y)
{
    kernelsOf<F>().decode(src, nb, y);
}

constexpr unsigned kAllGranularities = granularityBit(GranularityKind::Tensor) |
                                       granularityBit(GranularityKind::Channel) | granularityBit(GranularityKind::Group);

template <Format F>
FormatTraits legacyRow(std::string_view name, std::string_view display, int bits, int ggufType, bool importance,
                       std::string_view description, std::string_view formula)
{
    const RowKernels& k = kernelsOf<F>();
    return FormatTraits{F, name, display, FormatFamily::GgufBlock, bits, bits, bits, importance ? unsigned(kParamImportance) : 0u,
                        kAllGranularities, k.blockSize, k.blockBytes, ggufType, description, formula, &validateLegacy<F>,
                        &blockBitsPerWeight, &quantizeLegacy<F>, &blockLevels, &decodeLegacy<F>};
}

} // namespace

void appendGgufLegacyFormats(std::vector<FormatTraits>& table)
{
    table.push_back(legacyRow<Format::Q8_0>("q8_0", "Q8_0", 8, ggml_type::kQ8_0, false,
                                            "GGUF: blocks of 32, 8-bit codes, fp16 scale (amax / 127)", "8 + 16/32"));
    table.push_back(legacyRow<Format::Q4_0>("q4_0", "Q4_0", 4, ggml_type::kQ4_0, true,
                                            "GGUF: blocks of 32, 4-bit codes − 8, fp16 scale", "4 + 16/32"));
    table.push_back(legacyRow<Format::Q4_1>("q4_1", "Q4_1", 4, ggml_type::kQ4_1, true,
                                            "GGUF: blocks of 32, 4-bit codes, fp16 scale and minimum", "4 + 32/32"));
    table.push_back(legacyRow<Format::Q5_0>("q5_0", "Q5_0", 5, ggml_type::kQ5_0, true,
                                            "GGUF: blocks of 32, 5-bit codes − 16, fp16 scale", "5 + 16/32"));
    table.push_back(legacyRow<Format::Q5_1>("q5_1", "Q5_1", 5, ggml_type::kQ5_1, true,
                                            "GGUF: blocks of 32, 5-bit codes, fp16 scale and minimum", "5 + 32/32"));
    table.push_back(legacyRow<Format::IQ4_NL>("iq4_nl", "IQ4_NL", 4, ggml_type::kIQ4_NL, true,
                                              "GGUF: blocks of 32, 4-bit indices into a fixed non-linear table, fp16 scale",
                                              "4 + 16/32"));
}

} // namespace ql
