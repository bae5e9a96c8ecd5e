#pragma once
// Scale searches of the importance-weighted legacy block encoders (Q4_0, Q5_0, Q4_1, Q5_1), and
// the lane helpers the K-quant fits share (internal to core/formats).
//
// Both searches evaluate a fixed list of candidate inverse scales. For each candidate they form the
// weighted sums Σw·l, Σw·l², Σw·x·l of the rounded codes l and take the least-squares scale (and
// minimum) for those codes; the squared error of every candidate follows from the same sums, so no
// second pass over the data is needed:
//   E(s, m) = s²Σwl² + 2smΣwl − 2sΣwxl + m²Σw − 2mΣwx + Σwx².
// The `…Ref` versions loop candidate by candidate; the fast versions loop element by element with
// the candidates in SIMD lanes. Each lane accumulates in element order and floating-point
// contraction is off (ISO C++ mode), so both produce bit-identical sums and hence identical codes.

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace ql::search {

inline constexpr float kGroupEps = 1e-15f;

inline float clampf(float v, float lo, float hi)
{
    return std::min(std::max(v, lo), hi);
}

/// Round half to even for |v| < 2^22 by the float magic-number trick (as ggml's nearest_int);
/// lane-wise identical for scalars and GCC vector types.
inline constexpr float kRoundMagic = 12582912.0f;  // 1.5 · 2^23
template <typename T>
inline T roundMagic(T v)
{
    return (v + kRoundMagic) - kRoundMagic;
}

/// 16 float lanes (GCC vector extension): one AVX-512 register, two AVX2 ones.
using Lanes16 = float __attribute__((vector_size(64)));
using Ints16 = std::int32_t __attribute__((vector_size(64)));

/// roundMagic lane by lane in one instruction where the build has AVX-512 (round half to even:
/// the same result for the |v| < 2^22 the searches produce).
inline Lanes16 roundLanes(Lanes16 v)
{
#if defined(__AVX512F__)
    __m512 r;
    std::memcpy(&r, &v, 64);
    r = _mm512_mask_roundscale_ps(r, __mmask16(0xFFFF), r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    std::memcpy(&v, &r, 64);
    return v;
#else
    return roundMagic(v);
#endif
}

inline Lanes16 lanesOf(const float* v)
{
    Lanes16 r;
    std::memcpy(&r, v, sizeof r);
    return r;
}

/// min / max lane by lane for non-NaN lanes (one instruction with AVX-512; GCC turns the
/// conditional form into a compare and a blend).
inline Lanes16 minLanes(Lanes16 v, Lanes16 t)
{
#if defined(__AVX512F__)
    __m512 a, b;
    std::memcpy(&a, &v, 64);
    std::memcpy(&b, &t, 64);
    a = _mm512_mask_min_ps(a, __mmask16(0xFFFF), a, b);  // the masked form: no undefined source
    std::memcpy(&v, &a, 64);
    return v;
#else
    return v < t ? v : t;
#endif
}
inline Lanes16 maxLanes(Lanes16 v, Lanes16 t)
{
#if defined(__AVX512F__)
    __m512 a, b;
    std::memcpy(&a, &v, 64);
    std::memcpy(&b, &t, 64);
    a = _mm512_mask_max_ps(a, __mmask16(0xFFFF), a, b);
    std::memcpy(&v, &a, 64);
    return v;
#else
    return v > t ? v : t;
#endif
}

/// Reduction of the 16 lanes by halving: op(v, v with halves swapped), then quarters, pairs and
/// neighbours (a fixed order, so every caller gets the same bits). Works for float and int lanes.
/// Horizontal reductions written this way stay in registers; GCC 12 lowers an `omp simd`
/// reduction over a short block to a spill and a scalar chain.
template <typename V, typename Op>
inline auto laneReduce(V v, Op op)
{
    v = op(v, __builtin_shuffle(v, Ints16{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7}));
    v = op(v, __builtin_shuffle(v, Ints16{4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11}));
    v = op(v, __builtin_shuffle(v, Ints16{2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13}));
    v = op(v, __builtin_shuffle(v, Ints16{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14}));
    return v[0];
}

/// Sum of the 16 lanes (laneReduce's order).
inline float laneSum(Lanes16 v)
{
    return laneReduce(v, [](Lanes16 a, Lanes16 b) { return a + b; });
}

/// Largest / smallest lane (NaN-free input; exact, the order does not matter).
inline float laneMax(Lanes16 v)
{
    return laneReduce(v, [](Lanes16 a, Lanes16 b) { return maxLanes(a, b); });
}
inline float laneMin(Lanes16 v)
{
    return laneReduce(v, [](Lanes16 a, Lanes16 b) { return minLanes(a, b); });
}

/// max |x| over N values (N a multiple of 16), exact (max is order-free). NaN-free input.
template <int N>
inline float laneAbsMax(const float* x)
{
    static_assert(N % 16 == 0);
    Lanes16 m = {};
    for (int k = 0; k < N; k += 16) {
        const Lanes16 v = lanesOf(x + k);
        const Lanes16 a = v < 0.0f ? -v : v;
        m = a > m ? a : m;
    }
    return laneMax(m);
}


// ---- symmetric grids (the make_qx_quants family): codes l ∈ [−nmax, nmax − 1] ----------------

/// Candidate list of the symmetric search (max is the signed value of largest magnitude):
/// candidate 0 is −nmax / max, candidate c > 0 is −(nmax + 0.1·k)/max for k = −15..−1, 1..16
/// (ggml's list is the k = −9..9 part of it).
inline void symInverseScales(float max, int nmax, float* is)
{
    // The k of each lane (0 for candidate 0). Vector lanes, not a table: GCC 12 at -O3 folded
    // loads from a constexpr table of this kind to zeros.
    const Lanes16 k[2] = {Lanes16{0, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1},
                          Lanes16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
    // Vector products, adds and divisions: correctly rounded, the same bits as scalar ones.
    for (int h = 0; h < 2; ++h) {
        const Lanes16 q = -(float(nmax) + 0.1f * k[h]) / max;
        std::memcpy(is + 16 * h, &q, sizeof q);
    }
}

/// Bit k set where lane k of m is non-zero.
inline unsigned laneBits(Ints16 m)
{
#if defined(__AVX512F__)
    __m512i v;
    std::memcpy(&v, &m, 64);
    return _mm512_test_epi32_mask(v, v);
#else
    unsigned b = 0;
    for (int k = 0; k < 16; ++k)
        b |= unsigned(m[k] != 0) << k;
    return b;
#endif
}

/// Chooses the winner from the sums of the 32 candidates: candidate c scores (Σwxl / Σwl²)·Σwxl,
/// the weighted squared error it removes (0 when Σwl² = 0; candidate 0 counts even then); the
/// first of the highest score wins. Scored in lanes, no branch per candidate.
inline int symPick(const Lanes16* sumlx, const Lanes16* suml2, float& scale)
{
    Lanes16 r[2], q[2];
    constexpr Ints16 kFirst = {-1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int h = 0; h < 2; ++h) {
        const Lanes16 a = sumlx[h], b = suml2[h];
        q[h] = b > 0.0f ? a / (b > 0.0f ? b : Lanes16{} + 1.0f) : Lanes16{};  // the scales
        Lanes16 none = Lanes16{} - INFINITY;
        if (h == 0)
            none = kFirst != 0 ? Lanes16{} : none;
        r[h] = b > 0.0f ? q[h] * a : none;
    }
    const float best = laneMax(maxLanes(r[0], r[1]));
    const unsigned hits = laneBits(r[0] == best) | laneBits(r[1] == best) << 16;
    const int win = hits ? std::countr_zero(hits) : 0;
    // Lane win of the scales by a register permute (a scalar load from the vectors' stores would
    // wait for them).
    scale = __builtin_shuffle(q[win / 16], Ints16{} + (win % 16))[0];
    return win;
}

inline bool symPrepare(const float* x, int n, float& max)
{
    float amax = 0.0f;
    max = 0.0f;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    return amax >= kGroupEps;
}

/// Reference: weighted symmetric search over n values, codes L[i] = l + nmax (or null). Returns
/// the scale.
inline float symSearchRef(const float* x, const float* w, int n, int nmax, std::uint8_t* L)
{
    float max;
    if (!symPrepare(x, n, max)) {
        for (int i = 0; L && i < n; ++i)
            L[i] = std::uint8_t(nmax);
        return 0.0f;
    }
    constexpr int NL = 32;
    alignas(64) float is[NL], sumlx[NL], suml2[NL];
    symInverseScales(max, nmax, is);
    for (int c = 0; c < NL; ++c) {
        float a = 0.0f, b = 0.0f;
        for (int i = 0; i < n; ++i) {
            const float l = clampf(roundMagic(is[c] * x[i]), -float(nmax), float(nmax - 1));
            a += w[i] * x[i] * l;
            b += w[i] * l * l;
        }
        sumlx[c] = a;
        suml2[c] = b;
    }
    Lanes16 va[NL / 16], vb[NL / 16];
    for (int h = 0; h < NL / 16; ++h) {
        va[h] = lanesOf(sumlx + 16 * h);
        vb[h] = lanesOf(suml2 + 16 * h);
    }
    float scale;
    const int win = symPick(va, vb, scale);
    if (L)
        for (int i = 0; i < n; ++i)
            L[i] = std::uint8_t(int(clampf(roundMagic(is[win] * x[i]), -float(nmax), float(nmax - 1))) + nmax);
    return scale;
}

/// Fast twin of symSearchRef for a compile-time n (candidates in SIMD lanes).
template <int N>
[[gnu::noinline]] float symSearch(const float* x, const float* w, int nmax, std::uint8_t* L)
{
    float max;
    if (!symPrepare(x, N, max)) {
        for (int i = 0; L && i < N; ++i)
            L[i] = std::uint8_t(nmax);
        return 0.0f;
    }
    alignas(64) float is[32];
    symInverseScales(max, nmax, is);
    const Lanes16 isa = lanesOf(is), isb = lanesOf(is + 16);
    Lanes16 xa = {}, xb = {}, qa = {}, qb = {};
    const float lo = -float(nmax), hi = float(nmax - 1);
    const Lanes16 vlo = Lanes16{} + lo, vhi = Lanes16{} + hi;
    for (int i = 0; i < N; ++i) {
        const float xi = x[i], wi = w[i], wx = wi * xi;
        const Lanes16 la = minLanes(maxLanes(roundLanes(isa * xi), vlo), vhi);
        const Lanes16 lb = minLanes(maxLanes(roundLanes(isb * xi), vlo), vhi);
        xa += wx * la;
        xb += wx * lb;
        qa += (wi * la) * la;
        qb += (wi * lb) * lb;
    }
    const Lanes16 va[2] = {xa, xb}, vb[2] = {qa, qb};
    float scale;
    const int win = symPick(va, vb, scale);
    const float iw = is[win];
    if (L)
        for (int i = 0; i < N; ++i)
            L[i] = std::uint8_t(int(clampf(roundMagic(iw * x[i]), lo, hi)) + nmax);
    return scale;
}

// ---- affine grids with a minimum (the make_qkx2_quants family): codes l ∈ [0, nmax] -----------

/// Candidates: c = 0 is nmax / (max − min) with scale 1/iscale and the block minimum (not refit);
/// c = 1..nstep+1 are (rmin + rdelta·(c−1) + nmax) / (max − min) with the least-squares scale and
/// minimum (minimum clamped to ≤ 0, then the scale refit). min is the block minimum clamped to ≤ 0.
/// The candidate with the smallest weighted squared error wins (first on ties).
struct AffineSums {
    float sumW = 0, sumX = 0, sumWX2 = 0, min = 0, max = 0;
};

inline bool affinePrepare(const float* x, const float* w, int n, AffineSums& s)
{
    if (n % 16 == 0) {  // the sums in 16 lanes, reduced by laneSum; extremes are order-free
        Lanes16 lo = lanesOf(x), hi = lo, sw = {}, sx = {}, sx2 = {};
        for (int i = 0; i < n; i += 16) {
            const Lanes16 xv = lanesOf(x + i), wv = lanesOf(w + i), wx = wv * xv;
            lo = minLanes(lo, xv);
            hi = maxLanes(hi, xv);
            sw += wv;
            sx += wx;
            sx2 += wx * xv;
        }
        s.min = lo[0];
        s.max = hi[0];
        for (int k = 1; k < 16; ++k) {
            s.min = std::min(s.min, lo[k]);
            s.max = std::max(s.max, hi[k]);
        }
        s.sumW = laneSum(sw);
        s.sumX = laneSum(sx);
        s.sumWX2 = laneSum(sx2);
    } else {
        s.min = x[0];
        s.max = x[0];
        float sw = w[0], sx = w[0] * x[0], sx2 = w[0] * x[0] * x[0];
        for (int i = 1; i < n; ++i) {
            s.min = std::min(s.min, x[i]);
            s.max = std::max(s.max, x[i]);
            sw += w[i];
            sx += w[i] * x[i];
            sx2 += w[i] * x[i] * x[i];
        }
        s.sumW = sw;
        s.sumX = sx;
        s.sumWX2 = sx2;
    }
    if (s.min > 0.0f)
        s.min = 0.0f;
    return s.max != s.min;
}

/// Picks the best candidate from the per-candidate sums; returns the candidate index and the
/// scale / minimum (value = scale · l + min, min ≤ 0). Candidate 0 keeps the round-to-nearest fit
/// (scale 1/iscale[0], the block minimum); every other one takes its least-squares scale and
/// minimum (scale alone when the minimum would be positive), and is skipped when the normal
/// equations are singular. The winner is the first candidate of least error
///   E = s²Σwl² + 2smΣwl − 2sΣwxl + m²Σw − 2mΣwx + Σwx².
/// For a least-squares fit E = Σwx² − (sΣwxl + mΣwx), so the fits are ranked by that gain in float
/// lanes and only candidate 0 and the best fit are compared in double (float rounding of the gain
/// is ~1e-7 of Σwx², far below the error differences that decide). NL (a multiple of 16, ≥ count)
/// bounds the candidates at compile time so their gains stay in registers.
template <int NL = 64>
[[gnu::always_inline]] inline int affinePickInline(const AffineSums& s, int count, const float* iscale,
                                                   const float* sl, const float* sl2, const float* sxl,
                                                   float& scale, float& min)
{
    static_assert(NL % 16 == 0 && NL <= 64);
    constexpr int G = NL / 16;
    constexpr Ints16 kIota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    constexpr Ints16 kLane0 = {-1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    alignas(64) float scs[NL], mns[NL];
    Lanes16 gain[G];
    const float sw = s.sumW, sxs = s.sumX;
    for (int g = 0; g < G; ++g) {
        const int c0 = 16 * g;
        if (c0 >= count) {
            gain[g] = Lanes16{} - INFINITY;
            continue;
        }
        const Lanes16 vl = lanesOf(sl + c0), vl2 = lanesOf(sl2 + c0), vxl = lanesOf(sxl + c0);
        const Lanes16 D = sw * vl2 - vl * vl;
        Lanes16 ts = (sw * vxl - sxs * vl) / D, tm = (vl2 * sxs - vl * vxl) / D;
        const Ints16 positiveMin = tm > 0.0f;
        ts = positiveMin ? vxl / vl2 : ts;
        tm = positiveMin ? Lanes16{} : tm;
        std::memcpy(scs + c0, &ts, sizeof ts);
        std::memcpy(mns + c0, &tm, sizeof tm);
        // A least-squares fit (s, m) leaves the error Σwx² − (s·Σwxl + m·Σwx): the larger this
        // gain, the better. Singular (or NaN) fits and the lanes past `count` are not candidates;
        // candidate 0 is scored on its own below.
        const Lanes16 gv = ts * vxl + tm * sxs;
        Ints16 live = (D > 0.0f) & (kIota + c0 < count) & (gv == gv);
        if (g == 0)
            live &= ~kLane0;
        gain[g] = live ? gv : Lanes16{} - INFINITY;
    }
    // Candidate 0 (not a fit): its error from the full expression, in double.
    scs[0] = 1.0f / iscale[0];
    mns[0] = s.min;
    const double sc0 = scs[0], mn0 = mns[0];
    const double e0 = sc0 * sc0 * sl2[0] + 2.0 * sc0 * mn0 * sl[0] - 2.0 * sc0 * sxl[0] + mn0 * mn0 * s.sumW -
                      2.0 * mn0 * s.sumX + double(s.sumWX2);
    int win = 0;
    if (e0 == e0) {  // a NaN first error keeps candidate 0
        Lanes16 m = gain[0];
        for (int g = 1; g < G; ++g)
            m = maxLanes(m, gain[g]);
        const float best = laneMax(m);
        if (best > -INFINITY) {
            std::uint64_t hits = 0;
            for (int g = 0; g < G; ++g)
                hits |= std::uint64_t(laneBits(gain[g] == best)) << (16 * g);
            const int c = std::countr_zero(hits);
            win = double(s.sumWX2) - double(best) < e0 ? c : 0;  // candidate 0 wins ties
        }
    }
    scale = scs[win];
    min = mns[win];
    return win;
}

/// affinePickInline out of line. Inlined into the 32-lane search, the pick crowds the search's
/// accumulators out of registers (GCC 12 then keeps them on the stack).
template <int NL = 64>
[[gnu::noinline]] int affinePick(const AffineSums& s, int count, const float* iscale, const float* sl,
                                 const float* sl2, const float* sxl, float& scale, float& min)
{
    return affinePickInline<NL>(s, count, iscale, sl, sl2, sxl, scale, min);
}

/// Fills is[0 .. nstep + 1] and returns that count; writes whole groups of 16 (is must hold the
/// count rounded up to 16). Vector divisions: the same bits as scalar ones.
inline int affineInverseScales(const AffineSums& s, int nmax, float rmin, float rdelta, int nstep, float* is)
{
    const float range = s.max - s.min;
    const int count = nstep + 2;
    constexpr Lanes16 kK = {-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};  // k = c − 1
    for (int c0 = 0; c0 < count; c0 += 16) {
        const Lanes16 q = (rmin + rdelta * (kK + float(c0)) + float(nmax)) / range;
        std::memcpy(is + c0, &q, sizeof q);
    }
    is[0] = float(nmax) / range;
    return count;
}

/// Reference affine search over n values; L[i] ∈ [0, nmax]. Returns the scale, *minOut = −min ≥ 0.
inline float affineSearchRef(const float* x, const float* w, int n, int nmax, float rmin, float rdelta, int nstep,
                             std::uint8_t* L, float* minOut)
{
    AffineSums s;
    if (!affinePrepare(x, w, n, s)) {
        for (int i = 0; L && i < n; ++i)
            L[i] = 0;
        *minOut = -s.min;
        return 0.0f;
    }
    float is[64] = {}, sl[64] = {}, sl2[64] = {}, sxl[64] = {};  // nstep + 2 ≤ 64 (affinePick reads whole groups of 16)
    const int count = affineInverseScales(s, nmax, rmin, rdelta, nstep, is);
    for (int c = 0; c < count; ++c) {
        float a = 0, b = 0, d = 0;
        for (int i = 0; i < n; ++i) {
            const float l = clampf(roundMagic(is[c] * (x[i] - s.min)), 0.0f, float(nmax));
            a += w[i] * l;
            b += w[i] * l * l;
            d += w[i] * l * x[i];
        }
        sl[c] = a;
        sl2[c] = b;
        sxl[c] = d;
    }
    float scale, min;
    const int win = affinePick(s, count, is, sl, sl2, sxl, scale, min);
    if (L)
        for (int i = 0; i < n; ++i)
            L[i] = std::uint8_t(clampf(roundMagic(is[win] * (x[i] - s.min)), 0.0f, float(nmax)));
    *minOut = -min;
    return scale;
}

/// Fast twin of affineSearchRef: n and the lane count (≥ nstep + 2, padded with repeats of
/// candidate 0 that never win) are compile-time constants.
template <int N, int NL>
[[gnu::noinline]] float affineSearch(const float* x, const float* w, int nmax, float rmin, float rdelta, int nstep,
                                     std::uint8_t* L, float* minOut)
{
    AffineSums s;
    if (!affinePrepare(x, w, N, s)) {
        for (int i = 0; L && i < N; ++i)
            L[i] = 0;
        *minOut = -s.min;
        return 0.0f;
    }
    static_assert(NL == 32, "the affine search runs 32 candidate lanes");
    alignas(64) float is[NL];
    const int count = affineInverseScales(s, nmax, rmin, rdelta, nstep, is);
    for (int c = count; c < NL; ++c)
        is[c] = is[0];
    // Named accumulators: in arrays GCC keeps them in memory, and the loop then waits on
    // store-to-load forwarding every element.
    const Lanes16 is0 = lanesOf(is), is1 = lanesOf(is + 16);
    Lanes16 a0 = {}, a2 = {}, ax = {}, b0 = {}, b2 = {}, bx = {};
    const float mn = s.min, top = float(nmax);
    const Lanes16 vtop = Lanes16{} + top;
    // Codes are ≥ 0 without a clamp: every inverse scale is positive and x − min ≥ 0.
    for (int i = 0; i < N; ++i) {
        const float xi = x[i], wi = w[i], di = x[i] - mn;
        const Lanes16 l = minLanes(roundLanes(is0 * di), vtop), m = minLanes(roundLanes(is1 * di), vtop);
        const Lanes16 wl = wi * l, wm = wi * m;
        a0 += wl;
        a2 += wl * l;
        ax += wl * xi;
        b0 += wm;
        b2 += wm * m;
        bx += wm * xi;
    }
    alignas(64) float sl[NL], sl2[NL], sxl[NL];
    for (int c = 0; c < 16; ++c) {
        sl[c] = a0[c];
        sl2[c] = a2[c];
        sxl[c] = ax[c];
        sl[16 + c] = b0[c];
        sl2[16 + c] = b2[c];
        sxl[16 + c] = bx[c];
    }
    float scale, min;
    const int win = affinePick<NL>(s, count, is, sl, sl2, sxl, scale, min);
    const float iw = is[win];
    if (L)
        for (int i = 0; i < N; ++i)
            L[i] = std::uint8_t(clampf(roundMagic(iw * (x[i] - mn)), 0.0f, top));
    *minOut = -min;
    return scale;
}

} // namespace ql::search
