#include "core/quant/stats.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace ql {

namespace {

// Fixed work unit for reductions: partials are formed per chunk and combined in chunk order, so
// the result never depends on how many threads ran the chunks.
constexpr std::int64_t kChunk = 1 << 16;

inline bool isFiniteF(float v)
{
    return std::fabs(v) <= FLT_MAX;
}

} // namespace

std::int64_t Histogram::total() const
{
    std::int64_t t = below + above;
    for (auto c : counts)
        t += c;
    return t;
}

void Metrics::merge(const Metrics& o)
{
    elements += o.elements;
    finite += o.finite;
    nonfinite += o.nonfinite;
    clipped += o.clipped;
    sumX2 += o.sumX2;
    sumErr2 += o.sumErr2;
    sumXQ += o.sumXQ;
    sumQ2 += o.sumQ2;
    sumClipErr2 += o.sumClipErr2;
    maxAbsError = std::max(maxAbsError, o.maxAbsError);
}

Metrics Metrics::fromParts(const std::vector<Metrics>& parts, std::int64_t n)
{
    Metrics total;
    for (const auto& p : parts)
        total.merge(p);
    total.elements = n;
    total.finite = n - total.nonfinite;
    total.finalize();
    return total;
}

void Metrics::finalize()
{
    const double n = finite > 0 ? double(finite) : 1.0;
    mse = sumErr2 / n;
    rmse = std::sqrt(mse);
    clipMse = sumClipErr2 / n;
    roundMse = std::max(0.0, sumErr2 - sumClipErr2) / n;
    clipFraction = finite > 0 ? double(clipped) / double(finite) : 0.0;
    if (sumErr2 == 0.0)
        sqnrDb = std::numeric_limits<double>::infinity();
    else if (sumX2 == 0.0)
        sqnrDb = -std::numeric_limits<double>::infinity();
    else
        sqnrDb = 10.0 * std::log10(sumX2 / sumErr2);
    if (sumX2 == 0.0 && sumQ2 == 0.0)
        cosine = 1.0;
    else if (sumX2 == 0.0 || sumQ2 == 0.0)
        cosine = 0.0;
    else
        cosine = sumXQ / std::sqrt(sumX2 * sumQ2);
}

namespace {

// Accumulates x vs x̂ over n contiguous values; elements with x outside [lo, hi] (or, with
// kPerElement, outside [lo[i], hi[i]]) count as clipped.
template <bool kPerElement>
void accumulateImpl(const float* x, const float* q, std::int64_t n, float lo, float hi, const float* los,
                    const float* his, bool useClip, Metrics& m)
{
    for (std::int64_t b = 0; b < n; b += 1024) {
        const std::int64_t e = std::min(n, b + 1024);
        float sx2 = 0, se2 = 0, sxq = 0, sq2 = 0, sc2 = 0, emax = 0;
        int nonfin = 0, clip = 0;
#pragma omp simd reduction(+ : sx2, se2, sxq, sq2, sc2, nonfin, clip) reduction(max : emax)
        for (std::int64_t i = b; i < e; ++i) {
            const float xv = x[i];
            const bool fin = std::fabs(xv) <= FLT_MAX;
            const float xs = fin ? xv : 0.0f;
            const float qs = fin ? q[i] : 0.0f;
            const float err = xs - qs;
            const float l = kPerElement ? los[i] : lo, h = kPerElement ? his[i] : hi;
            const bool c = useClip && fin && (xv < l || xv > h);
            sx2 += xs * xs;
            se2 += err * err;
            sxq += xs * qs;
            sq2 += qs * qs;
            sc2 += c ? err * err : 0.0f;
            emax = std::max(emax, std::fabs(err));
            nonfin += fin ? 0 : 1;
            clip += c ? 1 : 0;
        }
        m.sumX2 += sx2;
        m.sumErr2 += se2;
        m.sumXQ += sxq;
        m.sumQ2 += sq2;
        m.sumClipErr2 += sc2;
        m.maxAbsError = std::max<double>(m.maxAbsError, emax);
        m.nonfinite += nonfin;
        m.clipped += clip;
        m.elements += e - b;
    }
}

void accumulate(const float* x, const float* q, std::int64_t n, float lo, float hi, bool useClip, Metrics& m)
{
    accumulateImpl<false>(x, q, n, lo, hi, nullptr, nullptr, useClip, m);
}

} // namespace

void accumulateMetrics(const float* x, const float* xhat, std::int64_t n, const float* lo, const float* hi, Metrics& m)
{
    accumulateImpl<true>(x, xhat, n, 0.0f, 0.0f, lo, hi, true, m);
}

Metrics computeMetrics(const TensorView& x, const float* xhat, const SegmentLayout& layout,
                       const std::vector<ClipRange>& ranges, TaskContext& ctx)
{
    const std::int64_t n = x.numel();
    const bool useClip = !ranges.empty();
    // Work items: (segment, run) pairs, grouped into chunks of about kChunk elements.
    const std::int64_t runsTotal = layout.segments * layout.nRuns;
    const std::int64_t runLen = std::max<std::int64_t>(layout.runLength, 1);
    if (layout.runLength >= kChunk || runsTotal == 1) {
        // Few long runs: split each run into fixed chunks.
        const std::int64_t chunksPerRun = (layout.runLength + kChunk - 1) / kChunk;
        const std::int64_t nChunks = runsTotal * chunksPerRun;
        std::vector<Metrics> parts(static_cast<std::size_t>(nChunks));
        ProgressTracker progress(ctx, n);
#pragma omp parallel for schedule(dynamic, 4)
        for (std::int64_t c = 0; c < nChunks; ++c) {
            if (progress.stopRequested())
                continue;
            const std::int64_t run = c / chunksPerRun, piece = c % chunksPerRun;
            const std::int64_t s = run / layout.nRuns, r = run % layout.nRuns;
            const std::int64_t off = layout.runBase(s) + r * layout.runStride + piece * kChunk;
            const std::int64_t len = std::min(kChunk, layout.runLength - piece * kChunk);
            const ClipRange cr = useClip ? ranges[s] : ClipRange{};
            accumulate(x.data + off, xhat + off, len, cr.lo, cr.hi, useClip, parts[c]);
            progress.advance(len);
        }
        return Metrics::fromParts(parts, n);
    }
    {
        const std::int64_t runsPerChunk = std::max<std::int64_t>(1, kChunk / runLen);
        const std::int64_t nChunks = (runsTotal + runsPerChunk - 1) / runsPerChunk;
        std::vector<Metrics> parts(static_cast<std::size_t>(nChunks));
        ProgressTracker progress(ctx, n);
#pragma omp parallel for schedule(dynamic, 4)
        for (std::int64_t c = 0; c < nChunks; ++c) {
            if (progress.stopRequested())
                continue;
            const std::int64_t r0 = c * runsPerChunk, r1 = std::min(runsTotal, r0 + runsPerChunk);
            for (std::int64_t run = r0; run < r1; ++run) {
                const std::int64_t s = run / layout.nRuns, r = run % layout.nRuns;
                const std::int64_t off = layout.runBase(s) + r * layout.runStride;
                const ClipRange cr = useClip ? ranges[s] : ClipRange{};
                accumulate(x.data + off, xhat + off, layout.runLength, cr.lo, cr.hi, useClip, parts[c]);
            }
            progress.advance((r1 - r0) * layout.runLength);
        }
        return Metrics::fromParts(parts, n);
    }
}

namespace {

// Min, max and non-finite count of one chunk, exact. The fast pass keeps 32 independent lanes
// (so the compiler emits several vector accumulators with no dependency chain between them) and
// tracks the largest |x| bit pattern as an integer: ≥ 0x7f800000 means an Inf or NaN is present,
// and only then does the chunk go through the slower select-per-element pass.
FiniteRange chunkFiniteRange(const float* x, std::int64_t n)
{
    constexpr int W = 32;
    float lo[W], hi[W];
    std::uint32_t amax[W];
    for (int j = 0; j < W; ++j) {
        lo[j] = std::numeric_limits<float>::infinity();
        hi[j] = -std::numeric_limits<float>::infinity();
        amax[j] = 0;
    }
    std::int64_t i = 0;
    for (; i + W <= n; i += W)
        for (int j = 0; j < W; ++j) {
            const float v = x[i + j];
            std::uint32_t u;
            std::memcpy(&u, &v, sizeof u);
            lo[j] = std::min(lo[j], v);
            hi[j] = std::max(hi[j], v);
            amax[j] = std::max(amax[j], u & 0x7fffffffu);
        }
    for (int j = 1; j < W; ++j) {
        lo[0] = std::min(lo[0], lo[j]);
        hi[0] = std::max(hi[0], hi[j]);
        amax[0] = std::max(amax[0], amax[j]);
    }
    for (; i < n; ++i) {
        const float v = x[i];
        std::uint32_t u;
        std::memcpy(&u, &v, sizeof u);
        lo[0] = std::min(lo[0], v);
        hi[0] = std::max(hi[0], v);
        amax[0] = std::max(amax[0], u & 0x7fffffffu);
    }
    if (amax[0] < 0x7f800000u)
        return FiniteRange{lo[0], hi[0], n, 0};

    float l = std::numeric_limits<float>::infinity(), h = -l;
    std::int64_t nonfin = 0;
#pragma omp simd reduction(min : l) reduction(max : h) reduction(+ : nonfin)
    for (std::int64_t k = 0; k < n; ++k) {
        const float v = x[k];
        const bool fin = std::fabs(v) <= FLT_MAX;
        l = std::min(l, fin ? v : std::numeric_limits<float>::infinity());
        h = std::max(h, fin ? v : -std::numeric_limits<float>::infinity());
        nonfin += fin ? 0 : 1;
    }
    return FiniteRange{l, h, n - nonfin, nonfin};
}

} // namespace

FiniteRange finiteRange(const float* x, std::int64_t n)
{
    FiniteRange r{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), 0, 0};
    auto merge = [&r](const FiniteRange& p) {
        r.lo = std::min(r.lo, p.lo);
        r.hi = std::max(r.hi, p.hi);
        r.finite += p.finite;
        r.nonfinite += p.nonfinite;
    };
    const std::int64_t nChunks = (n + kChunk - 1) / kChunk;
    if (nChunks <= 4 || omp_in_parallel()) {
        // Small inputs (one segment of a per-channel spec, say) stay on the caller's thread with no
        // parallel-region set-up.
        for (std::int64_t b = 0; b < n; b += kChunk)
            merge(chunkFiniteRange(x + b, std::min(kChunk, n - b)));
    } else {
        std::vector<FiniteRange> parts(static_cast<std::size_t>(nChunks));
#pragma omp parallel for schedule(static)
        for (std::int64_t c = 0; c < nChunks; ++c) {
            const std::int64_t b = c * kChunk;
            parts[c] = chunkFiniteRange(x + b, std::min(kChunk, n - b));
        }
        for (const auto& p : parts)
            merge(p);
    }
    if (r.finite == 0)
        r.lo = r.hi = 0.0f;
    return r;
}

namespace {

// Slot of every value of one block in the interleaved sub-histograms: 4·bin + (i mod 4), with
// bin = bins for below, bins + 1 for above, bins + 2 for non-finite. Vectorised (min/max and
// selects only, no branches). kDiff bins x − q, kAbs bins |value|.
template <bool kDiff, bool kAbs>
void binIndices(const float* x, const float* q, int len, int bins, float flo, float fhi, float inv,
                std::int32_t* idx)
{
    const float fmaxBin = static_cast<float>(bins - 1);
    // A 32-bit counter: a 64-bit one makes the (i mod 4) term a 64-bit vector lane computation.
#pragma omp simd
    for (int i = 0; i < len; ++i) {
        const float d = kDiff ? x[i] - q[i] : x[i];
        const float v = kAbs ? std::fabs(d) : d;
        const bool fin = std::fabs(v) <= FLT_MAX;
        const float t = std::min(std::max((v - flo) * inv, 0.0f), fmaxBin);
        std::int32_t k = static_cast<std::int32_t>(t);  // truncation = floor for t ≥ 0
        k = v < flo ? bins : k;
        k = v > fhi ? bins + 1 : k;
        k = fin ? k : bins + 2;
        idx[i] = 4 * k + (i & 3);
    }
}

// Bins values (or x − x̂ when q is given) into h. Four sub-histograms per chunk break the
// store-to-load dependency on repeated bins.
Histogram histogramImpl(const float* x, const float* q, std::int64_t n, int bins, double lo, double hi,
                        bool absolute = false)
{
    Histogram h;
    bins = std::max(bins, 1);
    h.lo = lo;
    h.hi = hi;
    h.counts.assign(bins, 0);
    const std::int64_t nChunks = (n + kChunk - 1) / kChunk;
    const int nThreads = omp_in_parallel() ? 1 : std::max(1, std::min<int>(omp_get_max_threads(), int(nChunks)));
    // Per-thread integer counts: integer addition is associative, so the result is exact and
    // independent of the thread count.
    std::vector<std::int64_t> counts(static_cast<std::size_t>(nThreads) * (bins + 3), 0);
    const float flo = static_cast<float>(lo);
    const float fhi = static_cast<float>(hi);
    const float inv = static_cast<float>(double(bins) / (hi - lo));
#pragma omp parallel num_threads(nThreads)
    {
        std::int64_t* mine = counts.data() + std::size_t(omp_get_thread_num()) * (bins + 3);
        std::vector<std::uint32_t> sub(4 * std::size_t(bins + 3));
        // Indices go through a small buffer that stays in L1 between the two passes.
        constexpr std::int64_t kBlock = 1024;
        alignas(64) std::int32_t idx[kBlock];
        // Each sub-slot receives at most a quarter of the values binned since the last flush, so
        // 32-bit counters are safe for 2^33 values; flushing once per thread keeps the 8 K-slot
        // fold out of the loop.
        std::int64_t sinceFlush = 0;
        auto flush = [&] {
            for (int k = 0; k < bins + 3; ++k) {
                mine[k] += std::int64_t(sub[4 * k]) + sub[4 * k + 1] + sub[4 * k + 2] + sub[4 * k + 3];
                sub[4 * k] = sub[4 * k + 1] = sub[4 * k + 2] = sub[4 * k + 3] = 0;
            }
            sinceFlush = 0;
        };
#pragma omp for schedule(static)
        for (std::int64_t c = 0; c < nChunks; ++c) {
            const std::int64_t cb = c * kChunk, ce = std::min(n, cb + kChunk);
            for (std::int64_t b = cb; b < ce; b += kBlock) {
                const int len = static_cast<int>(std::min(kBlock, ce - b));
                if (q)
                    binIndices<true, false>(x + b, q + b, len, bins, flo, fhi, inv, idx);
                else if (absolute)
                    binIndices<false, true>(x + b, nullptr, len, bins, flo, fhi, inv, idx);
                else
                    binIndices<false, false>(x + b, nullptr, len, bins, flo, fhi, inv, idx);
                // Neighbouring values land in different sub-histograms, so a run of equal bins
                // does not serialise on one counter.
                std::uint32_t* const sp = sub.data();
                // The scalar increments leave the memory system idle; fetching two blocks ahead
                // keeps the input streaming while they run (the hardware prefetcher alone stalls).
                const float* ahead = x + b + 2 * kBlock;
                const bool prefetch = b + 3 * kBlock <= n;
                int i = 0;
                for (; i + 16 <= len; i += 16) {
                    if (prefetch) {
                        __builtin_prefetch(ahead + i);
                        if (q)
                            __builtin_prefetch(q + b + 2 * kBlock + i);
                    }
                    for (int j = 0; j < 16; ++j)
                        ++sp[idx[i + j]];
                }
                for (; i < len; ++i)
                    ++sp[idx[i]];
            }
            sinceFlush += ce - cb;
            if (sinceFlush >= (std::int64_t(1) << 32))
                flush();
        }
        flush();
    }
    for (int t = 0; t < nThreads; ++t) {
        const std::int64_t* c = counts.data() + std::size_t(t) * (bins + 3);
        for (int k = 0; k < bins; ++k)
            h.counts[k] += c[k];
        h.below += c[bins];
        h.above += c[bins + 1];
        h.nonfinite += c[bins + 2];
    }
    return h;
}

} // namespace

Histogram computeHistogram(const float* x, std::int64_t n, int bins, std::optional<std::pair<double, double>> range)
{
    double lo, hi;
    if (range) {
        lo = range->first;
        hi = range->second;
    } else {
        const FiniteRange fr = finiteRange(x, n);
        lo = fr.lo;
        hi = fr.hi;
    }
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    return histogramImpl(x, nullptr, n, bins, lo, hi);
}

Histogram computeAbsHistogram(const float* x, std::int64_t n, int bins, double hi)
{
    return histogramImpl(x, nullptr, n, bins, 0.0, hi > 0.0 ? hi : 1.0, true);
}

Histogram computeErrorHistogram(const float* x, const float* xhat, std::int64_t n, int bins,
                                std::optional<std::pair<double, double>> range)
{
    double lo, hi;
    if (range) {
        lo = range->first;
        hi = range->second;
    } else {
        float emax = 0.0f;
#pragma omp parallel for simd reduction(max : emax) if (n > 4 * kChunk && !omp_in_parallel())
        for (std::int64_t i = 0; i < n; ++i) {
            const float e = std::fabs(x[i] - xhat[i]);
            emax = std::max(emax, e <= FLT_MAX ? e : 0.0f);
        }
        lo = -double(emax);
        hi = double(emax);
    }
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    return histogramImpl(x, xhat, n, bins, lo, hi);
}

} // namespace ql
