// GGUF K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (super-blocks of 256 with quantized sub-block scales).
//
// Encoders (weights w per element; with importance weights, w is multiplied by them):
//  Q2_K: 16 sub-blocks of 16, affine search (nmax 3, w = |x|, candidates (−0.5 + 0.1k + 3)/(max − min),
//        k = 0..15), then 4-bit scales and mins against fp16 super-scales max/15.
//  Q3_K: 16 sub-blocks of 16, symmetric search (nmax 4, w = x², 19 candidates), then 6-bit signed
//        scales against an fp16 super-scale max/−32.
//  Q4_K: 8 sub-blocks of 32, affine search (nmax 15, w = rms + |x|, (−1 + 0.1k + 15)/(max − min),
//        k = 0..20), then 6-bit scales and mins against fp16 super-scales max/63.
//  Q5_K: as Q4_K with nmax 31 and (−0.5 + 0.1k + 31)/(max − min), k = 0..15.
//  Q6_K: 16 sub-blocks of 16, symmetric search (nmax 32, w = x², 19 candidates), then 8-bit signed
//        scales against an fp16 super-scale max/−128.
// After the scales are quantized every code is recomputed against the stored scales, so x̂ is the
// nearest point of the final grid. The candidate lists are those of ggml's reference quantizers;
// the searches (block_search.h) score every candidate from three running sums instead of a second
// pass, with the candidates in SIMD lanes.

#include "core/formats/block_search.h"
#include "core/formats/format_driver.h"
#include "core/formats/gguf_formats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace ql {

namespace {

using search::clampf;

inline void getScaleMinK4(int j, const std::uint8_t* q, int& d, int& m)
{
    if (j < 4) {
        d = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

inline void packScaleMinK4(const int* ls, const int* lm, std::uint8_t* scales)
{
    std::memset(scales, 0, kKScaleSize);
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            scales[j] = std::uint8_t(ls[j]);
            scales[j + 4] = std::uint8_t(lm[j]);
        } else {
            scales[j + 4] = std::uint8_t((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= std::uint8_t((ls[j] >> 4) << 6);
            scales[j] |= std::uint8_t((lm[j] >> 4) << 6);
        }
    }
}

// Q3_K: 16 6-bit values, low 4 bits in bytes 0..7 (two per byte), high 2 bits in bytes 8..11.
inline int q3Scale(const std::uint8_t* s, int k)
{
    const int lo = k < 8 ? (s[k] & 0xF) : (s[k - 8] >> 4);
    const int hi = (s[8 + (k % 4)] >> (2 * (k / 4))) & 3;
    return lo | (hi << 4);
}

inline void packQ3Scales(const int* l, std::uint8_t* s)
{
    std::memset(s, 0, 12);
    for (int k = 0; k < 16; ++k) {
        if (k < 8)
            s[k] |= std::uint8_t(l[k] & 0xF);
        else
            s[k - 8] |= std::uint8_t((l[k] & 0xF) << 4);
        s[8 + (k % 4)] |= std::uint8_t(((l[k] >> 4) & 3) << (2 * (k / 4)));
    }
}

// 2-bit packing of Q2_K/Q3_K: per 128-half, byte l holds elements l, l+32, l+64, l+96.
inline void pack2Bits(const std::uint8_t* L, std::uint8_t* qs)
{
    for (int h = 0; h < 2; ++h)
        for (int l = 0; l < 32; ++l) {
            const std::uint8_t* e = L + 128 * h + l;
            qs[32 * h + l] = std::uint8_t(e[0] | (e[32] << 2) | (e[64] << 4) | (e[96] << 6));
        }
}


// Refinement of the quantized sub-block scale (and minimum) codes: each code ±1 (within range) is
// tried against the final grid and the pair with the smallest squared error (importance-weighted
// when given) is kept; the current pair wins ties. One compiled instance (noinline) serves the
// fast and the reference encoders, so both produce the same bytes.
template <int N>
[[gnu::noinline]] void refineAffineCodes(const float* x, const float* w, float d, float dmin, int nmax, int maxCode,
                                         int& sc, int& m)
{
    // The nine (scale, min) code pairs around the rounded ones, one per lane (lanes 9..15 repeat
    // pair 0 and are never chosen). Each lane sums its weighted squared error in element order;
    // the first pair of least error in kOrder wins, out-of-range pairs never do.
    static constexpr int kOrder[9][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {-1, 1}, {1, -1}, {1, 1}};
    using search::Ints16;
    using search::Lanes16;
    constexpr Lanes16 kDs = {0, -1, 1, 0, 0, -1, -1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
    constexpr Lanes16 kDm = {0, 0, 0, -1, 1, -1, 1, -1, 1, 0, 0, 0, 0, 0, 0, 0};
    constexpr Ints16 kLive = {-1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0};
    const Lanes16 s2 = float(sc) + kDs, m2 = float(m) + kDm;
    const Lanes16 dl = d * s2, ml = dmin * m2;
    const Lanes16 inv = dl != 0.0f ? 1.0f / dl : Lanes16{};
    const float hi = float(maxCode);
    const Ints16 valid = kLive & (s2 >= 0.0f) & (s2 <= hi) & (m2 >= 0.0f) & (m2 <= hi);
    const Lanes16 top = Lanes16{} + float(nmax), zero = {};
    Lanes16 e = {};
    for (int i = 0; i < N; ++i) {
        Lanes16 q = search::roundMagic((x[i] + ml) * inv);
        q = q < zero ? zero : q;
        q = q > top ? top : q;
        const Lanes16 v = dl * q - ml - x[i];
        e += w ? w[i] * v * v : v * v;
    }
    int best = 0;
    for (int k = 1; k < 9; ++k)
        best = valid[k] != 0 && (valid[best] == 0 || e[k] < e[best]) ? k : best;
    if (valid[best] != 0) {
        sc += kOrder[best][0];
        m += kOrder[best][1];
    }
}

template <int N>
[[gnu::noinline]] void refineSymmetricCode(const float* x, const float* w, float d, int qlo, int qhi, int codeLo,
                                           int codeHi, int& code)
{
    // The scale codes code, code − 1 and code + 1 in lanes 0..2 (the rest repeat lane 0); each lane
    // sums its weighted squared error in element order, the first of least error wins.
    using search::Ints16;
    using search::Lanes16;
    constexpr Lanes16 kDc = {0, -1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    constexpr Ints16 kLive = {-1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const Lanes16 c = float(code) + kDc;
    const Lanes16 dl = d * c;
    const Lanes16 inv = dl != 0.0f ? 1.0f / dl : Lanes16{};
    const Ints16 valid = kLive & (c >= float(codeLo)) & (c <= float(codeHi));
    const Lanes16 lo = Lanes16{} + float(qlo), hi = Lanes16{} + float(qhi);
    Lanes16 e = {};
    for (int i = 0; i < N; ++i) {
        Lanes16 q = search::roundMagic(x[i] * inv);
        q = q < lo ? lo : q;
        q = q > hi ? hi : q;
        const Lanes16 v = dl * q - x[i];
        e += w ? w[i] * v * v : v * v;
    }
    int best = 0;
    for (int k = 1; k < 3; ++k)
        best = valid[k] != 0 && (valid[best] == 0 || e[k] < e[best]) ? k : best;
    if (valid[best] != 0)
        code += int(kDc[best]);
}

// ---------------------------------------------------------------------------------------------
// Q2_K

template <bool kFast>
void encodeQ2KImpl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t b = 0; b < n / kQKK; ++b) {
        const float* xb = x + b * kQKK;
        const float* ib = imp ? imp + b * kQKK : nullptr;
        std::uint8_t L[kQKK];
        float scales[16], mins[16];
        float maxScale = 0.0f, maxMin = 0.0f;
        for (int j = 0; j < 16; ++j) {
            alignas(64) float w[16];
            for (int l = 0; l < 16; ++l)
                w[l] = std::fabs(xb[16 * j + l]) * (ib ? ib[16 * j + l] : 1.0f);
            if constexpr (kFast)
                scales[j] = search::affineSearch<16, 32>(xb + 16 * j, w, 3, -0.5f, 0.1f, 30, L + 16 * j, &mins[j]);
            else
                scales[j] = search::affineSearchRef(xb + 16 * j, w, 16, 3, -0.5f, 0.1f, 30, L + 16 * j, &mins[j]);
            maxScale = std::max(maxScale, scales[j]);
            maxMin = std::max(maxMin, mins[j]);
        }
        BlockQ2K blk{};
        if (maxScale > 0.0f) {
            const float is = 15.0f / maxScale;
            for (int j = 0; j < 16; ++j)
                blk.scales[j] = std::uint8_t(std::min(15, nearestInt(is * scales[j])));
            blk.d = toF16(maxScale / 15.0f);
        }
        if (maxMin > 0.0f) {
            const float is = 15.0f / maxMin;
            for (int j = 0; j < 16; ++j)
                blk.scales[j] |= std::uint8_t(std::min(15, nearestInt(is * mins[j])) << 4);
            blk.dmin = toF16(maxMin / 15.0f);
        }
        const float d = fromF16(blk.d), dmin = fromF16(blk.dmin);
        for (int j = 0; j < 16; ++j) {
            int sc = blk.scales[j] & 0xF, mc = blk.scales[j] >> 4;
            refineAffineCodes<16>(xb + 16 * j, ib ? ib + 16 * j : nullptr, d, dmin, 3, 15, sc, mc);
            blk.scales[j] = std::uint8_t(sc | (mc << 4));
        }
        for (int j = 0; j < 16; ++j) {
            const float dl = d * float(blk.scales[j] & 0xF);
            if (dl == 0.0f)
                continue;
            const float inv = 1.0f / dl;
            const float dm = dmin * float(blk.scales[j] >> 4);
            const float* xs = xb + 16 * j;
            std::uint8_t* Ls = L + 16 * j;
#pragma omp simd
            for (int l = 0; l < 16; ++l)
                Ls[l] = std::uint8_t(clampf(search::roundMagic((xs[l] + dm) * inv), 0.0f, 3.0f));
        }
        pack2Bits(L, blk.qs);
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

void encodeQ2KRef(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ2KImpl<false>(x, imp, n, dst); }
void encodeQ2K(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ2KImpl<true>(x, imp, n, dst); }

void decodeQ2KRef(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        BlockQ2K blk;
        std::memcpy(&blk, src + b * sizeof blk, sizeof blk);
        const float d = fromF16(blk.d), dmin = fromF16(blk.dmin);
        for (int i = 0; i < kQKK; ++i) {
            const int h = i / 128, k = (i % 128) / 32, l = i % 32;
            const int q = (blk.qs[32 * h + l] >> (2 * k)) & 3;
            const std::uint8_t sc = blk.scales[i / 16];
            y[b * kQKK + i] = (d * float(sc & 0xF)) * float(q) - dmin * float(sc >> 4);
        }
    }
}

void decodeQ2K(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        const auto* blk = reinterpret_cast<const BlockQ2K*>(src + b * sizeof(BlockQ2K));
        std::uint16_t dh[2];
        std::memcpy(dh, src + b * sizeof(BlockQ2K) + offsetof(BlockQ2K, d), 4);
        const float d = fromF16(dh[0]), dmin = fromF16(dh[1]);
        float* yb = y + b * kQKK;
        for (int h = 0; h < 2; ++h)
            for (int k = 0; k < 4; ++k)
                for (int half = 0; half < 2; ++half) {
                    const std::uint8_t sc = blk->scales[8 * h + 2 * k + half];
                    const float dl = d * float(sc & 0xF), ml = dmin * float(sc >> 4);
                    const std::uint8_t* q = blk->qs + 32 * h + 16 * half;
                    float* out = yb + 128 * h + 32 * k + 16 * half;
#pragma omp simd
                    for (int l = 0; l < 16; ++l)
                        out[l] = dl * float((q[l] >> (2 * k)) & 3) - ml;
                }
    }
}

void codesQ2K(const std::uint8_t* block, std::int32_t* c)
{
    const auto* blk = reinterpret_cast<const BlockQ2K*>(block);
    for (int i = 0; i < kQKK; ++i)
        c[i] = (blk->qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
}

// ---------------------------------------------------------------------------------------------
// Q3_K

template <bool kFast>
void encodeQ3KImpl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t b = 0; b < n / kQKK; ++b) {
        const float* xb = x + b * kQKK;
        const float* ib = imp ? imp + b * kQKK : nullptr;
        std::uint8_t L[kQKK];
        float scales[16];
        float maxScale = 0.0f, amax = 0.0f;
        for (int j = 0; j < 16; ++j) {
            alignas(64) float w[16];
            for (int l = 0; l < 16; ++l) {
                const float v = xb[16 * j + l];
                w[l] = v * v * (ib ? ib[16 * j + l] : 1.0f);
            }
            if constexpr (kFast)
                scales[j] = search::symSearch<16>(xb + 16 * j, w, 4, L + 16 * j);
            else
                scales[j] = search::symSearchRef(xb + 16 * j, w, 16, 4, L + 16 * j);
            if (std::fabs(scales[j]) > amax) {
                amax = std::fabs(scales[j]);
                maxScale = scales[j];
            }
        }
        BlockQ3K blk{};
        if (maxScale != 0.0f) {
            const float is = -32.0f / maxScale;
            int ls[16];
            for (int j = 0; j < 16; ++j)
                ls[j] = std::clamp(nearestInt(is * scales[j]), -32, 31) + 32;
            packQ3Scales(ls, blk.scales);
            blk.d = toF16(1.0f / is);
        }
        const float d = fromF16(blk.d);
        if (maxScale != 0.0f) {
            int ls[16];
            for (int j = 0; j < 16; ++j) {
                int c = q3Scale(blk.scales, j) - 32;
                refineSymmetricCode<16>(xb + 16 * j, ib ? ib + 16 * j : nullptr, d, -4, 3, -32, 31, c);
                ls[j] = c + 32;
            }
            packQ3Scales(ls, blk.scales);
        }
        for (int j = 0; j < 16; ++j) {
            const float dl = d * float(q3Scale(blk.scales, j) - 32);
            if (dl == 0.0f)
                continue;
            const float inv = 1.0f / dl;
            const float* xs = xb + 16 * j;
            std::uint8_t* Ls = L + 16 * j;
#pragma omp simd
            for (int l = 0; l < 16; ++l)
                Ls[l] = std::uint8_t(clampf(search::roundMagic(xs[l] * inv), -4.0f, 3.0f) + 4.0f);
        }
        for (int i = 0; i < kQKK; ++i)
            if (L[i] > 3) {
                blk.hmask[i % 32] |= std::uint8_t(1u << (i / 32));
                L[i] -= 4;
            }
        pack2Bits(L, blk.qs);
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

void encodeQ3KRef(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ3KImpl<false>(x, imp, n, dst); }
void encodeQ3K(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ3KImpl<true>(x, imp, n, dst); }

void decodeQ3KRef(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        BlockQ3K blk;
        std::memcpy(&blk, src + b * sizeof blk, sizeof blk);
        const float d = fromF16(blk.d);
        for (int i = 0; i < kQKK; ++i) {
            const int h = i / 128, k = (i % 128) / 32, l = i % 32;
            const int low = (blk.qs[32 * h + l] >> (2 * k)) & 3;
            const int hb = (blk.hmask[i % 32] >> (i / 32)) & 1;
            const int q = low - (hb ? 0 : 4);
            y[b * kQKK + i] = (d * float(q3Scale(blk.scales, i / 16) - 32)) * float(q);
        }
    }
}

void decodeQ3K(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        const auto* blk = reinterpret_cast<const BlockQ3K*>(src + b * sizeof(BlockQ3K));
        std::uint16_t dh;
        std::memcpy(&dh, src + b * sizeof(BlockQ3K) + offsetof(BlockQ3K, d), 2);
        const float d = fromF16(dh);
        float* yb = y + b * kQKK;
        for (int h = 0; h < 2; ++h)
            for (int k = 0; k < 4; ++k) {
                const int bit = 4 * h + k;
                for (int half = 0; half < 2; ++half) {
                    const int sub = 8 * h + 2 * k + half;
                    const float dl = d * float(q3Scale(blk->scales, sub) - 32);
                    const std::uint8_t* q = blk->qs + 32 * h + 16 * half;
                    const std::uint8_t* hm = blk->hmask + 16 * half;
                    float* out = yb + 128 * h + 32 * k + 16 * half;
#pragma omp simd
                    for (int l = 0; l < 16; ++l)
                        out[l] = dl * float(int((q[l] >> (2 * k)) & 3) - (((hm[l] >> bit) & 1) ? 0 : 4));
                }
            }
    }
}

void codesQ3K(const std::uint8_t* block, std::int32_t* c)
{
    const auto* blk = reinterpret_cast<const BlockQ3K*>(block);
    for (int i = 0; i < kQKK; ++i) {
        const int low = (blk->qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
        c[i] = low - (((blk->hmask[i % 32] >> (i / 32)) & 1) ? 0 : 4);
    }
}

// ---------------------------------------------------------------------------------------------
// Q4_K and Q5_K

template <int NMAX, bool kFast>
void kAffineSuperBlock(const float* xb, const float* ib, std::uint8_t* L, std::uint16_t& dOut, std::uint16_t& dminOut,
                       std::uint8_t* packedScales)
{
    constexpr float rmin = NMAX == 15 ? -1.0f : -0.5f;
    constexpr int nstep = 30;
    float scales[8], mins[8];
    float maxScale = 0.0f, maxMin = 0.0f;
    for (int j = 0; j < 8; ++j) {
        const float* xs = xb + 32 * j;
        float sx2 = 0.0f;
        for (int l = 0; l < 32; ++l)
            sx2 += xs[l] * xs[l];
        const float av = std::sqrt(sx2 / 32.0f);
        alignas(64) float w[32];
        for (int l = 0; l < 32; ++l)
            w[l] = (av + std::fabs(xs[l])) * (ib ? ib[32 * j + l] : 1.0f);
        if constexpr (kFast)
            scales[j] = search::affineSearch<32, 32>(xs, w, NMAX, rmin, 0.1f, nstep, L + 32 * j, &mins[j]);
        else
            scales[j] = search::affineSearchRef(xs, w, 32, NMAX, rmin, 0.1f, nstep, L + 32 * j, &mins[j]);
        maxScale = std::max(maxScale, scales[j]);
        maxMin = std::max(maxMin, mins[j]);
    }
    const float invScale = maxScale > 0.0f ? 63.0f / maxScale : 0.0f;
    const float invMin = maxMin > 0.0f ? 63.0f / maxMin : 0.0f;
    int ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
        ls[j] = std::min(63, nearestInt(invScale * scales[j]));
        lm[j] = std::min(63, nearestInt(invMin * mins[j]));
    }
    dOut = toF16(maxScale / 63.0f);
    dminOut = toF16(maxMin / 63.0f);
    const float d = fromF16(dOut), dmin = fromF16(dminOut);
    for (int j = 0; j < 8; ++j)
        refineAffineCodes<32>(xb + 32 * j, ib ? ib + 32 * j : nullptr, d, dmin, NMAX, 63, ls[j], lm[j]);
    packScaleMinK4(ls, lm, packedScales);
    for (int j = 0; j < 8; ++j) {
        int sc, m;
        getScaleMinK4(j, packedScales, sc, m);
        const float dl = d * float(sc);
        if (dl == 0.0f)
            continue;
        const float inv = 1.0f / dl;
        const float dm = dmin * float(m);
        const float* xs = xb + 32 * j;
        std::uint8_t* Ls = L + 32 * j;
#pragma omp simd
        for (int l = 0; l < 32; ++l)
            Ls[l] = std::uint8_t(clampf(search::roundMagic((xs[l] + dm) * inv), 0.0f, float(NMAX)));
    }
}

template <bool kFast>
void encodeQ4KImpl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t b = 0; b < n / kQKK; ++b) {
        std::uint8_t L[kQKK];
        BlockQ4K blk{};
        kAffineSuperBlock<15, kFast>(x + b * kQKK, imp ? imp + b * kQKK : nullptr, L, blk.d, blk.dmin, blk.scales);
        for (int q = 0; q < 4; ++q)
            for (int l = 0; l < 32; ++l)
                blk.qs[32 * q + l] = std::uint8_t(L[64 * q + l] | (L[64 * q + l + 32] << 4));
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

template <bool kFast>
void encodeQ5KImpl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t b = 0; b < n / kQKK; ++b) {
        std::uint8_t L[kQKK];
        BlockQ5K blk{};
        kAffineSuperBlock<31, kFast>(x + b * kQKK, imp ? imp + b * kQKK : nullptr, L, blk.d, blk.dmin, blk.scales);
        for (int q = 0; q < 4; ++q)
            for (int l = 0; l < 32; ++l) {
                const int l1 = L[64 * q + l], l2 = L[64 * q + l + 32];
                blk.qs[32 * q + l] = std::uint8_t((l1 & 0xF) | ((l2 & 0xF) << 4));
                blk.qh[l] |= std::uint8_t(((l1 >> 4) << (2 * q)) | ((l2 >> 4) << (2 * q + 1)));
            }
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

void encodeQ4KRef(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ4KImpl<false>(x, imp, n, dst); }
void encodeQ4K(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ4KImpl<true>(x, imp, n, dst); }
void encodeQ5KRef(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ5KImpl<false>(x, imp, n, dst); }
void encodeQ5K(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ5KImpl<true>(x, imp, n, dst); }

template <bool kQ5>
void decodeQ45KRef(const std::uint8_t* src, std::int64_t nb, float* y)
{
    constexpr std::size_t kBytes = kQ5 ? sizeof(BlockQ5K) : sizeof(BlockQ4K);
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* p = src + b * kBytes;
        std::uint16_t dh[2];
        std::memcpy(dh, p, 4);
        const float d = fromF16(dh[0]), dmin = fromF16(dh[1]);
        const std::uint8_t* scales = p + 4;
        const std::uint8_t* qh = p + 4 + kKScaleSize;
        const std::uint8_t* qs = kQ5 ? qh + kQKK / 8 : qh;
        for (int i = 0; i < kQKK; ++i) {
            const int quarter = i / 64, l = i % 64;
            const std::uint8_t byte = qs[32 * quarter + l % 32];
            int q = l < 32 ? (byte & 0xF) : (byte >> 4);
            if (kQ5)
                q |= ((qh[l % 32] >> (2 * quarter + (l >= 32 ? 1 : 0))) & 1) << 4;
            int sc, m;
            getScaleMinK4(i / 32, scales, sc, m);
            y[b * kQKK + i] = (d * float(sc)) * float(q) - dmin * float(m);
        }
    }
}

template <bool kQ5>
void decodeQ45K(const std::uint8_t* src, std::int64_t nb, float* y)
{
    constexpr std::size_t kBytes = kQ5 ? sizeof(BlockQ5K) : sizeof(BlockQ4K);
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* p = src + b * kBytes;
        std::uint16_t dh[2];
        std::memcpy(dh, p, 4);
        const float d = fromF16(dh[0]), dmin = fromF16(dh[1]);
        const std::uint8_t* scales = p + 4;
        const std::uint8_t* qh = p + 4 + kKScaleSize;
        const std::uint8_t* qs = kQ5 ? qh + kQKK / 8 : qh;
        float* yb = y + b * kQKK;
        for (int q = 0; q < 4; ++q) {
            int sc0, m0, sc1, m1;
            getScaleMinK4(2 * q, scales, sc0, m0);
            getScaleMinK4(2 * q + 1, scales, sc1, m1);
            const float d0 = d * float(sc0), mm0 = dmin * float(m0);
            const float d1 = d * float(sc1), mm1 = dmin * float(m1);
            const std::uint8_t* qq = qs + 32 * q;
            float* out = yb + 64 * q;
            if constexpr (kQ5) {
#pragma omp simd
                for (int l = 0; l < 32; ++l) {
                    const int h0 = ((qh[l] >> (2 * q)) & 1) << 4, h1 = ((qh[l] >> (2 * q + 1)) & 1) << 4;
                    out[l] = d0 * float((qq[l] & 0xF) | h0) - mm0;
                    out[l + 32] = d1 * float((qq[l] >> 4) | h1) - mm1;
                }
            } else {
#pragma omp simd
                for (int l = 0; l < 32; ++l) {
                    out[l] = d0 * float(qq[l] & 0xF) - mm0;
                    out[l + 32] = d1 * float(qq[l] >> 4) - mm1;
                }
            }
        }
    }
}

void decodeQ4KRef(const std::uint8_t* s, std::int64_t nb, float* y) { decodeQ45KRef<false>(s, nb, y); }
void decodeQ4K(const std::uint8_t* s, std::int64_t nb, float* y) { decodeQ45K<false>(s, nb, y); }
void decodeQ5KRef(const std::uint8_t* s, std::int64_t nb, float* y) { decodeQ45KRef<true>(s, nb, y); }
void decodeQ5K(const std::uint8_t* s, std::int64_t nb, float* y) { decodeQ45K<true>(s, nb, y); }

void codesQ4K(const std::uint8_t* block, std::int32_t* c)
{
    const std::uint8_t* qs = block + 4 + kKScaleSize;
    for (int i = 0; i < kQKK; ++i) {
        const std::uint8_t byte = qs[32 * (i / 64) + i % 32];
        c[i] = (i % 64) < 32 ? (byte & 0xF) : (byte >> 4);
    }
}

void codesQ5K(const std::uint8_t* block, std::int32_t* c)
{
    const std::uint8_t* qh = block + 4 + kKScaleSize;
    const std::uint8_t* qs = qh + kQKK / 8;
    for (int i = 0; i < kQKK; ++i) {
        const int quarter = i / 64, l = i % 64;
        const std::uint8_t byte = qs[32 * quarter + l % 32];
        c[i] = (l < 32 ? (byte & 0xF) : (byte >> 4)) | (((qh[l % 32] >> (2 * quarter + (l >= 32 ? 1 : 0))) & 1) << 4);
    }
}

// ---------------------------------------------------------------------------------------------
// Q6_K

template <bool kFast>
void encodeQ6KImpl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t b = 0; b < n / kQKK; ++b) {
        const float* xb = x + b * kQKK;
        const float* ib = imp ? imp + b * kQKK : nullptr;
        std::uint8_t L[kQKK];
        float scales[16];
        float maxScale = 0.0f, amax = 0.0f;
        for (int j = 0; j < 16; ++j) {
            alignas(64) float w[16];
            for (int l = 0; l < 16; ++l) {
                const float v = xb[16 * j + l];
                w[l] = v * v * (ib ? ib[16 * j + l] : 1.0f);
            }
            if constexpr (kFast)
                scales[j] = search::symSearch<16>(xb + 16 * j, w, 32, L + 16 * j);
            else
                scales[j] = search::symSearchRef(xb + 16 * j, w, 16, 32, L + 16 * j);
            if (std::fabs(scales[j]) > amax) {
                amax = std::fabs(scales[j]);
                maxScale = scales[j];
            }
        }
        BlockQ6K blk{};
        if (amax >= search::kGroupEps) {
            const float is = -128.0f / maxScale;
            blk.d = toF16(1.0f / is);
            for (int j = 0; j < 16; ++j)
                blk.scales[j] = std::int8_t(std::min(127, nearestInt(is * scales[j])));
            const float d = fromF16(blk.d);
            for (int j = 0; j < 16; ++j) {
                int c = blk.scales[j];
                refineSymmetricCode<16>(xb + 16 * j, ib ? ib + 16 * j : nullptr, d, -32, 31, -128, 127, c);
                blk.scales[j] = std::int8_t(c);
            }
            for (int j = 0; j < 16; ++j) {
                const float dl = d * float(blk.scales[j]);
                if (dl == 0.0f)
                    continue;
                const float inv = 1.0f / dl;
                const float* xs = xb + 16 * j;
                std::uint8_t* Ls = L + 16 * j;
#pragma omp simd
                for (int l = 0; l < 16; ++l)
                    Ls[l] = std::uint8_t(clampf(search::roundMagic(xs[l] * inv), -32.0f, 31.0f) + 32.0f);
            }
        } else {
            std::memset(L, 32, sizeof L);
        }
        for (int h = 0; h < 2; ++h)
            for (int l = 0; l < 32; ++l) {
                const std::uint8_t* e = L + 128 * h + l;
                blk.ql[64 * h + l] = std::uint8_t((e[0] & 0xF) | ((e[64] & 0xF) << 4));
                blk.ql[64 * h + l + 32] = std::uint8_t((e[32] & 0xF) | ((e[96] & 0xF) << 4));
                blk.qh[32 * h + l] =
                    std::uint8_t((e[0] >> 4) | ((e[32] >> 4) << 2) | ((e[64] >> 4) << 4) | ((e[96] >> 4) << 6));
            }
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

void encodeQ6KRef(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ6KImpl<false>(x, imp, n, dst); }
void encodeQ6K(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst) { encodeQ6KImpl<true>(x, imp, n, dst); }

inline int q6Code(const BlockQ6K& blk, int i)
{
    const int h = i / 128, r = i % 128, k = r / 32, l = r % 32;
    const std::uint8_t lowByte = blk.ql[64 * h + l + (k & 1) * 32];
    const int low = k < 2 ? (lowByte & 0xF) : (lowByte >> 4);
    const int high = (blk.qh[32 * h + l] >> (2 * k)) & 3;
    return (low | (high << 4)) - 32;
}

void decodeQ6KRef(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        BlockQ6K blk;
        std::memcpy(&blk, src + b * sizeof blk, sizeof blk);
        const float d = fromF16(blk.d);
        for (int i = 0; i < kQKK; ++i)
            y[b * kQKK + i] = (d * float(blk.scales[i / 16])) * float(q6Code(blk, i));
    }
}

void decodeQ6K(const std::uint8_t* src, std::int64_t nb, float* y)
{
    for (std::int64_t b = 0; b < nb; ++b) {
        const auto* blk = reinterpret_cast<const BlockQ6K*>(src + b * sizeof(BlockQ6K));
        std::uint16_t dh;
        std::memcpy(&dh, src + b * sizeof(BlockQ6K) + offsetof(BlockQ6K, d), 2);
        const float d = fromF16(dh);
        float* yb = y + b * kQKK;
        for (int h = 0; h < 2; ++h) {
            const std::uint8_t* ql = blk->ql + 64 * h;
            const std::uint8_t* qh = blk->qh + 32 * h;
            const std::int8_t* sc = blk->scales + 8 * h;
            float* out = yb + 128 * h;
            for (int half = 0; half < 2; ++half) {
                const float s0 = d * float(sc[half]), s1 = d * float(sc[half + 2]);
                const float s2 = d * float(sc[half + 4]), s3 = d * float(sc[half + 6]);
#pragma omp simd
                for (int l = 16 * half; l < 16 * half + 16; ++l) {
                    const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    out[l] = s0 * float(q1);
                    out[l + 32] = s1 * float(q2);
                    out[l + 64] = s2 * float(q3);
                    out[l + 96] = s3 * float(q4);
                }
            }
        }
    }
}

void codesQ6K(const std::uint8_t* block, std::int32_t* c)
{
    BlockQ6K blk;
    std::memcpy(&blk, block, sizeof blk);
    for (int i = 0; i < kQKK; ++i)
        c[i] = q6Code(blk, i);
}

// ---------------------------------------------------------------------------------------------

const RowKernels kKernels[] = {
    {Format::Q2_K, kQKK, sizeof(BlockQ2K), &encodeQ2K, &encodeQ2KRef, &decodeQ2K, &decodeQ2KRef, &codesQ2K},
    {Format::Q3_K, kQKK, sizeof(BlockQ3K), &encodeQ3K, &encodeQ3KRef, &decodeQ3K, &decodeQ3KRef, &codesQ3K},
    {Format::Q4_K, kQKK, sizeof(BlockQ4K), &encodeQ4K, &encodeQ4KRef, &decodeQ4K, &decodeQ4KRef, &codesQ4K},
    {Format::Q5_K, kQKK, sizeof(BlockQ5K), &encodeQ5K, &encodeQ5KRef, &decodeQ5K, &decodeQ5KRef, &codesQ5K},
    {Format::Q6_K, kQKK, sizeof(BlockQ6K), &encodeQ6K, &encodeQ6KRef, &decodeQ6K, &decodeQ6KRef, &codesQ6K},
};

template <Format F>
const RowKernels& kernelsOf()
{
    for (const auto& k : kKernels)
        if (k.format == F)
            return k;
    return kKernels[0];
}

// The main scale of a K-quant block: its fp16 super-block scale d.
template <Format F>
float superScale(const std::uint8_t* block, float)
{
    std::size_t off = 0;
    if constexpr (F == Format::Q2_K)
        off = offsetof(BlockQ2K, d);
    else if constexpr (F == Format::Q3_K)
        off = offsetof(BlockQ3K, d);
    else if constexpr (F == Format::Q6_K)
        off = offsetof(BlockQ6K, d);
    std::uint16_t dh;
    std::memcpy(&dh, block + off, 2);
    return fromF16(dh);
}

template <Format F>
Result<QuantResult> quantizeK(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt, TaskContext& ctx)
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
    c.blockScale = &superScale<F>;
    // Sub-blocks with their own scale (and min), codes as blockCodes reports them.
    switch (F) {
    case Format::Q2_K: c.clip = {16, 0, 3, nullptr}; break;
    case Format::Q3_K: c.clip = {16, -4, 3, nullptr}; break;
    case Format::Q4_K: c.clip = {32, 0, 15, nullptr}; break;
    case Format::Q5_K: c.clip = {32, 0, 31, nullptr}; break;
    case Format::Q6_K: c.clip = {16, -32, 31, nullptr}; break;
    default: break;
    }
    return quantizeRows(x, spec, opt, ctx, c, formatTraits(F).name);
}

template <Format F>
Result<void> validateK(const QuantSpec&, const Shape& shape)
{
    return validateRows(shape, kQKK, formatTraits(F).name);
}

template <Format F>
void decodeK(const std::uint8_t* src, std::int64_t nb, float* y)
{
    kernelsOf<F>().decode(src, nb, y);
}

constexpr unsigned kAllGranularities = granularityBit(GranularityKind::Tensor) |
                                       granularityBit(GranularityKind::Channel) | granularityBit(GranularityKind::Group);

template <Format F>
FormatTraits kRow(std::string_view name, std::string_view display, int bits, int ggufType, std::string_view description,
                  std::string_view formula)
{
    const RowKernels& k = kernelsOf<F>();
    return FormatTraits{F, name, display, FormatFamily::GgufBlock, bits, bits, bits, unsigned(kParamImportance),
                        kAllGranularities, k.blockSize, k.blockBytes, ggufType, description, formula, &validateK<F>,
                        &blockBitsPerWeight, &quantizeK<F>, &blockLevels, &decodeK<F>};
}

} // namespace

std::span<const RowKernels> ggufKQuantKernels()
{
    return kKernels;
}

void appendGgufKQuantFormats(std::vector<FormatTraits>& table)
{
    table.push_back(kRow<Format::Q2_K>("q2_k", "Q2_K", 2, ggml_type::kQ2_K,
                                       "GGUF K-quant: 256 per super-block, 2-bit codes, 4-bit scales and mins per 16",
                                       "2 + (16·8 + 32)/256 = 2.625"));
    table.push_back(kRow<Format::Q3_K>("q3_k", "Q3_K", 3, ggml_type::kQ3_K,
                                       "GGUF K-quant: 256 per super-block, 3-bit codes, 6-bit scales per 16",
                                       "3 + (16·6 + 16)/256 = 3.4375"));
    table.push_back(kRow<Format::Q4_K>("q4_k", "Q4_K", 4, ggml_type::kQ4_K,
                                       "GGUF K-quant: 256 per super-block, 4-bit codes, 6-bit scales and mins per 32",
                                       "4 + (8·12 + 32)/256 = 4.5"));
    table.push_back(kRow<Format::Q5_K>("q5_k", "Q5_K", 5, ggml_type::kQ5_K,
                                       "GGUF K-quant: 256 per super-block, 5-bit codes, 6-bit scales and mins per 32",
                                       "5 + (8·12 + 32)/256 = 5.5"));
    table.push_back(kRow<Format::Q6_K>("q6_k", "Q6_K", 6, ggml_type::kQ6_K,
                                       "GGUF K-quant: 256 per super-block, 6-bit codes, 8-bit scales per 16",
                                       "6 + (16·8 + 16)/256 = 6.5625"));
}

// ---- shared helpers of every block format -------------------------------------------------------

const RowKernels* rowKernels(Format f)
{
    for (auto span : {ggufLegacyKernels(), ggufKQuantKernels(), floatBlockKernels()})
        for (const auto& k : span)
            if (k.format == f)
                return &k;
    return nullptr;
}

double blockBitsPerWeight(const QuantSpec& spec, const Shape& shape)
{
    const FormatTraits& t = formatTraits(spec.format);
    (void)shape;
    return 8.0 * double(t.blockBytes) / double(t.blockSize);
}

std::vector<double> blockLevels(const QuantResult& r, std::int64_t segment)
{
    std::vector<double> out;
    const FormatTraits& t = formatTraits(r.spec.format);
    if (segment < 0 || t.blockSize <= 0 || (segment + 1) * t.blockSize > numel(r.shape))
        return out;
    std::vector<float> vals;
    if (!r.dequant.empty()) {
        vals.assign(r.dequant.begin() + segment * t.blockSize, r.dequant.begin() + (segment + 1) * t.blockSize);
    } else if (t.decodeBlocks && std::int64_t(r.blocks.size()) >= (segment + 1) * t.blockBytes) {
        vals.resize(static_cast<std::size_t>(t.blockSize));
        t.decodeBlocks(r.blocks.data() + segment * t.blockBytes, 1, vals.data());
    }
    std::set<double> s;
    for (float v : vals)
        if (std::isfinite(v))
            s.insert(double(v));
    out.assign(s.begin(), s.end());
    return out;
}

} // namespace ql
