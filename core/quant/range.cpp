#include "core/quant/range.h"

#include "core/quant/int_grid.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <limits>
#include <vector>

namespace ql {

namespace {

// Where quantile q of m sorted values lies (numpy's default linear interpolation): between the
// order statistics of ranks i and j = min(i + 1, m − 1), at fraction frac.
struct QuantilePos {
    std::int64_t i = 0, j = 0;
    double frac = 0.0;

    QuantilePos(double q, std::int64_t m)
    {
        const double pos = q * double(m - 1);
        i = static_cast<std::int64_t>(std::floor(pos));
        j = std::min(i + 1, m - 1);
        frac = pos - double(i);
    }
    /// The quantile from the values of ranks i and j.
    float at(float a, float b) const
    {
        return frac == 0.0 ? a : static_cast<float>(double(a) + frac * (double(b) - double(a)));
    }
};

// Linear-interpolated quantile (numpy's default) of v[0..n) for q in [0, 1]; reorders v.
float quantileInPlace(float* v, std::int64_t n, double q)
{
    if (n == 0)
        return 0.0f;
    const QuantilePos p(q, n);
    std::nth_element(v, v + p.i, v + n);
    const float a = v[p.i];
    if (p.frac == 0.0 || p.j == p.i)
        return a;
    return p.at(a, *std::min_element(v + p.i + 1, v + n));
}

// Copies the finite values of x into out; returns how many.
std::int64_t copyFinite(const float* x, std::int64_t n, float* out)
{
    std::int64_t k = 0;
    for (std::int64_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) <= FLT_MAX)
            out[k++] = x[i];
    return k;
}

constexpr std::int64_t kMseSampleCap = std::int64_t(1) << 17;

// Order-preserving key of a float (|x| for `absolute`): larger value, larger key. Non-finite
// values get kNoKey.
constexpr std::uint32_t kNoKey = 0xFFFFFFFFu;
inline std::uint32_t orderKey(float v, bool absolute)
{
    std::uint32_t u;
    std::memcpy(&u, &v, sizeof u);
    if ((u & 0x7FFFFFFFu) >= 0x7F800000u)
        return kNoKey;
    if (absolute)
        return u & 0x7FFFFFFFu;
    // Negative: all bits flipped; positive: the sign bit set. Branch-free (signs are random).
    // Never kNoKey: that would be −NaN.
    const std::uint32_t neg = std::uint32_t(std::int32_t(u) >> 31);
    return u ^ (neg | 0x80000000u);
}

inline float keyValue(std::uint32_t k, bool absolute)
{
    const std::uint32_t u = absolute ? k : ((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k);
    float v;
    std::memcpy(&v, &u, sizeof v);
    return v;
}

// Exact order statistics (0-based ranks among the finite values, ascending) of a large array
// without sorting a copy: a histogram of the top 16 key bits finds the bucket of each rank, then
// only that bucket's values are selected among. Two passes over x, parallel outside a parallel
// region; integer counts, so the result does not depend on the thread count. out[j] is the value
// of rank ranks[j] (ranks must be below the number of finite values).
void orderStatistics(const float* x, std::int64_t n, bool absolute, const std::int64_t* ranks, int count,
                             float* out)
{
    constexpr int kBuckets = 1 << 16;
    const int threads = omp_in_parallel() ? 1 : std::max(1, omp_get_max_threads());
    std::vector<std::int64_t> hist(kBuckets, 0);
    std::vector<std::vector<std::uint32_t>> local(static_cast<std::size_t>(threads));
#pragma omp parallel num_threads(threads)
    {
        std::vector<std::uint32_t>& h = local[std::size_t(omp_get_thread_num())];
        h.assign(kBuckets + 1, 0);
#pragma omp for schedule(static)
        for (std::int64_t i = 0; i < n; ++i) {
            const std::uint32_t k = orderKey(x[i], absolute);
            ++h[k == kNoKey ? kBuckets : (k >> 16)];
        }
    }
    for (const auto& h : local)
        for (int b = 0; b < kBuckets; ++b)
            hist[std::size_t(b)] += h[std::size_t(b)];
    // Bucket of each rank and the rank's position inside it.
    std::vector<int> bucket(static_cast<std::size_t>(count));
    std::vector<std::int64_t> inside(static_cast<std::size_t>(count));
    for (int j = 0; j < count; ++j) {
        std::int64_t before = 0;
        int b = 0;
        while (b < kBuckets - 1 && before + hist[std::size_t(b)] <= ranks[j])
            before += hist[std::size_t(b++)];
        bucket[std::size_t(j)] = b;
        inside[std::size_t(j)] = ranks[j] - before;
    }
    // One more pass gathers the keys of every bucket a rank falls in (the ranks of one
    // percentile almost always share one).
    std::vector<int> wanted(bucket.begin(), bucket.end());
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    std::vector<int> slot(kBuckets, -1);
    for (std::size_t w = 0; w < wanted.size(); ++w)
        slot[std::size_t(wanted[w])] = int(w);
    // Per thread, then concatenated: the order within a bucket does not matter to the selection.
    std::vector<std::vector<std::vector<std::uint32_t>>> parts(static_cast<std::size_t>(threads),
                                                                std::vector<std::vector<std::uint32_t>>(wanted.size()));
#pragma omp parallel num_threads(threads)
    {
        auto& mine = parts[std::size_t(omp_get_thread_num())];
#pragma omp for schedule(static)
        for (std::int64_t i = 0; i < n; ++i) {
            const std::uint32_t k = orderKey(x[i], absolute);
            if (k == kNoKey)
                continue;
            const int w = slot[k >> 16];
            if (w >= 0)
                mine[std::size_t(w)].push_back(k);
        }
    }
    std::vector<std::vector<std::uint32_t>> keys(wanted.size());
    for (std::size_t w = 0; w < wanted.size(); ++w) {
        keys[w].reserve(static_cast<std::size_t>(hist[std::size_t(wanted[w])]));
        for (const auto& p : parts)
            keys[w].insert(keys[w].end(), p[w].begin(), p[w].end());
    }
    for (int j = 0; j < count; ++j) {
        std::vector<std::uint32_t>& ks = keys[std::size_t(slot[std::size_t(bucket[std::size_t(j)])])];
        auto nth = ks.begin() + inside[std::size_t(j)];
        std::nth_element(ks.begin(), nth, ks.end());
        out[j] = keyValue(*nth, absolute);
    }
}

// Up to kTail of the largest (top) or smallest finite values of x (|x| for `absolute`), in order
// from the extreme inwards, in one pass with a small sorted buffer: for the percentiles near 0 or
// 100 that clipping uses, cheaper than copying and partitioning a segment.
constexpr int kTail = 64;
int extremeValues(const float* x, std::int64_t n, bool absolute, bool top, int need, float* out)
{
    int have = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        float v = x[i];
        if (!(std::fabs(v) <= FLT_MAX))
            continue;
        if (absolute)
            v = std::fabs(v);
        const float key = top ? -v : v;  // keep the `need` smallest keys, ascending
        if (have == need && !(key < (top ? -out[have - 1] : out[have - 1])))
            continue;
        int j = have < need ? have++ : have - 1;
        while (j > 0 && key < (top ? -out[j - 1] : out[j - 1])) {
            out[j] = out[j - 1];
            --j;
        }
        out[j] = v;
    }
    return have;
}

// Percentile of the m finite values of x by extremeValues when its ranks lie within kTail of an
// end; false otherwise.
bool tailQuantile(const float* x, std::int64_t n, std::int64_t m, bool absolute, double q, float& result)
{
    const QuantilePos p(q, m);
    const std::int64_t i = p.i, j = p.j;
    float buf[kTail];
    float a, b;
    if (m - i <= kTail) {
        const int need = int(m - i);  // ranks i … m−1, largest first
        if (extremeValues(x, n, absolute, true, need, buf) != need)
            return false;
        a = buf[need - 1];
        b = buf[need - 1 - int(j - i)];
    } else if (j + 1 <= kTail) {
        const int need = int(j + 1);  // ranks 0 … j, smallest first
        if (extremeValues(x, n, absolute, false, need, buf) != need)
            return false;
        a = buf[i];
        b = buf[j];
    } else {
        return false;
    }
    result = p.at(a, b);
    return true;
}

// Percentiles by order statistics (numpy's linear interpolation) of the finite values; one
// histogram pass and one gathering pass for all of them.
void quantilesByOrder(const float* x, std::int64_t n, std::int64_t finite, bool absolute, const double* qs, int nq,
                      float* out)
{
    std::vector<QuantilePos> pos;
    std::vector<std::int64_t> ranks;
    for (int j = 0; j < nq; ++j) {
        pos.emplace_back(qs[j], finite);
        ranks.push_back(pos.back().i);
        ranks.push_back(pos.back().j);
    }
    std::vector<float> v(ranks.size());
    orderStatistics(x, n, absolute, ranks.data(), int(ranks.size()), v.data());
    for (int j = 0; j < nq; ++j)
        out[j] = pos[std::size_t(j)].at(v[std::size_t(2 * j)], v[std::size_t(2 * j + 1)]);
}

} // namespace

namespace {

// Squared-error sum of one block of len ≤ 1024 values on the half-even grid, with the zero point
// folded into the clamp bounds (clamp(rint(x/s) + z, qmin, qmax) − z = clamp(rint(x/s), qmin − z,
// qmax − z) exactly, all terms being small integers). 64 independent lanes keep several vector
// accumulators in flight, so the loop is not bound by the latency of one add chain.
float blockClipErrorHalfEven(const float* x, std::int64_t len, float inv, float scale, float qlo, float qhi)
{
    constexpr int W = 64;
    float acc[W] = {};
    std::int64_t i = 0;
    for (; i + W <= len; i += W)
        for (int j = 0; j < W; ++j) {
            const float q = std::min(std::max(__builtin_rintf(x[i + j] * inv), qlo), qhi);
            const float d = x[i + j] - scale * q;
            acc[j] += d * d;
        }
    for (; i < len; ++i) {
        const float q = std::min(std::max(__builtin_rintf(x[i] * inv), qlo), qhi);
        const float d = x[i] - scale * q;
        acc[0] += d * d;
    }
    float s = 0.0f;
    for (int j = 0; j < W; ++j)
        s += acc[j];
    return s;
}

float blockClipErrorOther(const float* x, std::int64_t len, const IntParams& p, Rounding r)
{
    float acc = 0.0f;
    for (std::int64_t i = 0; i < len; ++i) {
        const float d = x[i] - dequantizeOne(quantizeOne(x[i], p, r), p);
        acc += d * d;
    }
    return acc;
}

} // namespace

double intClipError(const float* x, std::int64_t n, float lo, float hi, const IntGrid& grid)
{
    const IntParams p = intParams(lo, hi, grid);
    // The search multiplies by 1/scale (a division per element would dominate its cost); the
    // final quantization divides, as DESIGN.md's formula says. The two differ only at exact ties.
    const float inv = 1.0f / p.scale;
    const float qlo = p.qmin - p.zeroPoint, qhi = p.qmax - p.zeroPoint;
    constexpr std::int64_t kBlock = 1024;
    const std::int64_t nBlocks = (n + kBlock - 1) / kBlock;
    auto block = [&](std::int64_t b) -> float {
        const std::int64_t len = std::min(kBlock, n - b * kBlock);
        return grid.rounding == Rounding::HalfEven
                   ? blockClipErrorHalfEven(x + b * kBlock, len, inv, p.scale, qlo, qhi)
                   : blockClipErrorOther(x + b * kBlock, len, p, grid.rounding);
    };
    double total = 0.0;
    if (nBlocks >= 64 && !omp_in_parallel()) {
        // Large inputs (the per-tensor search): block sums in parallel, added in block order, so
        // the total is the same for any thread count.
        std::vector<float> sums(static_cast<std::size_t>(nBlocks));
#pragma omp parallel for schedule(static)
        for (std::int64_t b = 0; b < nBlocks; ++b)
            sums[b] = block(b);
        for (float v : sums)
            total += v;
    } else {
        for (std::int64_t b = 0; b < nBlocks; ++b)
            total += block(b);
    }
    return total;
}

double searchClipFactor(const std::function<double(double)>& errAt)
{
    double bestF = 1.0, bestErr = errAt(1.0);
    for (int k = 1; k <= 23; ++k) {
        const double f = std::exp2(-k / 3.0);
        const double e = errAt(f);
        if (e < bestErr)
            bestErr = e, bestF = f;
        else if (e > kClipSearchStopRatio * bestErr)
            break;
    }
    const double center = bestF;
    for (int j = 7; j >= -7; --j) {
        if (j == 0)
            continue;
        const double f = center * std::exp2(j / 24.0);
        if (f > 1.0)
            continue;
        const double e = errAt(f);
        if (e < bestErr || (e == bestErr && f > bestF))
            bestErr = e, bestF = f;
    }
    return bestF;
}

ClipRange mseClipSearch(const float* x, std::int64_t n, const IntGrid& grid)
{
    const FiniteRange fr = finiteRange(x, n);
    return mseClipSearch(x, n, fr.lo, fr.hi, grid);
}

ClipRange mseClipSearch(const float* x, std::int64_t n, float lo, float hi, const IntGrid& grid)
{
    if (n == 0)
        return {};
    // Deterministic stride subsample for very large segments.
    std::vector<float> sample;
    const float* s = x;
    std::int64_t m = n;
    if (n > kMseSampleCap) {
        sample.resize(kMseSampleCap);
        const double step = double(n) / double(kMseSampleCap);
        for (std::int64_t i = 0; i < kMseSampleCap; ++i)
            sample[i] = x[static_cast<std::int64_t>(double(i) * step)];
        s = sample.data();
        m = kMseSampleCap;
    }
    if (grid.scheme != Scheme::Asymmetric) {
        const float a = std::max(std::fabs(lo), std::fabs(hi));
        lo = -a;
        hi = a;
    } else {
        lo = std::min(lo, 0.0f);
        hi = std::max(hi, 0.0f);
    }
    if (lo == hi)
        return {lo, hi};
    const double f = searchClipFactor([&](double f) { return intClipError(s, m, float(f * lo), float(f * hi), grid); });
    return {float(f * lo), float(f * hi)};
}

namespace {

// TensorRT-style divergence of candidate bin interval [a, b) of `counts` quantized to C chunks:
// P = counts[a, b) with the mass left of a folded into bin a and right of b into bin b−1;
// Q = counts[a, b) merged into C equal chunks (the last takes the remainder) and spread evenly
// over the bins where P is non-zero. Returns KL(P‖Q) of the normalised distributions, in O(C)
// using prefix sums H (counts), HL (c·log c) and NZ (non-empty bins).
struct KlPrefix {
    std::vector<double> H, HL, NZ;
    const std::vector<std::int64_t>* counts;

    explicit KlPrefix(const std::vector<std::int64_t>& c) : counts(&c)
    {
        const std::size_t B = c.size();
        H.assign(B + 1, 0.0);
        HL.assign(B + 1, 0.0);
        NZ.assign(B + 1, 0.0);
        for (std::size_t k = 0; k < B; ++k) {
            const double h = double(c[k]);
            H[k + 1] = H[k] + h;
            HL[k + 1] = HL[k] + (h > 0 ? h * std::log(h) : 0.0);
            NZ[k + 1] = NZ[k] + (h > 0 ? 1.0 : 0.0);
        }
    }

    double divergence(std::int64_t a, std::int64_t b, std::int64_t C) const
    {
        constexpr double kEps = 1e-12;  // q of a chunk with P mass but no in-range mass
        const double P = H.back();
        const double left = H[a], right = P - H[b];
        const double hFirst = double((*counts)[a]), hLast = double((*counts)[b - 1]);
        // P bins, with outliers folded into the end bins (a == b−1 folds both into one bin).
        double sumPlogP;
        if (b - a == 1) {
            const double p = hFirst + left + right;
            sumPlogP = p > 0 ? p * std::log(p) : 0.0;
        } else {
            const double pF = hFirst + left, pL = hLast + right;
            sumPlogP = (HL[b - 1] - HL[a + 1]) + (pF > 0 ? pF * std::log(pF) : 0.0) + (pL > 0 ? pL * std::log(pL) : 0.0);
        }
        const double Qtot = H[b] - H[a];
        const std::int64_t m = (b - a) / C;
        double cross = 0.0;
        for (std::int64_t j = 0; j < C; ++j) {
            const std::int64_t s = a + j * m, e = (j == C - 1) ? b : s + m;
            const double Qj = H[e] - H[s];
            double Pj = Qj;
            double nz = NZ[e] - NZ[s];
            if (s == a) {
                Pj += left;
                if (hFirst == 0.0 && left > 0.0)
                    nz += 1.0;
            }
            if (e == b) {
                Pj += right;
                if (hLast == 0.0 && right > 0.0 && !(s == a && b - a == 1))
                    nz += 1.0;
            }
            if (Pj <= 0.0)
                continue;
            const double qj = (Qj > 0.0 && Qtot > 0.0) ? Qj / (nz * Qtot) : kEps;
            cross += Pj * std::log(qj);
        }
        return sumPlogP / P - std::log(P) - cross / P;
    }
};

constexpr int kKlBins = 2048;

std::int64_t klStride(std::int64_t C, std::int64_t n)
{
    return std::max<std::int64_t>(1, (kKlBins * C + 16 * n - 1) / (16 * n));
}

} // namespace

void accumulateKlHistogram(const float* x, std::int64_t n, float amax, std::vector<std::int64_t>& counts)
{
    counts.resize(kKlBins, 0);
    if (!(amax > 0.0f))
        return;
    const float inv = float(kKlBins) / amax;
    for (std::int64_t i = 0; i < n; ++i) {
        const float a = std::fabs(x[i]);
        if (a <= FLT_MAX)
            ++counts[std::min(kKlBins - 1, static_cast<int>(a * inv))];
    }
}

double klRatioFromHistogram(const std::vector<std::int64_t>& counts, int bits, std::int64_t samples)
{
    const std::int64_t L = std::int64_t(1) << (bits - 1);
    std::int64_t total = 0;
    for (auto c : counts)
        total += c;
    if (L >= kKlBins || total == 0 || static_cast<int>(counts.size()) != kKlBins)
        return 1.0;  // the grid is finer than the histogram: nothing to gain by clipping
    const KlPrefix pre(counts);
    const std::int64_t stride = klStride(L, std::max<std::int64_t>(samples, 1));
    double best = std::numeric_limits<double>::infinity();
    std::int64_t bestI = kKlBins;
    for (std::int64_t i = L;; i = std::min<std::int64_t>(i + stride, kKlBins)) {
        const double kl = pre.divergence(0, i, L);
        if (kl < best)
            best = kl, bestI = i;
        if (i == kKlBins)
            break;
    }
    return double(bestI) / kKlBins;
}

ClipRange klClipRange(const float* x, std::int64_t n, const IntGrid& grid)
{
    if (n == 0)
        return {};
    const FiniteRange fr = finiteRange(x, n);
    const float amax = std::max(std::fabs(fr.lo), std::fabs(fr.hi));
    if (amax == 0.0f)
        return {0.0f, 0.0f};
    std::vector<std::int64_t> counts;
    if (n > (1 << 16)) {
        counts = computeAbsHistogram(x, n, kKlBins, amax).counts;
    } else {
        accumulateKlHistogram(x, n, amax, counts);
    }
    const float f = float(klRatioFromHistogram(counts, grid.bits, fr.finite));
    if (grid.scheme != Scheme::Asymmetric)
        return {-f * amax, f * amax};
    return {f * fr.lo, f * fr.hi};
}

ClipRange chooseRange(const float* x, std::int64_t n, const RangeMethod& method, const IntGrid& grid, float* work)
{
    return chooseRange(x, n, finiteRange(x, n), method, grid, work);
}

bool rangeNeedsScratch(const RangeMethod& method, const FiniteRange& fr)
{
    switch (method.kind) {
    case RangeKind::MinMax: return false;
    case RangeKind::Percentile: return fr.finite < kPercentileBySelection;
    case RangeKind::Mse:
    case RangeKind::Kl: return fr.nonfinite > 0;
    }
    return true;
}

ClipRange chooseRange(const float* x, std::int64_t n, const FiniteRange& fr, const RangeMethod& method,
                      const IntGrid& grid, float* work)
{
    if (fr.finite == 0)
        return {0.0f, 0.0f};
    const bool sym = grid.scheme != Scheme::Asymmetric;
    switch (method.kind) {
    case RangeKind::MinMax:
        return {fr.lo, fr.hi};
    case RangeKind::Percentile: {
        const double p = std::clamp(method.percentile, 0.0, 100.0) / 100.0;
        if (fr.finite >= kPercentileBySelection) {
            // Same values as the sorted-copy path below, without the copy and its sort.
            if (sym) {
                float t;
                quantilesByOrder(x, n, fr.finite, true, &p, 1, &t);
                return {-t, t};
            }
            const double qs[2] = {1.0 - p, p};
            float v[2];
            quantilesByOrder(x, n, fr.finite, false, qs, 2, v);
            return {v[0], v[1]};
        }
        if (float t, lo, hi; sym ? tailQuantile(x, n, fr.finite, true, p, t)
                                  : tailQuantile(x, n, fr.finite, false, p, hi) &&
                                        tailQuantile(x, n, fr.finite, false, 1.0 - p, lo))
            return sym ? ClipRange{-t, t} : ClipRange{lo, hi};
        const std::int64_t m = copyFinite(x, n, work);
        if (sym) {
            for (std::int64_t i = 0; i < m; ++i)
                work[i] = std::fabs(work[i]);
            const float t = quantileInPlace(work, m, p);
            return {-t, t};
        }
        const float hi = quantileInPlace(work, m, p);
        const float lo = quantileInPlace(work, m, 1.0 - p);
        return {lo, hi};
    }
    case RangeKind::Mse: {
        const float* v = x;
        std::int64_t m = n;
        if (fr.nonfinite > 0) {
            m = copyFinite(x, n, work);
            v = work;
        }
        return v == x ? mseClipSearch(v, m, fr.lo, fr.hi, grid) : mseClipSearch(v, m, grid);
    }
    case RangeKind::Kl: {
        const float* v = x;
        std::int64_t m = n;
        if (fr.nonfinite > 0) {
            m = copyFinite(x, n, work);
            v = work;
        }
        return klClipRange(v, m, grid);
    }
    }
    return {fr.lo, fr.hi};
}

} // namespace ql
