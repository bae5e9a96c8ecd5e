// GGUF K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (super-blocks of 256 with quantized sub-block scales).
//
// Encoders (weights per element: 1, or the importance weights when given):
//  Q2_K: 16 sub-blocks of 16, one affine fit (nmax 3: codes over [min(x, 0), max], then the
//        least-squares scale and min), then 4-bit scales and mins against fp16 super-scales max/15.
//  Q3_K: 16 sub-blocks of 16, one symmetric fit (nmax 4: the value of largest magnitude on code
//        −4, then the least-squares scale), then 6-bit signed scales against an fp16 super-scale
//        max/−32.
//  Q4_K: 8 sub-blocks of 32, the best of three affine fits (nmax 15, steps (15 − 0.6 … 15 + 0.6)
//        / (max − min)), then 6-bit scales and mins against fp16 super-scales max/63.
//  Q5_K: 8 sub-blocks of 32, one affine fit (nmax 31), scales as Q4_K.
//  Q6_K: 16 sub-blocks of 16, the two symmetric fits (nmax 32: code −32 or −31), then 8-bit
//        signed scales against an fp16 super-scale max/−128.
// Then each quantized scale (and min) code is refined by ±1 against the true error (not Q3_K's:
// that gains 0.1 dB for 40% more time), and every code is recomputed against the stored scales,
// so x̂ is the nearest point of the final grid.
// ggml's reference quantizers search 16 to 22 candidate scales per sub-block with weights x², |x|
// or rms + |x|; with the refinement, these few fits reach a higher SQNR on N(0,1) and Student-t3
// data at a fraction of the cost. The fast encoders handle all sub-blocks of a super-block at once
// (one sub-block per lane of the reduced sums); the references, a sub-block at a time, give the
// same bytes.

#include "core/formats/block_search.h"
#include "core/formats/format_driver.h"
#include "core/formats/gguf_formats.h"
#include "core/formats/lane_batch.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cfloat>
#include <cstddef>
#include <cmath>
#include <cstring>
#include <set>
#include <vector>

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
    for (int k = 0; k < 8; ++k)
        s[k] = std::uint8_t((l[k] & 0xF) | (l[k + 8] & 0xF) << 4);
    for (int i = 0; i < 4; ++i)  // value 4g + i: bits 2g, 2g + 1 of byte 8 + i
        s[8 + i] = std::uint8_t(((l[i] >> 4) & 3) | ((l[4 + i] >> 4) & 3) << 2 | ((l[8 + i] >> 4) & 3) << 4 |
                                ((l[12 + i] >> 4) & 3) << 6);
}

/// The next super-block's 1 KiB of input, requested while this one is encoded (a super-block takes a
/// few hundred ns, time enough; the hardware prefetcher of some virtual machines does not).
inline void prefetchNextSuperBlock(const float* xb)
{
    batch::prefetchLines(xb, kQKK * sizeof(float), kQKK * sizeof(float));
}

// 2-bit packing of Q2_K/Q3_K: per 128-half, byte l holds elements l, l+32, l+64, l+96.
// Bytes are packed 32 at a time in GCC vectors.
using U8x32 = std::uint8_t __attribute__((vector_size(32)));
inline U8x32 load32(const std::uint8_t* p)
{
    U8x32 v;
    std::memcpy(&v, p, 32);
    return v;
}

// The low 2 bits of each code (codes < 4 for Q2_K; Q3_K masks them).
inline void pack2Bits(const std::uint8_t* L, std::uint8_t* qs, std::uint8_t mask = 0xFF)
{
    for (int h = 0; h < 2; ++h) {
        const std::uint8_t* e = L + 128 * h;
        const U8x32 q = (load32(e) & mask) | (load32(e + 32) & mask) << 2 | (load32(e + 64) & mask) << 4 |
                        (load32(e + 96) & mask) << 6;
        std::memcpy(qs + 32 * h, &q, 32);
    }
}


// The codes clamp(round((x + add)·inv), lo, hi) + off of N values (N a multiple of 16), 16 at a
// time: GCC 12 turns the float-to-byte conversion of a plain loop into per-element code.
template <int N>
inline void storeCodes(const float* x, float add, float inv, float lo, float hi, float off, std::uint8_t* L)
{
    static_assert(N % 16 == 0);
    using search::Lanes16;
    const Lanes16 vlo = Lanes16{} + lo, vhi = Lanes16{} + hi;
    for (int k = 0; k < N; k += 16) {
        const Lanes16 r = search::roundLanes((search::lanesOf(x + k) + add) * inv);
        const Lanes16 q = search::minLanes(search::maxLanes(r, vlo), vhi);
        batch::storeBytes(batch::toInts(q + off), L + k);
    }
}

// The affine fits of the NSUB sub-blocks of N values of one super-block (Q2_K, Q4_K, Q5_K), a few
// candidates instead of a search: with min = min(x, 0), candidate c has the codes
// l = clamp(round((x − min)·(nmax + δ_c) / (max − min)), 0, nmax), δ in AffDeltas, and the least-squares
// scale and minimum for them (the minimum kept ≤ 0: where the free fit's is positive, the scale
// alone with minimum 0), whose weighted error is Σwx² − (s·Σwxl + m·Σwx). For fixed codes that fit
// is never worse than the plain step, so the candidate of least error wins (the first on a tie);
// where no candidate has a fit (a singular system or a non-finite result) the plain step of
// candidate 0 stays. Sub-block j's sums are reduced in lane j (lane_batch.h), all sub-blocks at
// once; constant sub-blocks get scale 0 and their value as minimum. w: importance weights, or
// nullptr for weights 1. mins[j] = −min. affineFitsRef is the same fit a sub-block at a time, with
// the same sums (in laneSum's order) and the same bits.
template <int NC>
struct AffDeltas;
template <>
struct AffDeltas<1> {  // Q2_K, Q5_K
    static constexpr float v[1] = {0.0f};
};
template <>
struct AffDeltas<3> {  // Q4_K
    static constexpr float v[3] = {-0.6f, 0.0f, 0.6f};
};

template <int NSUB, int N, int NC>
[[gnu::noinline]] void affineFitsRtn(const float* x, const float* w, int nmax, float* scales, float* mins)
{
    static_assert(NSUB * N == kQKK && N % 16 == 0);
    using search::Lanes16;
    using search::lanesOf;
    constexpr int V = N / 16;  // vectors per sub-block
    Lanes16 lo[16] = {}, hi[16] = {}, sw[16] = {}, sx[16] = {};
    for (int j = 0; j < NSUB; ++j) {
        lo[j] = hi[j] = lanesOf(x + N * j);
        for (int k = 0; k < V; ++k) {
            const Lanes16 xv = lanesOf(x + N * j + 16 * k), wv = w ? lanesOf(w + N * j + 16 * k) : Lanes16{} + 1.0f;
            lo[j] = search::minLanes(lo[j], xv);
            hi[j] = search::maxLanes(hi[j], xv);
            sw[j] += wv;
            sx[j] += w ? wv * xv : xv;
        }
    }
    const Lanes16 mx = batch::reduce16(hi, batch::Max{});
    const Lanes16 mn = search::minLanes(batch::reduce16(lo, batch::Min{}), Lanes16{});
    const Lanes16 SW = batch::reduce16(sw, batch::Add{}), SX = batch::reduce16(sx, batch::Add{});
    const search::Ints16 live = mx != mn;
    const Lanes16 range = live ? mx - mn : Lanes16{} + 1.0f;
    const Lanes16 top = Lanes16{} + float(nmax);
    Lanes16 best = Lanes16{} - INFINITY, scale{}, min{};
    for (int c = 0; c < NC; ++c) {
        const Lanes16 is = live ? (float(nmax) + AffDeltas<NC>::v[c]) / range : Lanes16{};
        if (c == 0) {  // the plain step, where no candidate fits
            scale = live ? 1.0f / (live ? is : Lanes16{} + 1.0f) : Lanes16{};
            min = mn;
        }
        Lanes16 a[16] = {}, b[16] = {}, e[16] = {};
        for (int j = 0; j < NSUB; ++j)
            for (int k = 0; k < V; ++k) {
                const Lanes16 xv = lanesOf(x + N * j + 16 * k);
                // ≥ 0 without a clamp: is ≥ 0 and x − min ≥ 0.
                const Lanes16 l = search::minLanes(search::roundLanes(is[j] * (xv - mn[j])), top);
                const Lanes16 wl = w ? lanesOf(w + N * j + 16 * k) * l : l;
                a[j] += wl;
                b[j] += wl * l;
                e[j] += wl * xv;
            }
        const Lanes16 SL = batch::reduce16(a, batch::Add{}), SL2 = batch::reduce16(b, batch::Add{});
        const Lanes16 SXL = batch::reduce16(e, batch::Add{});
        const Lanes16 D = SW * SL2 - SL * SL;
        const Lanes16 Dz = D > 0.0f ? D : Lanes16{} + 1.0f;
        Lanes16 ts = (SW * SXL - SX * SL) / Dz, tm = (SL2 * SX - SL * SXL) / Dz;
        const search::Ints16 positiveMin = tm > 0.0f;
        ts = positiveMin ? SXL / (SL2 > 0.0f ? SL2 : Lanes16{} + 1.0f) : ts;
        tm = positiveMin ? Lanes16{} : tm;
        const Lanes16 gain = ts * SXL + tm * SX;
        const search::Ints16 better =
            live & (D > 0.0f) & (gain == gain) & (~positiveMin | (SL2 > 0.0f)) & (gain > best);
        scale = better ? ts : scale;
        min = better ? tm : min;
        best = better ? gain : best;
    }
    for (int j = 0; j < NSUB; ++j) {
        scales[j] = scale[j];
        mins[j] = -min[j];
    }
}

// The symmetric fits of the 16 sub-blocks of 16 values of one super-block (Q3_K, Q6_K), one or
// two candidates instead of a search: with m the value of largest magnitude (the positive one on a
// tie), the codes q = clamp(round(x·(nmax + δ) / −m), −nmax, nmax − 1) for δ in SymDeltas (δ = 0:
// m on the end of the code range; δ = −1: one below it), each with its least-squares scale
// s = Σwqx / Σwq², whose weighted error is Σwx² − s·Σwqx; the larger s·Σwqx wins, the first on a
// tie. Sub-block j's sums are reduced in lane j, all sub-blocks at once; all-zero sub-blocks get
// scale 0. w: importance weights, or nullptr for weights 1. symFitsRef is the same fit a sub-block
// at a time, with the same sums (in laneSum's order) and the same bits.
template <int NMAX>
struct SymDeltas;
template <>
struct SymDeltas<4> {  // Q3_K: one candidate; a second gains 0.1 dB for 15% more time
    static constexpr float v[1] = {0.0f};
};
template <>
struct SymDeltas<32> {  // Q6_K: with one candidate it would fall 0.3 dB short of ggml's SQNR
    static constexpr float v[2] = {-1.0f, 0.0f};
};

template <int NMAX>
[[gnu::noinline]] void symFitsRtn(const float* x, const float* w, float* scales)
{
    using search::Lanes16;
    using search::lanesOf;
    Lanes16 hi[16], lo[16];
    for (int j = 0; j < 16; ++j)
        hi[j] = lo[j] = lanesOf(x + 16 * j);
    const Lanes16 mx = batch::reduce16(hi, batch::Max{}), mn = batch::reduce16(lo, batch::Min{});
    const Lanes16 m = mx >= -mn ? mx : mn;
    const search::Ints16 live = m != 0.0f;
    const Lanes16 vlo = Lanes16{} - float(NMAX), vhi = Lanes16{} + float(NMAX - 1);
    Lanes16 best = Lanes16{} - INFINITY, scale = {};
    for (float delta : SymDeltas<NMAX>::v) {
        const Lanes16 iv = live ? -(float(NMAX) + delta) / (live ? m : Lanes16{} + 1.0f) : Lanes16{};
        Lanes16 px[16], p2[16];
        for (int j = 0; j < 16; ++j) {
            const Lanes16 xv = lanesOf(x + 16 * j);
            const Lanes16 q = search::minLanes(search::maxLanes(search::roundLanes(xv * iv[j]), vlo), vhi);
            const Lanes16 wq = w ? lanesOf(w + 16 * j) * q : q;
            px[j] = wq * xv;
            p2[j] = wq * q;
        }
        const Lanes16 sqx = batch::reduce16(px, batch::Add{}), sq2 = batch::reduce16(p2, batch::Add{});
        const Lanes16 s = sq2 > 0.0f ? sqx / (sq2 > 0.0f ? sq2 : Lanes16{} + 1.0f) : Lanes16{};
        const Lanes16 gain = sq2 > 0.0f ? s * sqx : Lanes16{} - INFINITY;
        scale = gain > best ? s : scale;
        best = gain > best ? gain : best;
    }
    scale = live ? scale : Lanes16{};
    std::memcpy(scales, &scale, sizeof scale);
}

// The references of affineFitsRtn and symFitsRtn: scalar code, one sub-block at a time, with each
// sum built in 16 lane partials (element i in partial i mod 16) and finished by laneSum.
inline float partialSum(const float* p)
{
    return search::laneSum(search::lanesOf(p));
}

template <int NSUB, int N, int NC>
void affineFitsRef(const float* x, const float* w, int nmax, float* scales, float* mins)
{
    for (int j = 0; j < NSUB; ++j) {
        const float* xs = x + N * j;
        const float* ws = w ? w + N * j : nullptr;
        float lo = xs[0], hi = xs[0];
        alignas(64) float pw[16] = {}, px[16] = {};
        for (int i = 0; i < N; ++i) {
            const float wi = ws ? ws[i] : 1.0f;
            lo = std::min(lo, xs[i]);
            hi = std::max(hi, xs[i]);
            pw[i % 16] += wi;
            px[i % 16] += ws ? wi * xs[i] : xs[i];
        }
        const float mn = std::min(lo, 0.0f);
        mins[j] = -mn;
        scales[j] = 0.0f;
        if (hi == mn)
            continue;
        const float SW = partialSum(pw), SX = partialSum(px);
        float best = -INFINITY;
        for (int c = 0; c < NC; ++c) {
            const float is = (float(nmax) + AffDeltas<NC>::v[c]) / (hi - mn);
            if (c == 0)
                scales[j] = 1.0f / is;
            alignas(64) float pa[16] = {}, pb[16] = {}, pc[16] = {};
            for (int i = 0; i < N; ++i) {
                const float l = std::min(search::roundMagic(is * (xs[i] - mn)), float(nmax));
                const float wl = ws ? ws[i] * l : l;
                pa[i % 16] += wl;
                pb[i % 16] += wl * l;
                pc[i % 16] += wl * xs[i];
            }
            const float SL = partialSum(pa), SL2 = partialSum(pb), SXL = partialSum(pc);
            const float D = SW * SL2 - SL * SL;
            if (!(D > 0.0f))
                continue;
            float ts = (SW * SXL - SX * SL) / D, tm = (SL2 * SX - SL * SXL) / D;
            if (tm > 0.0f) {
                if (!(SL2 > 0.0f))
                    continue;
                ts = SXL / SL2;
                tm = 0.0f;
            }
            const float gain = ts * SXL + tm * SX;
            if (gain == gain && gain > best) {
                best = gain;
                scales[j] = ts;
                mins[j] = -tm;
            }
        }
    }
}

template <int NMAX>
void symFitsRef(const float* x, const float* w, float* scales)
{
    for (int j = 0; j < 16; ++j) {
        const float* xs = x + 16 * j;
        float mx = xs[0], mn = xs[0];
        for (int i = 1; i < 16; ++i) {
            mx = std::max(mx, xs[i]);
            mn = std::min(mn, xs[i]);
        }
        const float m = mx >= -mn ? mx : mn;
        scales[j] = 0.0f;
        if (m == 0.0f)
            continue;
        float best = -INFINITY;
        for (float delta : SymDeltas<NMAX>::v) {
            const float iv = -(float(NMAX) + delta) / m;
            alignas(64) float px[16], p2[16];
            for (int i = 0; i < 16; ++i) {
                const float q = search::clampf(search::roundMagic(xs[i] * iv), -float(NMAX), float(NMAX - 1));
                const float wq = w ? w[16 * j + i] * q : q;
                px[i] = wq * xs[i];
                p2[i] = wq * q;
            }
            const float sqx = partialSum(px), sq2 = partialSum(p2);
            if (!(sq2 > 0.0f))
                continue;
            const float s = sqx / sq2, gain = s * sqx;
            if (gain > best) {
                best = gain;
                scales[j] = s;
            }
        }
    }
}

// Refinement of the quantized sub-block scale (and minimum) codes: each code ±1 (within range) is
// tried against the final grid and the pair with the smallest squared error (importance-weighted
// when given) is kept; the current pair wins ties. A sub-block at a time: the references' form
// (refineAffineCodesBatch and refineSymmetricCodes16 are the fast encoders').
template <int N>
[[gnu::noinline]] void refineAffineCodes(const float* x, const float* w, float d, float dmin, int nmax, int maxCode,
                                         int& sc, int& m)
{
    // The nine (scale, min) code pairs around the rounded ones, kOrder[0] the current pair. Each
    // pair's weighted squared error is summed with the elements in lanes (N / 16 vectors), then the
    // nine partial vectors are reduced together (pair k's total in lane k). The first pair of least
    // error in kOrder wins, out-of-range pairs never do.
    static_assert(N % 16 == 0);
    static constexpr int kOrder[9][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {-1, 1}, {1, -1}, {1, 1}};
    using search::Lanes16;
    Lanes16 xv[N / 16], wv[N / 16];
    for (int k = 0; k < N / 16; ++k) {
        xv[k] = search::lanesOf(x + 16 * k);
        wv[k] = w ? search::lanesOf(w + 16 * k) : Lanes16{};
    }
    const Lanes16 zero = {}, top = Lanes16{} + float(nmax);
    // The nine steps, minima and inverse steps in lanes (one vector division).
    constexpr Lanes16 kDs = {0, -1, 1, 0, 0, -1, -1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
    constexpr Lanes16 kDm = {0, 0, 0, -1, 1, -1, 1, -1, 1, 0, 0, 0, 0, 0, 0, 0};
    const Lanes16 dlv = d * (float(sc) + kDs), mlv = dmin * (float(m) + kDm);
    const Lanes16 invv = dlv != 0.0f ? 1.0f / (dlv != 0.0f ? dlv : Lanes16{} + 1.0f) : Lanes16{};
    // The pairs within [0, maxCode], as a lane mask and as bits.
    constexpr search::Ints16 kPairs = {-1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0};
    const Lanes16 s2v = float(sc) + kDs, m2v = float(m) + kDm, hiv = Lanes16{} + float(maxCode);
    const search::Ints16 inRange = kPairs & (s2v >= 0.0f) & (s2v <= hiv) & (m2v >= 0.0f) & (m2v <= hiv);
    const unsigned valid = search::laneBits(inRange);
    Lanes16 part[16] = {};
    for (int p = 0; p < 9; ++p) {
        if (!(valid >> p & 1))
            continue;
        const float dl = dlv[p], ml = mlv[p], inv = invv[p];
        Lanes16 e = {};
        for (int k = 0; k < N / 16; ++k) {
            const Lanes16 t = xv[k] + ml;  // x − (−ml): the value relative to the sub-block's minimum
            const Lanes16 q = search::minLanes(search::maxLanes(search::roundLanes(t * inv), zero), top);
            const Lanes16 v = dl * q - t;
            e += w ? wv[k] * v * v : v * v;
        }
        part[p] = e;
    }
    const Lanes16 e = batch::reduce16(part, batch::Add{});
    // The first pair of least error among the valid ones, without a branch per pair (the current
    // pair is always valid; a NaN error of it keeps it, as a sequential scan would).
    if (!(e[0] == e[0]))
        return;
    const Lanes16 scored = (inRange != 0) & (e == e) ? e : Lanes16{} + INFINITY;
    const int best = std::countr_zero(search::laneBits(scored == search::laneMin(scored)));
    sc += kOrder[best][0];
    m += kOrder[best][1];
}

// refineAffineCodes for the NSUB sub-blocks of N values of a super-block at once (sub-block j in
// lane j): the same nine pairs, errors and choice, each pair's NSUB errors reduced together (in
// laneSum's order, so the same bits).
template <int NSUB, int N>
[[gnu::noinline]] void refineAffineCodesBatch(const float* x, const float* w, float d, float dmin, int nmax,
                                              int maxCode, int* sc, int* m)
{
    static_assert(NSUB * N == kQKK && N % 16 == 0);
    static constexpr int kOrder[9][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {-1, 1}, {1, -1}, {1, 1}};
    using search::Lanes16;
    using search::lanesOf;
    constexpr int V = N / 16;
    alignas(64) float scf[16] = {}, mf[16] = {};
    for (int j = 0; j < NSUB; ++j) {
        scf[j] = float(sc[j]);
        mf[j] = float(m[j]);
    }
    const Lanes16 s0 = lanesOf(scf), m0 = lanesOf(mf), zero = {}, top = Lanes16{} + float(nmax);
    const Lanes16 hiCode = Lanes16{} + float(maxCode);
    Lanes16 bestE = {};
    search::Ints16 bestP = {};
    for (int p = 0; p < 9; ++p) {
        const Lanes16 s2 = s0 + float(kOrder[p][0]), m2 = m0 + float(kOrder[p][1]);
        const search::Ints16 valid = (s2 >= 0.0f) & (s2 <= hiCode) & (m2 >= 0.0f) & (m2 <= hiCode);
        if (p > 0 && batch::allTrue(~valid))
            continue;
        const Lanes16 dl = d * s2, ml = dmin * m2;
        const Lanes16 inv = dl != 0.0f ? 1.0f / (dl != 0.0f ? dl : Lanes16{} + 1.0f) : Lanes16{};
        Lanes16 part[16] = {};
        for (int j = 0; j < NSUB; ++j) {
            Lanes16 e = {};
            for (int k = 0; k < V; ++k) {
                const Lanes16 t = lanesOf(x + N * j + 16 * k) + ml[j];
                const Lanes16 q = search::minLanes(search::maxLanes(search::roundLanes(t * inv[j]), zero), top);
                const Lanes16 v = dl[j] * q - t;
                e += w ? lanesOf(w + N * j + 16 * k) * v * v : v * v;
            }
            part[j] = e;
        }
        const Lanes16 ep = batch::reduce16(part, batch::Add{});
        if (p == 0) {
            bestE = ep;
            continue;
        }
        const search::Ints16 better = valid & (ep < bestE);
        bestE = better ? ep : bestE;
        bestP = better ? search::Ints16{} + p : bestP;
    }
    for (int j = 0; j < NSUB; ++j) {
        sc[j] += kOrder[bestP[j]][0];
        m[j] += kOrder[bestP[j]][1];
    }
}

template <int N>
[[gnu::noinline]] void refineSymmetricCode(const float* x, const float* w, float d, int qlo, int qhi, int codeLo,
                                           int codeHi, int& code)
{
    // The scale codes code, code − 1 and code + 1: each one's weighted squared error is summed
    // with the elements in lanes, then reduced by laneSum. The first of least error wins.
    static_assert(N % 16 == 0);
    static constexpr int kDc[3] = {0, -1, 1};
    using search::Lanes16;
    Lanes16 xv[N / 16], wv[N / 16];
    for (int k = 0; k < N / 16; ++k) {
        xv[k] = search::lanesOf(x + 16 * k);
        wv[k] = w ? search::lanesOf(w + 16 * k) : Lanes16{};
    }
    const Lanes16 lo = Lanes16{} + float(qlo), hi = Lanes16{} + float(qhi);
    const Lanes16 dlv = d * (float(code) + Lanes16{0, -1, 1});
    const Lanes16 invv = dlv != 0.0f ? 1.0f / (dlv != 0.0f ? dlv : Lanes16{} + 1.0f) : Lanes16{};
    Lanes16 part[3] = {};
    bool valid[3];
    for (int c = 0; c < 3; ++c) {
        const int s2 = code + kDc[c];
        valid[c] = s2 >= codeLo && s2 <= codeHi;
        if (!valid[c])
            continue;
        const float dl = dlv[c], inv = invv[c];
        Lanes16 e = {};
        for (int k = 0; k < N / 16; ++k) {
            const Lanes16 q = search::minLanes(search::maxLanes(search::roundLanes(xv[k] * inv), lo), hi);
            const Lanes16 v = dl * q - xv[k];
            e += w ? wv[k] * v * v : v * v;
        }
        part[c] = e;
    }
    // Three sums by laneSum (the tree reduce16 uses, in fewer steps for three vectors).
    const float e[3] = {search::laneSum(part[0]), search::laneSum(part[1]), search::laneSum(part[2])};
    int best = 0;
    for (int k = 1; k < 3; ++k)
        best = valid[k] && (!valid[best] || e[k] < e[best]) ? k : best;
    if (valid[best])
        code += kDc[best];
}

// ---------------------------------------------------------------------------------------------
// Exact grids: encode(decode(encode(x))) == encode(x).
//
// A K-quant block decodes to y = (d·s)·q (Q3_K, Q6_K) or y = (d·sc)·q − dmin·m (Q2_K, Q4_K, Q5_K).
// d and dmin are fp16 and s, sc, m, q small integers, so d·s, d·s·q and dmin·m are exact in float:
// a decoded block is a set of exact lattice points. The searches do not come back to the stored
// block when they refit such data (their candidate steps miss the stored step when the codes do not
// span the full range, the super-block scales are refit from refit sub-block scales, and the ±1
// refinement moves), so the encoders work the other way round:
//  * recover…(x) first asks whether x already is the exact decode of a block. A test of the first
//    sub-block (are its values exact multiples of one of nmax candidate steps?) rejects ordinary
//    data after a few elements. On a lattice it rebuilds d, dmin, the sub-block scales and the codes
//    from the values alone, taking among all blocks with this decode a fixed canonical one.
//  * canonical…() brings a freshly searched block to that canonical form without changing its
//    decode. When the block's magnitudes are provably unique (the usual case, checked from its
//    codes) only signs can differ and are normalised in place; otherwise (constant or coarse
//    sub-blocks, common factors of all codes) it runs the recovery on the block's own decode.
// Neither step looks at the importance weights, and one compiled instance (noinline) serves the
// fast and the reference encoders. Canonical choices, in order:
//  symmetric: the smallest |d|; then d > 0; per sub-block the largest |s|, then the sign that gives
//    the sub-block's first largest value a negative code (the searches' own convention); all-zero
//    sub-blocks s = 0, codes 0.
//  affine: the smallest d; then dmin = 0, else the smallest dmin; per sub-block the finest step
//    (largest span), then the lowest first code; constant sub-blocks prefer sc = 0, then the
//    largest sc and code.
// An all-zero block is the block the search produces for zeros.

struct SymParams {  // Q3_K, Q6_K before packing
    std::uint16_t d = 0;    ///< fp16 bits
    int s[16] = {};         ///< signed sub-block scale codes
    std::uint8_t L[kQKK];   ///< q + nq
};

struct AffParams {  // Q2_K, Q4_K, Q5_K before packing
    std::uint16_t d = 0, dmin = 0;
    int sc[16] = {}, m[16] = {};
    std::uint8_t L[kQKK];  ///< q ∈ [0, nq]
};

/// The fp16 value nearest to v > 0 (ties to even; +Inf above the fp16 range), as float: the same
/// as fromF16(toF16(v)), inline for the candidate loops of the recovery.
inline float roundToHalf(float v)
{
    if (!(v < 65520.0f))
        return INFINITY;
    if (v < 0x1p-14f)  // subnormal fp16: multiples of 2^-24
        return std::nearbyint(v * 0x1p24f) * 0x1p-24f;
    std::uint32_t u = std::bit_cast<std::uint32_t>(v);
    u = (u + 0xFFFu + ((u >> 13) & 1u)) & ~0x1FFFu;  // keep 11 significant bits
    return std::bit_cast<float>(u);
}

inline bool isHalfExact(float v)
{
    return v > 0.0f ? roundToHalf(v) == v : v == 0.0f || roundToHalf(-v) == -v;
}

inline bool anyLane(search::Ints16 m)
{
    std::uint64_t w[8];
    std::memcpy(w, &m, sizeof w);
    return ((w[0] | w[1]) | (w[2] | w[3]) | ((w[4] | w[5]) | (w[6] | w[7]))) != 0;
}

/// Bit k − 1 is set for each k in 1..kmax such that every v[i] (0 ≤ v ≤ top) is n·(top/k) for an
/// integer n, within tol (0: exactly, in float arithmetic as the decoders compute it). k rides in 32
/// SIMD lanes; ordinary data clears every lane within the first few elements.
template <int N, int KMAX>
std::uint32_t stepMask(const float* v, float top, float tol)
{
    static_assert(KMAX <= 32);
    constexpr int kmax = KMAX;
    using search::Lanes16;
    alignas(64) float ks[32];
    for (int c = 0; c < 32; ++c)
        ks[c] = float(c + 1);
    const Lanes16 ka = search::lanesOf(ks), kb = search::lanesOf(ks + 16);
    const Lanes16 da = top / ka, db = top / kb;  // candidate steps
    const Lanes16 ra = ka / top, rb = kb / top;  // their inverses (only to round to a code)
    const float km = float(kmax);
    auto near = [tol](Lanes16 a, float b) {
        const Lanes16 e = a - b;
        return (e < 0.0f ? -e : e) <= tol;
    };
    search::Ints16 oka = (ka <= km) & near(da * ka, top), okb = (kb <= km) & near(db * kb, top);
    for (int i = 0; i < N; ++i) {
        const float vi = v[i];
        oka &= near(da * search::roundMagic(vi * ra), vi);
        if constexpr (KMAX > 16)
            okb &= near(db * search::roundMagic(vi * rb), vi);
        if ((i & 3) == 3 && !anyLane(KMAX > 16 ? oka | okb : oka))
            return 0;
    }
    std::uint32_t mask = 0;
    for (int c = 0; c < 16; ++c)
        mask |= (oka[c] ? 1u : 0u) << c | (okb[c] ? 1u : 0u) << (c + 16);
    return mask;
}

inline void sortUnique(float* v, int& n)
{
    std::sort(v, v + n);
    n = int(std::unique(v, v + n) - v);
}

inline void sortUnique(std::vector<float>& v)
{
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
}

/// gcd(|a|, |b|) (gcd(0, b) = |b|), binary: shifts and subtractions, no division.
inline int gcdInt(int a, int b)
{
    unsigned u = unsigned(a < 0 ? -a : a), v = unsigned(b < 0 ? -b : b);
    if (u == 0 || v == 0)
        return int(u | v);
    const int shift = std::countr_zero(u | v);
    u >>= std::countr_zero(u);
    do {
        v >>= std::countr_zero(v);
        if (u > v)
            std::swap(u, v);
        v -= u;
    } while (v != 0);
    return int(u << shift);
}

// ---- symmetric lattices (Q3_K: q ∈ [−4, 3], s ∈ [−32, 31]; Q6_K: q ∈ [−32, 31], s ∈ [−128, 127]) --

template <int NQ, int NS>
void symZeroBlock(SymParams& p)
{
    p.d = 0;
    // Q3_K leaves the packed scales of a zero block at 0 (s = −32), as ggml does.
    for (int& s : p.s)
        s = NQ == 4 ? -NS : 0;
    std::memset(p.L, NQ, sizeof p.L);
}

/// The sign σ of the step d·s of one sub-block for a super-scale of sign sd, or 0 if neither fits.
/// topPos / topNeg: some value of magnitude NQ·|step| is positive / negative (only the code −NQ
/// exists); firstNeg: the sub-block's first largest value is negative. s = +NS does not exist.
template <int NQ, int NS>
inline int pickStepSign(int absS, int sd, bool topPos, bool topNeg, bool firstNeg)
{
    const int pref = firstNeg ? 1 : -1;  // the code's sign is sign(y)·σ: make the first largest negative
    for (int sigma : {pref, -pref}) {
        if (absS == NS && sd * sigma > 0)
            continue;
        if (sigma > 0 ? topPos : topNeg)
            continue;
        return sigma;
    }
    return 0;
}

/// Builds the canonical sub-blocks for |d| = dd of sign sd from the integer magnitudes
/// N[i] = |x[i]| / dd; false if some sub-block has no representation.
template <int NQ, int NS>
bool buildSym(const float* x, const int* N, float dd, int sd, SymParams& p)
{
    for (int j = 0; j < 16; ++j) {
        const int* Nj = N + 16 * j;
        const float* xj = x + 16 * j;
        int g = 0, nmx = 0, e = 0;
        for (int i = 0; i < 16; ++i) {
            if (Nj[i] > nmx) {
                nmx = Nj[i];
                e = i;
            }
            g = gcdInt(g, Nj[i]);
        }
        if (nmx == 0) {
            p.s[j] = 0;
            std::memset(p.L + 16 * j, NQ, 16);
            continue;
        }
        int absS = 0, sigma = 0;
        for (int a = std::min(g, NS); a >= 1; --a) {
            if (g % a != 0)
                continue;
            if (nmx > NQ * a)
                break;
            bool topPos = false, topNeg = false;
            for (int i = 0; i < 16; ++i)
                if (Nj[i] == NQ * a)
                    (xj[i] > 0.0f ? topPos : topNeg) = true;
            sigma = pickStepSign<NQ, NS>(a, sd, topPos, topNeg, xj[e] < 0.0f);
            if (sigma != 0) {
                absS = a;
                break;
            }
        }
        if (absS == 0)
            return false;
        p.s[j] = sd * sigma * absS;
        for (int i = 0; i < 16; ++i) {
            const int q = (xj[i] < 0.0f ? -sigma : sigma) * (Nj[i] / absS);
            p.L[16 * j + i] = std::uint8_t(q + NQ);
        }
    }
    p.d = toF16(float(sd) * dd);
    const float d = fromF16(p.d);
    for (int j = 0; j < 16; ++j) {  // as the decoders compute it
        const float dl = d * float(p.s[j]);
        for (int i = 0; i < 16; ++i)
            if (!(dl * float(int(p.L[16 * j + i]) - NQ) == x[16 * j + i]))
                return false;
    }
    return true;
}

/// If x is exactly the decode of some symmetric K-quant block, writes the canonical one and returns
/// true. Cost on ordinary data: the max of the first sub-block and a few lanes of stepMask.
template <int NQ, int NS>
[[gnu::noinline]] bool recoverSym(const float* x, SymParams& p)
{
    int j0 = 0;
    float m0 = 0.0f;
    for (; j0 < 16; ++j0) {
        m0 = search::laneAbsMax<16>(x + 16 * j0);
        if (m0 > 0.0f)
            break;
    }
    if (j0 == 16) {
        symZeroBlock<NQ, NS>(p);
        return true;
    }
    alignas(64) float ax[kQKK];
    for (int i = 0; i < 16; ++i)
        ax[16 * j0 + i] = std::fabs(x[16 * j0 + i]);
    const std::uint32_t k0 = stepMask<16, NQ>(ax + 16 * j0, m0, 0.0f);
    if (k0 == 0)
        return false;
    for (int i = 0; i < kQKK; ++i) {
        ax[i] = std::fabs(x[i]);
        if (!(ax[i] <= FLT_MAX))
            return false;
    }
    // Every lattice with this decode has |d|·|s_j0| = m0 / k for some k of the mask.
    float cand[NQ * NS];
    int nc = 0;
    for (int k = 1; k <= NQ; ++k) {
        if (!(k0 >> (k - 1) & 1u))
            continue;
        const float dl = m0 / float(k);
        for (int s = 1; s <= NS; ++s) {
            const float dd = dl / float(s);
            if (dd * float(s) == dl && isHalfExact(dd))
                cand[nc++] = dd;
        }
    }
    sortUnique(cand, nc);
    int N[kQKK];
    for (int c = 0; c < nc; ++c) {
        const float dd = cand[c], inv = 1.0f / dd;
        bool ok = true;
        for (int i = 0; i < kQKK && ok; ++i) {
            const float n = search::roundMagic(ax[i] * inv);
            ok = dd * n == ax[i] && n <= float(NQ * NS);
            N[i] = int(n);
        }
        if (!ok)
            continue;
        for (int sd : {1, -1})
            if (buildSym<NQ, NS>(x, N, dd, sd, p))
                return true;
    }
    return false;
}

/// gcd of the magnitudes whose bits are set in `present` (bit a: some |q| = a; bit 0 ignored).
/// Two adjacent magnitudes are coprime, which settles the usual case without a division.
inline int presentGcd(std::uint64_t present)
{
    present &= ~std::uint64_t(1);
    if ((present & 2) || (present & (present >> 1)))
        return 1;
    int g = 0;
    for (; present; present &= present - 1)
        g = gcdInt(g, __builtin_ctzll(present));
    return g;
}

/// Bit v is set when one of the N bytes equals v (every byte < 64): 16 bytes per step in two
/// 32-bit halves when N is a multiple of 16, else 8 bytes per 64-bit-lane step.
template <int N>
inline std::uint64_t presentBits(const std::uint8_t* v)
{
    if constexpr (N % 16 == 0) {  // 16 bytes per step in 32-bit lanes while every code is < 32
        using U32x16 = std::uint32_t __attribute__((vector_size(64)));
        U32x16 lo = {}, hi = {};
        for (int k = 0; k < N; k += 16) {
            const U32x16 c = U32x16(batch::loadBytes(v + k));
            lo |= (c < 32u) & ((U32x16{} + 1u) << (c & 31u));
            hi |= (c >= 32u) & ((U32x16{} + 1u) << (c & 31u));
        }
        const auto orAll = [](U32x16 a) {
            return std::uint32_t(search::laneReduce(a, [](U32x16 x, U32x16 y) { return x | y; }));
        };
        return std::uint64_t(orAll(lo)) | std::uint64_t(orAll(hi)) << 32;
    }
    using U8x8 = std::uint8_t __attribute__((vector_size(8)));
    using U64x8 = std::uint64_t __attribute__((vector_size(64)));
    using I64x8 = std::int64_t __attribute__((vector_size(64)));
    U64x8 acc = {};
    for (int k = 0; k < N; k += 8) {
        U8x8 b;
        std::memcpy(&b, v + k, 8);
        acc |= (U64x8{} + 1) << __builtin_convertvector(b, U64x8);
    }
    acc |= __builtin_shuffle(acc, I64x8{4, 5, 6, 7, 0, 1, 2, 3});
    acc |= __builtin_shuffle(acc, I64x8{2, 3, 0, 1, 6, 7, 4, 5});
    acc |= __builtin_shuffle(acc, I64x8{1, 0, 3, 2, 5, 4, 7, 6});
    return acc[0];
}


/// Code magnitudes of one 16-element sub-block (stored codes L = q + NQ): the largest, the index
/// of its first occurrence, and the magnitudes present (bit a for |q| = a, a ≥ 1).
template <int NQ>
inline void symSubStats(const std::uint8_t* L, int& qmax, int& first, std::uint64_t& present)
{
    using search::Ints16;
    const Ints16 v = batch::loadBytes(L) - NQ;
    const Ints16 mag = v < 0 ? -v : v;
    const Ints16 one = Ints16{} + 1;
    const Ints16 bits = (mag > 0) & (one << ((mag - 1) & 31));  // |q| ≤ 32: bit a − 1
    present = std::uint64_t(std::uint32_t(search::laneReduce(bits, [](Ints16 a, Ints16 c) { return a | c; }))) << 1;
    qmax = search::laneReduce(mag, [](Ints16 a, Ints16 c) { return a > c ? a : c; });
    const Ints16 idx = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    first = search::laneReduce(mag == qmax ? idx : Ints16{} + 16, [](Ints16 a, Ints16 c) { return a < c ? a : c; });
}

/// Canonical form of a searched symmetric block (same decode).
template <int NQ, int NS>
[[gnu::noinline]] void canonicalSym(SymParams& p)
{
    const float d = fromF16(p.d);
    bool any = false, unique = d != 0.0f;
    int G = 0, nAll = 0;
    int qmax[16], first[16];
    for (int j = 0; j < 16; ++j) {
        std::uint8_t* L = p.L + 16 * j;
        std::uint64_t present;
        symSubStats<NQ>(L, qmax[j], first[j], present);
        if (p.s[j] == 0 || qmax[j] == 0) {  // decodes to zeros
            p.s[j] = 0;
            std::memset(L, NQ, 16);
            continue;
        }
        any = true;
        // The canonical |s| is the largest one with the same products s·q; a larger one needs a
        // common factor of the codes, so gcd 1 settles it. (A smaller |s| is never taken instead:
        // unless a code is −NQ, this |s| fits with either sign of d.)
        const int g = presentGcd(present);
        if (g != 1)
            unique = false;
        nAll = std::max(nAll, std::abs(p.s[j]) * qmax[j]);
        if (G != 1)
            G = gcdInt(G, std::abs(p.s[j]) * g);
    }
    if (d == 0.0f || !any) {
        symZeroBlock<NQ, NS>(p);
        return;
    }
    // A smaller |d| would multiply every product N = |s·q| by p/r > 1 with r | G = gcd(N); the
    // least such factor is (G + 1)/G, so none fits when it lifts the largest N above NQ·NS.
    if (!unique || (G + 1) * nAll <= NQ * NS * G) {
        alignas(64) float y[kQKK];
        for (int j = 0; j < 16; ++j) {
            const float dl = d * float(p.s[j]);
            for (int i = 0; i < 16; ++i)
                y[16 * j + i] = dl * float(int(p.L[16 * j + i]) - NQ);
        }
        SymParams r;
        if (recoverSym<NQ, NS>(y, r))
            p = r;
        return;
    }
    // Unique magnitudes: the signs as buildSym chooses them. sign(y) = sign(d·s)·sign(q); a top
    // magnitude NQ only occurs as the code −NQ, i.e. with sign(y) = −sign(d·s).
    int sigma[16] = {};
    int sd = 0;
    for (int sdTry : {1, -1}) {
        bool ok = true;
        for (int j = 0; j < 16 && ok; ++j) {
            if (p.s[j] == 0)
                continue;
            const bool dsNeg = (d < 0.0f) != (p.s[j] < 0);
            const bool top = qmax[j] == NQ;
            const bool firstNeg = dsNeg != (int(p.L[16 * j + first[j]]) < NQ);
            sigma[j] = pickStepSign<NQ, NS>(std::abs(p.s[j]), sdTry, top && dsNeg, top && !dsNeg, firstNeg);
            ok = sigma[j] != 0;
        }
        if (ok) {
            sd = sdTry;
            break;
        }
    }
    if (sd == 0)
        return;  // unreachable: the block's own signs fit
    for (int j = 0; j < 16; ++j) {
        if (p.s[j] == 0)
            continue;
        // The new step sign is sigma; the codes flip when it differs from the old one, sign(d·s).
        const bool dsNeg = (d < 0.0f) != (p.s[j] < 0);
        if ((sigma[j] < 0) != dsNeg) {
            using U8x16 = std::uint8_t __attribute__((vector_size(16)));
            U8x16 v;
            std::memcpy(&v, p.L + 16 * j, 16);
            v = std::uint8_t(2 * NQ) - v;
            std::memcpy(p.L + 16 * j, &v, 16);
        }
        p.s[j] = sd * sigma[j] * std::abs(p.s[j]);
    }
    p.d = std::uint16_t(sd > 0 ? (p.d & 0x7FFFu) : (p.d | 0x8000u));
}

using U8x16 = std::uint8_t __attribute__((vector_size(16)));
using U8x64 = std::uint8_t __attribute__((vector_size(64)));

/// 64 bytes that were just stored 16 at a time (the codes of four sub-blocks), by four 16-byte
/// loads: each takes its bytes from one pending store, where one 64-byte load would wait for all
/// four to reach the cache.
inline U8x64 load64As16s(const std::uint8_t* p)
{
    U8x64 v;
#if defined(__AVX512F__)
    __m512i r = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    r = _mm512_inserti32x4(r, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)), 1);
    r = _mm512_inserti32x4(r, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32)), 2);
    r = _mm512_inserti32x4(r, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 48)), 3);
    std::memcpy(&v, &r, 64);
#else
    std::memcpy(&v, p, 64);
#endif
    return v;
}

/// A 64-byte index or lookup vector built at compile time: entry p = f(p). Loaded from a constant
/// table (a vector built element by element is assembled on the stack in 16-byte pieces and then
/// loaded whole, which waits for the pieces to be stored).
using ByteTable = std::array<std::uint8_t, 64>;
template <typename F>
constexpr ByteTable byteTable(F f)
{
    ByteTable t{};
    for (int p = 0; p < 64; ++p)
        t[std::size_t(p)] = std::uint8_t(f(p));
    return t;
}
inline U8x64 load(const ByteTable& t)
{
    U8x64 v;
    std::memcpy(&v, t.data(), 64);
    return v;
}

// The halving levels of reduceSubBlockBytes: level 1 takes sub-block j's bytes k and k + 8 (8 sub-
// blocks from two registers, 8 bytes each), level 2 k and k + 4 (16 sub-blocks from two), level 3
// k and k + 2, level 4 k and k + 1.
alignas(64) constexpr ByteTable kHalve1 =
    byteTable([](int p) { return (p / 8 < 4 ? 0 : 64) + 16 * (p / 8 % 4) + p % 8; });
alignas(64) constexpr ByteTable kHalve2 =
    byteTable([](int p) { return (p / 4 < 8 ? 0 : 64) + 8 * (p / 4 % 8) + p % 4; });
alignas(64) constexpr ByteTable kHalve3 = byteTable([](int p) { return 4 * (p % 32 / 2) + p % 2; });
alignas(64) constexpr ByteTable kHalve4 = byteTable([](int p) { return 2 * (p % 16); });

/// r[j] = op over the 16 bytes of sub-block j (bytes 16j … 16j + 15 of the 256 in v[0..3]): four
/// halving levels of byte permutes, the first two taking their halves from two registers.
template <typename Op>
inline U8x16 reduceSubBlockBytes(const U8x64* v, Op op)
{
    const U8x64 h1 = load(kHalve1), h2 = load(kHalve2), h3 = load(kHalve3), h4 = load(kHalve4);
    auto two = [&](U8x64 a, U8x64 b, U8x64 idx, std::uint8_t half) {
        return op(__builtin_shuffle(a, b, idx), __builtin_shuffle(a, b, idx + half));
    };
    const U8x64 u0 = two(v[0], v[1], h1, 8), u1 = two(v[2], v[3], h1, 8);
    const U8x64 w = two(u0, u1, h2, 4);
    const U8x64 z = op(__builtin_shuffle(w, h3), __builtin_shuffle(w, h3 + 2));
    const U8x64 r = op(__builtin_shuffle(z, h4), __builtin_shuffle(z, h4 + 1));
    U8x16 out;
    std::memcpy(&out, &r, 16);
    return out;
}

/// The low byte of each of 16 int lanes, as the first 16 bytes of a 64-byte vector (the rest 0),
/// without a round trip through memory.
inline U8x64 lowBytes64(search::Ints16 v)
{
    U8x64 r;
#if defined(__AVX512F__)
    __m512i x;
    std::memcpy(&x, &v, 64);
    const __m512i b = _mm512_zextsi128_si512(_mm512_maskz_cvtepi32_epi8(0xFFFF, x));  // masked: see loadBytes
    std::memcpy(&r, &b, 64);
#else
    r = U8x64{};
    for (int i = 0; i < 16; ++i)
        r[i] = std::uint8_t(v[i]);
#endif
    return r;
}

// Q3_K's 8 stored codes L = q + 4: the canonical-form key bits (|q| << 5 | sign) and the magnitude
// bit (bit |q| − 1), and each byte's position part of the key ((15 − position) << 1).
alignas(64) constexpr ByteTable kQ3Key = byteTable([](int c) {
    const int q = c - 4, mag = q < 0 ? -q : q;
    return c < 8 ? (mag << 5) | (q < 0 ? 1 : 0) : 0;
});
alignas(64) constexpr ByteTable kQ3Bit = byteTable([](int c) {
    const int q = c - 4, mag = q < 0 ? -q : q;
    return c < 8 && mag > 0 ? 1 << (mag - 1) : 0;
});
alignas(64) constexpr ByteTable kKeyPos = byteTable([](int p) { return (15 - p % 16) << 1; });
alignas(64) constexpr ByteTable kSpread = byteTable([](int p) { return p / 16; });  // byte → sub-block (of 4)

/// canonicalSym for the usual block, all 16 sub-blocks in lanes: the code statistics come from
/// two reductions (the largest magnitude with its first position and sign in one key, the
/// magnitudes present in a bit set), the sign choice of pickStepSign runs lane-wise. A block the
/// shortcut does not settle (zero, a sub-block whose magnitudes share a factor, or one that may
/// have a smaller |d|) goes to canonicalSym, so the result is always canonicalSym's.
template <int NQ, int NS>
[[gnu::noinline]] void canonicalSymFast(SymParams& p)
{
    using search::Ints16;
    const float d = fromF16(p.d);
    if (d == 0.0f) {
        canonicalSym<NQ, NS>(p);
        return;
    }
    // The largest key of a sub-block is its largest magnitude at its first position; bit 0 is its
    // sign. Bit |q| − 1 of `present` is set when magnitude |q| ≥ 1 occurs.
    Ints16 top, present;
    if constexpr (NQ == 4) {
        // Q3_K's 8 codes: key and magnitude bit by table, all in bytes (a key fits in 8 bits).
        const U8x64 keyOf = load(kQ3Key), bitOf = load(kQ3Bit), pos = load(kKeyPos);
        U8x64 key[4], bits[4];
        for (int g = 0; g < 4; ++g) {
            const U8x64 v = load64As16s(p.L + 64 * g);
            key[g] = __builtin_shuffle(keyOf, v) | pos;
            bits[g] = __builtin_shuffle(bitOf, v);
        }
        top = __builtin_convertvector(reduceSubBlockBytes(key, [](U8x64 a, U8x64 c) { return a > c ? a : c; }), Ints16);
        present = __builtin_convertvector(reduceSubBlockBytes(bits, [](U8x64 a, U8x64 c) { return a | c; }), Ints16);
    } else {
        const Ints16 idx = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
        Ints16 key[16], bits[16];
        for (int j = 0; j < 16; ++j) {
            const Ints16 q = batch::loadBytes(p.L + 16 * j) - NQ;
            const Ints16 mag = q < 0 ? -q : q;
            key[j] = (mag << 5) | ((15 - idx) << 1) | (q < 0 ? Ints16{} + 1 : Ints16{});
            bits[j] = (mag > 0) & ((Ints16{} + 1) << ((mag - 1) & 31));  // |q| ≤ 32
        }
        top = batch::reduce16(key, [](Ints16 a, Ints16 c) { return a > c ? a : c; });
        present = batch::reduce16(bits, [](Ints16 a, Ints16 c) { return a | c; });
    }
    Ints16 s;
    std::memcpy(&s, p.s, sizeof s);
    const Ints16 qmax = top >> 5, negFirst = top & 1;
    const Ints16 live = (s != 0) & (qmax != 0);
    // Magnitudes 1 or two adjacent ones present: gcd 1, the sub-block's |s| is its largest.
    const Ints16 coprime = ((present & 1) | (present & (present >> 1))) != 0;
    const Ints16 absS = s < 0 ? -s : s;
    if (!batch::allTrue(~live | coprime) || batch::allTrue(~live)) {
        canonicalSym<NQ, NS>(p);
        return;
    }
    // A smaller |d| may exist when (G + 1)·nAll ≤ NQ·NS·G, G the gcd of the live |s|, i.e. when
    // G·(NQ·NS − nAll) ≥ nAll. G ≤ the least live |s|, so the gcd is needed only when that bound
    // could reach the threshold.
    const Ints16 n = live ? absS * qmax : Ints16{};
    const int nAll = search::laneReduce(n, [](Ints16 a, Ints16 c) { return a > c ? a : c; });
    const int slack = NQ * NS - nAll;
    const int minS = search::laneReduce(live ? absS : Ints16{} + NS, [](Ints16 a, Ints16 c) { return a < c ? a : c; });
    if (slack > 0 && minS * slack >= nAll) {
        int G = 0;  // only falls as sub-blocks are added: stop once below the threshold
        for (int j = 0; j < 16 && (G == 0 || G * slack >= nAll); ++j)
            if (live[j])
                G = G == 0 ? absS[j] : gcdInt(G, absS[j]);
        if (G * slack >= nAll) {
            canonicalSym<NQ, NS>(p);
            return;
        }
    }
    // pickStepSign in lanes: σ = pref unless excluded, else −pref unless excluded, else 0.
    const Ints16 dsNeg = (s < 0) ^ (d < 0.0f ? Ints16{} - 1 : Ints16{});
    const Ints16 isTop = qmax == NQ;
    const Ints16 topPos = isTop & dsNeg, topNeg = isTop & ~dsNeg;
    const Ints16 firstNeg = dsNeg ^ (negFirst != 0);
    const Ints16 pref = firstNeg ? Ints16{} + 1 : Ints16{} - 1;
    auto sigmaFor = [&](int sd) {
        auto excluded = [&](Ints16 sigma) {
            return ((absS == NS) & (sigma * sd > 0)) | (sigma > 0 ? topPos : topNeg);
        };
        return excluded(pref) == 0 ? pref : (excluded(-pref) == 0 ? -pref : Ints16{});
    };
    int sd = 1;
    Ints16 sigma = sigmaFor(1);
    if (!batch::allTrue(~live | (sigma != 0))) {
        sd = -1;
        sigma = sigmaFor(-1);
        if (!batch::allTrue(~live | (sigma != 0)))
            return;  // unreachable: the block's own signs fit
    }
    const Ints16 flip = live & ((sigma < 0) ^ dsNeg);
    const Ints16 sNew = live ? sd * sigma * absS : Ints16{};
    // Without branches (the flips follow the data's signs, which no predictor learns), 64 codes at
    // a time: the lane masks become bytes, and one byte permute spreads sub-block j's to its 16
    // codes.
    const U8x64 flipB = lowBytes64(flip), liveB = lowBytes64(live), spread0 = load(kSpread);
    for (int g = 0; g < 4; ++g) {
        std::uint8_t* L = p.L + 64 * g;
        const U8x64 spread = spread0 + std::uint8_t(4 * g);  // byte k → sub-block 4g + k / 16
        const U8x64 f = __builtin_shuffle(flipB, spread), l = __builtin_shuffle(liveB, spread);
        U8x64 v;
        std::memcpy(&v, L, 64);
        v = (v & ~f) | ((std::uint8_t(2 * NQ) - v) & f);
        v = (v & l) | ((U8x64{} + std::uint8_t(NQ)) & ~l);
        std::memcpy(L, &v, 64);
    }
    std::memcpy(p.s, &sNew, sizeof sNew);
    p.d = std::uint16_t(sd > 0 ? (p.d & 0x7FFFu) : (p.d | 0x8000u));
}

// ---- affine lattices (Q2_K: q ∈ [0, 3], sc, m ∈ [0, 15]; Q4_K/Q5_K: q ∈ [0, 15 / 31], [0, 63]) -----

template <int NSUB, int NQ, int S>
struct AffLattice {
    static constexpr int kLen = kQKK / NSUB;
    const float* x = nullptr;
    /// Allowance for the rounding of dl·q − ml (exact unless d and dmin are far apart): candidates
    /// are generated within it, and accepted only if they decode to x exactly.
    float tol = 0.0f;
    float lo[NSUB], hi[NSUB];
    std::uint32_t K[NSUB];  ///< stepMask of each non-constant sub-block

    float step(int j, int k) const { return (hi[j] - lo[j]) / float(k); }
    bool near(float a, float b) const { return std::fabs(a - b) <= tol; }

    /// Calls f with the positive fp16 values nearest to v (the rounding of v and its neighbours).
    template <typename F>
    static void halvesNear(float v, F&& f)
    {
        if (!(v > 0.0f) || !(v <= 65504.0f))
            return;
        const float h = roundToHalf(v);
        // Neighbours: 2^-24 apart below 2^-14, else one step of the 11-bit significand (the float
        // bit pattern ± 2^13, which also crosses a power of two correctly).
        const std::uint32_t u = std::bit_cast<std::uint32_t>(h);
        const float down = h <= 0x1p-14f ? h - 0x1p-24f : std::bit_cast<float>(u - 0x2000u);
        const float up = h < 0x1p-14f ? h + 0x1p-24f : std::bit_cast<float>(u + 0x2000u);
        if (down > 0.0f)
            f(down);
        f(h);
        if (up <= 65504.0f)
            f(up);
    }

    /// The scale code of step k of sub-block j for super-scale dd, or 0 if none fits.
    int scaleCode(int j, int k, float dd) const
    {
        const float st = step(j, k);
        const float sc = search::roundMagic(st / dd);
        return sc >= 1.0f && sc <= float(S) && near(dd * sc, st) ? int(sc) : 0;
    }

    /// Non-constant sub-block j with steps `mask` for (dd, dm): the finest fitting step first, then
    /// the lowest first code.
    bool solveRange(int j, std::uint32_t mask, float dd, float dm, AffParams& p) const
    {
        const float* xj = x + kLen * j;
        for (int k = NQ; k >= 1; --k) {
            if (!(mask >> (k - 1) & 1u))
                continue;
            const int sc = scaleCode(j, k, dd);
            const float dl = dd * float(sc), inv = 1.0f / dl;
            for (int q0 = 0; q0 <= NQ - k; ++q0) {
                const float mlEst = dl * float(q0) - lo[j];
                int m = 0;
                if (dm == 0.0f) {
                    if (!near(mlEst, 0.0f))
                        continue;
                } else {
                    m = int(search::roundMagic(mlEst / dm));
                    if (m < 0 || m > S || !near(dm * float(m), mlEst))
                        continue;
                }
                const float ml = dm * float(m);
                bool ok = true;
                for (int i = 0; i < kLen && ok; ++i) {
                    const int q = q0 + int(search::roundMagic((xj[i] - lo[j]) * inv));
                    ok = q >= 0 && q <= NQ && dl * float(q) - ml == xj[i];
                    p.L[kLen * j + i] = std::uint8_t(q);
                }
                if (ok) {
                    p.sc[j] = sc;
                    p.m[j] = m;
                    return true;
                }
            }
        }
        return false;
    }

    /// Constant sub-block j (value c): sc = 0 first, then the largest sc and code.
    bool solveConst(int j, float dd, float dm, AffParams& p) const
    {
        const float c = lo[j];
        auto fitMin = [&](float v, int& m) {  // v − dmin·m == c for some m in [0, S]
            if (dm == 0.0f) {
                m = 0;
                return v == c;
            }
            m = int(search::roundMagic((v - c) / dm));
            return m >= 0 && m <= S && v - dm * float(m) == c;
        };
        int sc = -1, m = 0, qc = 0;
        if (fitMin(0.0f, m))
            sc = 0;
        for (int s = S; s >= 1 && sc < 0 && dd > 0.0f; --s) {
            const float dl = dd * float(s);
            for (int q = NQ; q >= 1; --q)
                if (fitMin(dl * float(q), m)) {
                    sc = s;
                    qc = q;
                    break;
                }
        }
        if (sc < 0)
            return false;
        p.sc[j] = sc;
        p.m[j] = m;
        std::memset(p.L + kLen * j, qc, kLen);
        return true;
    }

    bool solveAll(const std::uint32_t* steps, float dd, float dm, AffParams& p) const
    {
        for (int j = 0; j < NSUB; ++j)
            if (!(hi[j] > lo[j] ? solveRange(j, steps[j], dd, dm, p) : solveConst(j, dd, dm, p)))
                return false;
        p.d = toF16(dd);
        p.dmin = toF16(dm);
        return true;
    }

    /// Appends dmin candidates: ml / m near an fp16 value, for the offsets ml > 0 sub-block j admits.
    void minCandidates(int j, std::uint32_t mask, float dd, std::vector<float>& out) const
    {
        auto add = [&](float mlEst) {
            for (int m = 1; m <= S; ++m)
                halvesNear(mlEst / float(m), [&](float dm) {
                    if (near(dm * float(m), mlEst))
                        out.push_back(dm);
                });
        };
        if (!(hi[j] > lo[j])) {
            if (lo[j] < 0.0f)
                add(-lo[j]);
            return;
        }
        for (int k = 1; k <= NQ; ++k) {
            if (!(mask >> (k - 1) & 1u))
                continue;
            const float dl = dd * float(scaleCode(j, k, dd));
            for (int q0 = 0; q0 <= NQ - k; ++q0) {
                const float mlEst = dl * float(q0) - lo[j];
                if (mlEst > tol)
                    add(mlEst);
            }
        }
    }
};

/// If x is exactly the decode of some affine K-quant block (d, dmin ≥ 0), writes the canonical one
/// and returns true. Cost on ordinary data: max |x|, min/max of the first sub-block and stepMask.
template <int NSUB, int NQ, int S>
[[gnu::noinline]] bool recoverAff(const float* x, AffParams& p)
{
    using Lat = AffLattice<NSUB, NQ, S>;
    constexpr int kLen = Lat::kLen;
    Lat g;
    g.x = x;
    g.tol = search::laneAbsMax<kQKK>(x) * 0x1p-21f;  // 4 ulp of the largest value
    int j0 = -1;
    for (int j = 0; j < NSUB; ++j) {
        const float* xj = x + kLen * j;
        // Extremes in lanes (exact: the order does not matter).
        search::Lanes16 vlo = search::lanesOf(xj), vhi = vlo;
        for (int i = 16; i < kLen; i += 16) {
            vlo = search::minLanes(vlo, search::lanesOf(xj + i));
            vhi = search::maxLanes(vhi, search::lanesOf(xj + i));
        }
        const float lo = search::laneMin(vlo), hi = search::laneMax(vhi);
        if (!(lo <= hi))
            return false;  // a NaN: no decode
        g.lo[j] = lo;
        g.hi[j] = hi;
        g.K[j] = 0;
        if (hi > lo) {
            float v[kLen];
            for (int i = 0; i < kLen; ++i)
                v[i] = xj[i] - lo;
            g.K[j] = stepMask<kLen, NQ>(v, hi - lo, g.tol);
            if (g.K[j] == 0)
                return false;
            if (j0 < 0)
                j0 = j;
        }
    }
    for (int i = 0; i < kQKK; ++i)
        if (!(std::fabs(x[i]) <= FLT_MAX))
            return false;
    // Lattice data only from here on.
    std::vector<float> ds, dms;
    if (j0 >= 0) {
        // Every lattice has d·sc_j0 = (hi − lo) / k for a step k of the first non-constant sub-block.
        for (int k = 1; k <= NQ; ++k) {
            if (!(g.K[j0] >> (k - 1) & 1u))
                continue;
            const float st = g.step(j0, k);
            for (int sc = 1; sc <= S; ++sc)
                Lat::halvesNear(st / float(sc), [&](float dd) {
                    if (g.near(dd * float(sc), st))
                        ds.push_back(dd);
                });
        }
        sortUnique(ds);
        // dmin > 0 comes from the first non-constant sub-block with a negative value (its offset
        // ml is > 0, so m ≥ 1), else from every sub-block.
        int src = -1;
        for (int j = 0; j < NSUB && src < 0; ++j)
            if (g.hi[j] > g.lo[j] && g.lo[j] < 0.0f)
                src = j;
        for (float dd : ds) {
            std::uint32_t steps[NSUB] = {};
            bool fits = true;
            for (int j = 0; j < NSUB && fits; ++j) {
                if (!(g.hi[j] > g.lo[j]))
                    continue;
                for (int k = 1; k <= NQ; ++k)
                    if ((g.K[j] >> (k - 1) & 1u) && g.scaleCode(j, k, dd) != 0)
                        steps[j] |= 1u << (k - 1);
                fits = steps[j] != 0;
            }
            if (!fits)
                continue;
            if (g.solveAll(steps, dd, 0.0f, p))
                return true;
            dms.clear();
            for (int j = 0; j < NSUB; ++j)
                if (src < 0 || j == src)
                    g.minCandidates(j, steps[j], dd, dms);
            sortUnique(dms);
            for (float dm : dms)
                if (g.solveAll(steps, dd, dm, p))
                    return true;
        }
        return false;
    }
    // Every sub-block constant: d from the first positive value c = d·sc·q (m = 0), dmin from the
    // first negative one c = −dmin·m (sc = 0); d = 0 or dmin = 0 when there are none.
    const std::uint32_t none[NSUB] = {};
    int firstNeg = -1, firstPos = -1;
    for (int j = 0; j < NSUB; ++j) {
        if (g.lo[j] < 0.0f && firstNeg < 0)
            firstNeg = j;
        if (g.lo[j] > 0.0f && firstPos < 0)
            firstPos = j;
    }
    if (firstNeg < 0 && firstPos < 0) {
        p = AffParams{};
        std::memset(p.L, 0, sizeof p.L);
        return true;
    }
    if (firstPos < 0)
        ds.push_back(0.0f);
    else
        for (int sc = 1; sc <= S; ++sc)
            for (int q = 1; q <= NQ; ++q) {
                const float c = g.lo[firstPos];
                Lat::halvesNear(c / float(sc * q), [&](float dd) {
                    if ((dd * float(sc)) * float(q) == c)
                        ds.push_back(dd);
                });
            }
    if (firstNeg < 0)
        dms.push_back(0.0f);
    else
        for (int m = 1; m <= S; ++m) {
            const float c = g.lo[firstNeg];
            Lat::halvesNear(-c / float(m), [&](float dm) {
                if (0.0f - dm * float(m) == c)
                    dms.push_back(dm);
            });
        }
    sortUnique(ds);
    sortUnique(dms);
    for (float dd : ds)
        for (float dm : dms)
            if (g.solveAll(none, dd, dm, p))
                return true;
    return false;
}

/// True when every value d·sc·q − dmin·m of the block is exact in float (so differences of decoded
/// values are exact and the recovery sees the lattice): all are multiples of the finer fp16 spacing
/// u of d and dmin and below 2^23·u. Arguments: the fp16 bits of d, dmin ≥ 0.
template <int NQ, int S>
inline bool affineExact(std::uint16_t dBits, std::uint16_t dminBits)
{
    // fp16 exponent field e: spacing 2^(max(e, 1) − 25); 2^23 times it as float bits.
    auto top = [](std::uint16_t h) {
        const int e = std::max(int(h >> 10), 1);
        return std::bit_cast<float>(std::uint32_t(e - 25 + 23 + 127) << 23);
    };
    float lim = top(dBits);
    if (dminBits != 0)
        lim = std::min(lim, top(dminBits));
    return std::max(fromF16(dBits) * float(S * NQ), fromF16(dminBits) * float(S)) < lim;
}

/// Canonical form of a searched affine block (same decode).
template <int NSUB, int NQ, int S>
[[gnu::noinline]] void canonicalAff(AffParams& p)
{
    constexpr int kLen = kQKK / NSUB;
    const float d = fromF16(p.d), dmin = fromF16(p.dmin);
    std::uint64_t present[NSUB];
    for (int j = 0; j < NSUB; ++j)
        present[j] = presentBits<kLen>(p.L + kLen * j);
    bool zero = true;
    for (int j = 0; j < NSUB && zero; ++j)
        zero = dmin * float(p.m[j]) == 0.0f && (d * float(p.sc[j]) == 0.0f || present[j] == 1);
    if (zero) {
        p = AffParams{};
        std::memset(p.L, 0, sizeof p.L);
        return;
    }
    // Already canonical when d > 0, the values are exact, each sub-block has one step, no smaller d
    // fits the scale codes, and (dmin > 0) no smaller dmin fits the mins of the full-span
    // sub-blocks while no other sub-block can move its codes by t with (ml + t·step)/dmin an
    // integer in [0, S]. Otherwise the recovery decides.
    bool unique = d > 0.0f && dmin >= 0.0f && affineExact<NQ, S>(p.d, p.dmin);
    int gs = 0, maxSc = 0, gF = 0, maxF = 0;
    const double invDmin = dmin > 0.0f ? 1.0 / double(dmin) : 0.0;
    for (int j = 0; j < NSUB && unique; ++j) {
        const int lo = __builtin_ctzll(present[j]), hi = 63 - __builtin_clzll(present[j]);
        // gcd of the offsets q − lo (two adjacent codes make it 1).
        const int g = presentGcd(present[j] >> lo);
        // One step per sub-block: no coarser one (gcd 1) and no finer one, which would need a
        // divisor b of sc with b·span ≤ NQ (the canonical choice is the finest step).
        bool finer = false;
        for (int b = 2; b * (hi - lo) <= NQ && !finer; ++b)
            finer = p.sc[j] % b == 0;
        if (p.sc[j] == 0 || g != 1 || finer) {
            unique = false;
            break;
        }
        if (gs != 1)  // gcd(1, ·) = 1: the usual case after a few sub-blocks
            gs = gcdInt(gs, p.sc[j]);
        maxSc = std::max(maxSc, p.sc[j]);
        if (dmin > 0.0f) {
            if (hi - lo == NQ) {
                if (p.m[j] > 0) {
                    if (gF != 1)
                        gF = gcdInt(gF, p.m[j]);
                    maxF = std::max(maxF, p.m[j]);
                }
            } else {
                // Products of fp16 values and small integers are exact in double.
                const double dl = double(d) * p.sc[j];
                for (int t = -lo; t <= NQ - hi && unique; ++t) {
                    const double shift = t * dl, k = std::nearbyint(shift * invDmin);
                    if (t != 0 && k * double(dmin) == shift && p.m[j] + k >= 0.0 && p.m[j] + k <= double(S))
                        unique = false;
                }
            }
        }
    }
    // The smallest d (and dmin) is canonical: a smaller one would scale every code by at least
    // (g + 1)/g for g the gcd of the codes, which lifts the largest above S.
    unique = unique && (gs + 1) * maxSc > S * gs && (dmin == 0.0f || (gF + 1) * maxF > S * gF);
    if (unique)
        return;
    alignas(64) float y[kQKK];
    for (int j = 0; j < NSUB; ++j) {
        const float dl = d * float(p.sc[j]), ml = dmin * float(p.m[j]);
        for (int i = 0; i < kLen; ++i)
            y[kLen * j + i] = dl * float(p.L[kLen * j + i]) - ml;
    }
    AffParams r;
    if (recoverAff<NSUB, NQ, S>(y, r))
        p = r;
}

// ---------------------------------------------------------------------------------------------
// Q2_K

template <bool kFast>
void searchQ2K(const float* xb, const float* ib, AffParams& p)
{
    // restrict: the compiler may not assume that stores of codes leave the input unchanged.
    std::uint8_t* __restrict L = p.L;
    // One round-to-nearest fit per sub-block, weights 1 (or the importance): with the refinement of
    // the quantized scale and min codes below, this beats ggml's search (17 candidates, weights
    // |x|) by 0.9 / 1.5 dB on N(0,1) / Student-t3 data, and a search with |x| weights by 0.1 dB.
    float scales[16], mins[16];
    if constexpr (kFast)
        affineFitsRtn<16, 16, 1>(xb, ib, 3, scales, mins);
    else
        affineFitsRef<16, 16, 1>(xb, ib, 3, scales, mins);
    float maxScale = 0.0f, maxMin = 0.0f;
    for (int j = 0; j < 16; ++j) {
        maxScale = std::max(maxScale, scales[j]);
        maxMin = std::max(maxMin, mins[j]);
    }
    if (maxScale > 0.0f) {
        const float is = 15.0f / maxScale;
        for (int j = 0; j < 16; ++j)
            p.sc[j] = std::min(15, nearestInt(is * scales[j]));
        p.d = toF16(maxScale / 15.0f);
    }
    if (maxMin > 0.0f) {
        const float is = 15.0f / maxMin;
        for (int j = 0; j < 16; ++j)
            p.m[j] = std::min(15, nearestInt(is * mins[j]));
        p.dmin = toF16(maxMin / 15.0f);
    }
    const float d = fromF16(p.d), dmin = fromF16(p.dmin);
    if constexpr (kFast)
        refineAffineCodesBatch<16, 16>(xb, ib, d, dmin, 3, 15, p.sc, p.m);
    else
        for (int j = 0; j < 16; ++j)
            refineAffineCodes<16>(xb + 16 * j, ib ? ib + 16 * j : nullptr, d, dmin, 3, 15, p.sc[j], p.m[j]);
    for (int j = 0; j < 16; ++j) {
        const float dl = d * float(p.sc[j]);
        std::uint8_t* Ls = L + 16 * j;
        if (dl == 0.0f) {  // a constant sub-block: codes 0
            std::memset(Ls, 0, 16);
            continue;
        }
        const float inv = 1.0f / dl;
        const float dm = dmin * float(p.m[j]);
        const float* xs = xb + 16 * j;
        storeCodes<16>(xs, dm, inv, 0.0f, 3.0f, 0.0f, Ls);
    }
}

void packQ2K(const AffParams& p, std::uint8_t* dst)
{
    // Straight into dst, part by part (see packQ3K).
    for (int j = 0; j < 16; ++j)
        dst[offsetof(BlockQ2K, scales) + j] = std::uint8_t(p.sc[j] | (p.m[j] << 4));
    pack2Bits(p.L, dst + offsetof(BlockQ2K, qs));
    std::memcpy(dst + offsetof(BlockQ2K, d), &p.d, 2);
    std::memcpy(dst + offsetof(BlockQ2K, dmin), &p.dmin, 2);
}

template <bool kFast>
void encodeQ2KImpl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t b = 0; b < n / kQKK; ++b) {
        prefetchNextSuperBlock(x + b * kQKK);
        const float* xb = x + b * kQKK;
        AffParams p;
        if (!recoverAff<16, 3, 15>(xb, p)) {
            searchQ2K<kFast>(xb, imp ? imp + b * kQKK : nullptr, p);
            canonicalAff<16, 3, 15>(p);
        }
        packQ2K(p, dst + b * sizeof(BlockQ2K));
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

// The ±1 refinement of the 16 scale codes c of a symmetric super-block at once (sub-block j in
// lane j): refineSymmetricCode's candidates, errors and choice, each candidate's 16 errors reduced
// together (in laneSum's order, so the same bits).
template <int NQ, int S>
[[gnu::noinline]] void refineSymmetricCodes16(const float* x, const float* w, float d, int* code)
{
    using search::Lanes16;
    using search::lanesOf;
    alignas(64) float cf[16];
    for (int j = 0; j < 16; ++j)
        cf[j] = float(code[j]);
    const Lanes16 c0 = lanesOf(cf), lo = Lanes16{} - float(NQ), hi = Lanes16{} + float(NQ - 1);
    Lanes16 best = c0, bestE = {};
    for (float delta : {0.0f, -1.0f, 1.0f}) {
        const Lanes16 c = c0 + delta, dl = d * c;
        const Lanes16 inv = dl != 0.0f ? 1.0f / (dl != 0.0f ? dl : Lanes16{} + 1.0f) : Lanes16{};
        Lanes16 part[16];
        for (int j = 0; j < 16; ++j) {
            const Lanes16 xv = lanesOf(x + 16 * j);
            const Lanes16 q = search::minLanes(search::maxLanes(search::roundLanes(xv * inv[j]), lo), hi);
            const Lanes16 v = dl[j] * q - xv;
            part[j] = w ? lanesOf(w + 16 * j) * v * v : v * v;
        }
        const Lanes16 e = batch::reduce16(part, batch::Add{});
        if (delta == 0.0f) {
            bestE = e;
            continue;
        }
        const search::Ints16 better = (c >= -float(S)) & (c <= float(S - 1)) & (e < bestE);
        best = better ? c : best;
        bestE = better ? e : bestE;
    }
    const search::Ints16 bi = batch::toInts(best);  // one store, as symFinish's
    std::memcpy(code, &bi, sizeof bi);
}

// The rest of a symmetric super-block after its sub-block fits: d = fp16(maxScale / −S), scale
// codes nearest(scale / d) in [−S, S − 1] (the largest maps to −S), each refined by ±1 except for
// Q3_K (the fast path all at once, the reference a sub-block at a time), then every code recomputed against its
// stored scale (codes in [−NQ, NQ − 1], stored offset by NQ).
template <bool kFast, int NQ, int S>
void symFinish(const float* xb, const float* ib, const float* scales, float maxScale, SymParams& p, std::uint8_t* L)
{
    using search::Lanes16;
    const float is = -float(S) / maxScale;
    p.d = toF16(1.0f / is);
    const float d = fromF16(p.d);
    alignas(64) float inv[16];
    if constexpr (kFast) {  // the same operations in lanes
        const Lanes16 c = batch::clampLanes(search::roundLanes(is * search::lanesOf(scales)), -float(S), float(S - 1));
        // One 64-byte store: the canonical form loads the 16 codes as one vector, and a load that
        // spans several earlier stores waits for them to reach the cache.
        const search::Ints16 ci = batch::toInts(c);
        std::memcpy(p.s, &ci, sizeof ci);
        // Q3_K keeps its rounded scale codes: the refinement would gain 0.1 dB for 40% more time.
        if constexpr (NQ != 4)
            refineSymmetricCodes16<NQ, S>(xb, ib, d, p.s);
        alignas(64) float sf[16];
        for (int j = 0; j < 16; ++j)
            sf[j] = float(p.s[j]);
        const Lanes16 dl = d * search::lanesOf(sf);
        const Lanes16 iv = dl != 0.0f ? 1.0f / (dl != 0.0f ? dl : Lanes16{} + 1.0f) : Lanes16{};
        std::memcpy(inv, &iv, sizeof iv);
    } else {
        for (int j = 0; j < 16; ++j) {
            p.s[j] = std::clamp(nearestInt(is * scales[j]), -S, S - 1);
            if constexpr (NQ != 4)
                refineSymmetricCode<16>(xb + 16 * j, ib ? ib + 16 * j : nullptr, d, -NQ, NQ - 1, -S, S - 1, p.s[j]);
            const float dl = d * float(p.s[j]);
            inv[j] = dl != 0.0f ? 1.0f / dl : 0.0f;
        }
    }
    for (int j = 0; j < 16; ++j) {
        std::uint8_t* Ls = L + 16 * j;
        if (inv[j] == 0.0f) {  // an all-zero sub-block: code 0
            std::memset(Ls, NQ, 16);
            continue;
        }
        storeCodes<16>(xb + 16 * j, 0.0f, inv[j], -float(NQ), float(NQ - 1), float(NQ), Ls);
    }
}

// The 16 symmetric sub-block fits of Q3_K (nmax 4) and Q6_K (nmax 32), weights 1 (or the
// importance); returns the scale of largest magnitude, amax its magnitude. Two candidates per
// sub-block reach more than ggml's search of 19 (weights x²): measured on N(0,1) and Student-t3
// data, Q3_K 0.3 dB above it, Q6_K 0.15 dB.
template <bool kFast, int NMAX>
float symSubBlockScales(const float* xb, const float* ib, float* scales, float& amax)
{
    if constexpr (kFast) {
        symFitsRtn<NMAX>(xb, ib, scales);
        // The first scale of largest magnitude, in lanes.
        const search::Lanes16 a = batch::absLanes(search::lanesOf(scales));
        amax = search::laneMax(a);
        return amax > 0.0f ? scales[batch::firstEqual(a, amax)] : 0.0f;
    }
    symFitsRef<NMAX>(xb, ib, scales);
    float maxScale = 0.0f;
    amax = 0.0f;
    for (int j = 0; j < 16; ++j)
        if (std::fabs(scales[j]) > amax) {
            amax = std::fabs(scales[j]);
            maxScale = scales[j];
        }
    return maxScale;
}

template <bool kFast>
void searchQ3K(const float* xb, const float* ib, SymParams& p)
{
    // restrict: the compiler may not assume that stores of codes leave the input unchanged.
    std::uint8_t* __restrict L = p.L;
    float scales[16], amax;
    const float maxScale = symSubBlockScales<kFast, 4>(xb, ib, scales, amax);
    if (maxScale == 0.0f) {
        for (int& s : p.s)
            s = -32;
        std::memset(L, 4, kQKK);
        return;
    }
    symFinish<kFast, 4, 32>(xb, ib, scales, maxScale, p, L);
}

void packQ3K(const SymParams& p, std::uint8_t* dst)
{
    // Written part by part straight into dst: a block assembled on the stack and then copied out
    // would be loaded while its pieces are still pending stores, and wait for them.
    int ls[16];
    for (int j = 0; j < 16; ++j)
        ls[j] = p.s[j] + 32;
    packQ3Scales(ls, dst + offsetof(BlockQ3K, scales));
    std::memcpy(dst + offsetof(BlockQ3K, d), &p.d, 2);
    // Stored code 0..7: bit 2 goes to hmask (bit i / 32 of byte i % 32), bits 0..1 to qs.
    U8x32 hm = {};
    for (int k = 0; k < 8; ++k)
        hm |= (load32(p.L + 32 * k) >> 2) << k;
    std::memcpy(dst + offsetof(BlockQ3K, hmask), &hm, 32);
    pack2Bits(p.L, dst + offsetof(BlockQ3K, qs), 3);
}

template <bool kFast>
void encodeQ3KImpl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t b = 0; b < n / kQKK; ++b) {
        prefetchNextSuperBlock(x + b * kQKK);
        const float* xb = x + b * kQKK;
        SymParams p;
        if (!recoverSym<4, 32>(xb, p)) {
            searchQ3K<kFast>(xb, imp ? imp + b * kQKK : nullptr, p);
            if constexpr (kFast)
                canonicalSymFast<4, 32>(p);
            else
                canonicalSym<4, 32>(p);
        }
        packQ3K(p, dst + b * sizeof(BlockQ3K));
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
                    // In int lanes (a plain byte loop becomes per-byte code with GCC 12): low bits
                    // minus 4 unless the high bit is set.
                    const search::Ints16 qv = batch::loadBytes(q), hv = batch::loadBytes(hm);
                    const search::Ints16 v = ((qv >> (2 * k)) & 3) - 4 + (((hv >> bit) & 1) << 2);
                    const search::Lanes16 o = dl * __builtin_convertvector(v, search::Lanes16);
                    std::memcpy(yb + 128 * h + 32 * k + 16 * half, &o, sizeof o);
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
void searchQ45K(const float* xb, const float* ib, AffParams& p)
{
    // restrict: the compiler may not assume that stores of codes leave the input unchanged.
    std::uint8_t* __restrict L = p.L;
    // Affine fits, weights 1 (or the importance): one candidate for Q5_K, three for Q4_K, where
    // one would fall 0.03 dB short of ggml's SQNR. With the refinement of the quantized scale and
    // min codes below, on 4096×4096 N(0,1) / Student-t3 data: Q5_K 0.25 / 0.16 dB above ggml's
    // search of 16 candidates, Q4_K 0.07 / 0.09 dB above its search of 22.
    constexpr int kCandidates = NMAX == 31 ? 1 : 3;
    float scales[8], mins[8];
    if constexpr (kFast)
        affineFitsRtn<8, 32, kCandidates>(xb, ib, NMAX, scales, mins);
    else
        affineFitsRef<8, 32, kCandidates>(xb, ib, NMAX, scales, mins);
    float maxScale = 0.0f, maxMin = 0.0f;
    for (int j = 0; j < 8; ++j) {
        maxScale = std::max(maxScale, scales[j]);
        maxMin = std::max(maxMin, mins[j]);
    }
    const float invScale = maxScale > 0.0f ? 63.0f / maxScale : 0.0f;
    const float invMin = maxMin > 0.0f ? 63.0f / maxMin : 0.0f;
    for (int j = 0; j < 8; ++j) {
        p.sc[j] = std::min(63, nearestInt(invScale * scales[j]));
        p.m[j] = std::min(63, nearestInt(invMin * mins[j]));
    }
    p.d = toF16(maxScale / 63.0f);
    p.dmin = toF16(maxMin / 63.0f);
    const float d = fromF16(p.d), dmin = fromF16(p.dmin);
    if constexpr (kFast)
        refineAffineCodesBatch<8, 32>(xb, ib, d, dmin, NMAX, 63, p.sc, p.m);
    else
        for (int j = 0; j < 8; ++j)
            refineAffineCodes<32>(xb + 32 * j, ib ? ib + 32 * j : nullptr, d, dmin, NMAX, 63, p.sc[j], p.m[j]);
    for (int j = 0; j < 8; ++j) {
        const float dl = d * float(p.sc[j]);
        std::uint8_t* Ls = L + 32 * j;
        if (dl == 0.0f) {  // a constant sub-block: codes 0
            std::memset(Ls, 0, 32);
            continue;
        }
        const float inv = 1.0f / dl;
        const float dm = dmin * float(p.m[j]);
        const float* xs = xb + 32 * j;
        storeCodes<32>(xs, dm, inv, 0.0f, float(NMAX), 0.0f, Ls);
    }
}

template <int NMAX, bool kFast>
void kAffineSuperBlock(const float* xb, const float* ib, AffParams& p)
{
    if (!recoverAff<8, NMAX, 63>(xb, p)) {
        searchQ45K<NMAX, kFast>(xb, ib, p);
        canonicalAff<8, NMAX, 63>(p);
    }
}

template <bool kFast>
void encodeQ4KImpl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t b = 0; b < n / kQKK; ++b) {
        prefetchNextSuperBlock(x + b * kQKK);
        AffParams p;
        kAffineSuperBlock<15, kFast>(x + b * kQKK, imp ? imp + b * kQKK : nullptr, p);
        BlockQ4K blk{};
        blk.d = p.d;
        blk.dmin = p.dmin;
        packScaleMinK4(p.sc, p.m, blk.scales);
        for (int q = 0; q < 4; ++q)
            for (int l = 0; l < 32; ++l)
                blk.qs[32 * q + l] = std::uint8_t(p.L[64 * q + l] | (p.L[64 * q + l + 32] << 4));
        std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
}

template <bool kFast>
void encodeQ5KImpl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t b = 0; b < n / kQKK; ++b) {
        prefetchNextSuperBlock(x + b * kQKK);
        AffParams p;
        kAffineSuperBlock<31, kFast>(x + b * kQKK, imp ? imp + b * kQKK : nullptr, p);
        BlockQ5K blk{};
        blk.d = p.d;
        blk.dmin = p.dmin;
        packScaleMinK4(p.sc, p.m, blk.scales);
        for (int q = 0; q < 4; ++q)
            for (int l = 0; l < 32; ++l) {
                const int l1 = p.L[64 * q + l], l2 = p.L[64 * q + l + 32];
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
void searchQ6K(const float* xb, const float* ib, SymParams& p)
{
    // restrict: the compiler may not assume that stores of codes leave the input unchanged.
    std::uint8_t* __restrict L = p.L;
    float scales[16], amax;
    const float maxScale = symSubBlockScales<kFast, 32>(xb, ib, scales, amax);
    if (!(amax >= search::kGroupEps)) {
        std::memset(L, 32, kQKK);
        return;
    }
    symFinish<kFast, 32, 128>(xb, ib, scales, maxScale, p, L);
}

void packQ6K(const SymParams& p, std::uint8_t* dst)
{
    // Straight into dst, part by part (see packQ3K).
    search::Ints16 s;
    std::memcpy(&s, p.s, sizeof s);
    batch::storeBytes(s, dst + offsetof(BlockQ6K, scales));
    std::memcpy(dst + offsetof(BlockQ6K, d), &p.d, 2);
    for (int h = 0; h < 2; ++h) {
        const std::uint8_t* e = p.L + 128 * h;
        const U8x32 e0 = load32(e), e1 = load32(e + 32), e2 = load32(e + 64), e3 = load32(e + 96);
        const U8x32 lo = (e0 & 0xF) | (e2 & 0xF) << 4, hi = (e1 & 0xF) | (e3 & 0xF) << 4;
        const U8x32 qh = (e0 >> 4) | (e1 >> 4) << 2 | (e2 >> 4) << 4 | (e3 >> 4) << 6;
        std::memcpy(dst + offsetof(BlockQ6K, ql) + 64 * h, &lo, 32);
        std::memcpy(dst + offsetof(BlockQ6K, ql) + 64 * h + 32, &hi, 32);
        std::memcpy(dst + offsetof(BlockQ6K, qh) + 32 * h, &qh, 32);
    }
}

template <bool kFast>
void encodeQ6KImpl(const float* x, const float* imp, std::int64_t n, std::uint8_t* dst)
{
    for (std::int64_t b = 0; b < n / kQKK; ++b) {
        prefetchNextSuperBlock(x + b * kQKK);
        const float* xb = x + b * kQKK;
        SymParams p;
        if (!recoverSym<32, 128>(xb, p)) {
            searchQ6K<kFast>(xb, imp ? imp + b * kQKK : nullptr, p);
            if constexpr (kFast)
                canonicalSymFast<32, 128>(p);
            else
                canonicalSym<32, 128>(p);
        }
        packQ6K(p, dst + b * sizeof(BlockQ6K));
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
