#include "core/quant/landscape.h"

#include "core/quant/format_traits.h"
#include "core/quant/int_grid.h"
#include "core/quant/layout.h"
#include "core/quant/range.h"
#include "core/quant/stats.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>

namespace ql {

namespace {

struct SampledSegment {
    std::int64_t begin = 0;  // offset into the flat sample buffer
    std::int64_t count = 0;
    float mn = 0.0f;
    float mx = 0.0f;
};

struct Split {
    double clip = 0.0;
    double round = 0.0;
};

// Clip range of a segment at ratio f of its min-max range (the MSE search's parametrisation).
ClipRange rangeAt(const SampledSegment& s, double f, const IntGrid& g)
{
    if (g.scheme == Scheme::Asymmetric)
        return ClipRange{float(f * std::min(s.mn, 0.0f)), float(f * std::max(s.mx, 0.0f))};
    const double a = std::max(std::fabs(double(s.mn)), std::fabs(double(s.mx)));
    return ClipRange{float(-f * a), float(f * a)};
}

// Ratio of a chosen range to the segment's min-max range, in the same parametrisation.
double ratioOf(const SampledSegment& s, const ClipRange& r, const IntGrid& g)
{
    if (g.scheme == Scheme::Asymmetric) {
        const double full = double(std::max(s.mx, 0.0f)) - double(std::min(s.mn, 0.0f));
        const double got = double(std::max(r.hi, 0.0f)) - double(std::min(r.lo, 0.0f));
        return full > 0.0 ? std::clamp(got / full, 0.0, 1.0) : 1.0;
    }
    const double full = std::max(std::fabs(double(s.mn)), std::fabs(double(s.mx)));
    const double got = std::max(std::fabs(double(r.lo)), std::fabs(double(r.hi)));
    return full > 0.0 ? std::clamp(got / full, 0.0, 1.0) : 1.0;
}

Split evaluate(const std::vector<float>& vals, const std::vector<SampledSegment>& segs, double f, const IntGrid& g)
{
    Split out;
    for (const SampledSegment& s : segs) {
        const ClipRange r = rangeAt(s, f, g);
        const IntParams p = intParams(r.lo, r.hi, g);
        double clip = 0.0, round = 0.0;
        const float* x = vals.data() + s.begin;
        for (std::int64_t i = 0; i < s.count; ++i) {
            const float d = x[i] - dequantizeOne(quantizeOne(x[i], p, g.rounding), p);
            const double e = double(d) * double(d);
            if (x[i] < r.lo || x[i] > r.hi)
                clip += e;
            else
                round += e;
        }
        out.clip += clip;
        out.round += round;
    }
    return out;
}

} // namespace

Result<ClipLandscape> computeClipLandscape(const TensorView& x, const QuantSpec& spec, const LandscapeOptions& options,
                                           TaskContext& ctx)
{
    if (auto n = checkedNumel(x.shape); !n)
        return n.error();
    if (options.points < 2 || !(options.minRatio > 0.0 && options.minRatio < 1.0) || options.maxSamples < 1)
        return makeError(ErrorCode::InvalidArgument, "landscape needs at least 2 points, a ratio in (0, 1) and samples");
    ClipLandscape out;
    out.elements = x.numel();
    const FormatTraits* traits = findFormatTraits(spec.format);
    out.integerGrid = traits && traits->family == FormatFamily::Integer;
    IntGrid grid;
    grid.bits = std::clamp(spec.bits, 2, 16);
    grid.scheme = out.integerGrid ? spec.scheme : Scheme::Symmetric;
    grid.rounding = spec.rounding;
    out.bits = grid.bits;
    out.scheme = grid.scheme;

    // Segments of the spec (per-tensor when the granularity does not lay out on this shape).
    Granularity gran = spec.granularity;
    if (!out.integerGrid)
        gran = Granularity{};
    Result<SegmentLayout> layout = makeLayout(x.shape, gran);
    if (!layout) {
        gran = Granularity{};
        layout = makeLayout(x.shape, gran);
        if (!layout)
            return layout.error();
    }
    out.granularity = gran.kind;
    const SegmentLayout& L = *layout;
    if (out.elements == 0)
        return out;

    const FiniteRange whole = finiteRange(x.data, out.elements);
    out.amax = std::max(std::fabs(double(whole.lo)), std::fabs(double(whole.hi)));

    // Deterministic sample: every k-th segment, and every m-th value inside a segment too large.
    const std::int64_t segSize = L.segmentSize;
    const std::int64_t perSeg = std::min(segSize, options.maxSamples);
    const std::int64_t innerStride = (segSize + perSeg - 1) / perSeg;
    const std::int64_t wantSegs = std::max<std::int64_t>(1, options.maxSamples / std::max<std::int64_t>(perSeg, 1));
    const std::int64_t segStride = std::max<std::int64_t>(1, (L.segments + wantSegs - 1) / wantSegs);

    std::vector<float> vals;
    std::vector<SampledSegment> segs;
    std::vector<float> buf(static_cast<std::size_t>(segSize));
    for (std::int64_t s = 0; s < L.segments; s += segStride) {
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled");
        L.gather(x.data, s, buf.data());
        SampledSegment seg;
        seg.begin = static_cast<std::int64_t>(vals.size());
        float mn = FLT_MAX, mx = -FLT_MAX;
        for (std::int64_t i = 0; i < segSize; i += innerStride) {
            const float v = buf[static_cast<std::size_t>(i)];
            if (!(std::fabs(v) <= FLT_MAX))
                continue;
            vals.push_back(v);
            mn = std::min(mn, v);
            mx = std::max(mx, v);
        }
        seg.count = static_cast<std::int64_t>(vals.size()) - seg.begin;
        if (seg.count == 0)
            continue;
        seg.mn = mn;
        seg.mx = mx;
        segs.push_back(seg);
    }
    out.samples = static_cast<std::int64_t>(vals.size());
    if (out.samples == 0)
        return out;

    // Ratios: log-spaced from minRatio up to exactly 1.
    std::vector<double> ratios(static_cast<std::size_t>(options.points));
    for (int i = 0; i < options.points; ++i)
        ratios[static_cast<std::size_t>(i)] =
            std::exp(std::log(options.minRatio) * (1.0 - double(i) / double(options.points - 1)));
    ratios.back() = 1.0;

    // Marker ratios, averaged over sampled segments weighted by their sample counts.
    const double pct = spec.range.kind == RangeKind::Percentile ? spec.range.percentile : options.percentile;
    double sumPct = 0.0, sumMse = 0.0, weight = 0.0;
    std::vector<std::int64_t> klCounts;
    std::vector<float> work;
    for (const SampledSegment& s : segs) {
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled");
        const float* v = vals.data() + s.begin;
        work.resize(static_cast<std::size_t>(s.count));
        const ClipRange rp = chooseRange(v, s.count, RangeMethod{RangeKind::Percentile, pct}, grid, work.data());
        const ClipRange rm = mseClipSearch(v, s.count, grid);
        sumPct += ratioOf(s, rp, grid) * double(s.count);
        sumMse += ratioOf(s, rm, grid) * double(s.count);
        weight += double(s.count);
        accumulateKlHistogram(v, s.count, std::max(std::fabs(s.mn), std::fabs(s.mx)), klCounts);
    }
    const double klRatio = klRatioFromHistogram(klCounts, grid.bits, out.samples);

    struct MarkerSeed {
        RangeKind kind;
        std::string label;
        double ratio;
    };
    char pctLabel[32];
    std::snprintf(pctLabel, sizeof pctLabel, "p%g", pct);
    const std::vector<MarkerSeed> seeds = {{RangeKind::MinMax, "min-max", 1.0},
                                           {RangeKind::Percentile, pctLabel, sumPct / weight},
                                           {RangeKind::Mse, "MSE", sumMse / weight},
                                           {RangeKind::Kl, "KL", klRatio}};

    // Evaluate the curve and the markers: parallel over ratios, each ratio reduced in segment order.
    const int nCurve = options.points;
    const int nAll = nCurve + static_cast<int>(seeds.size());
    std::vector<Split> splits(static_cast<std::size_t>(nAll));
    bool cancelled = false;
    ProgressTracker tracker(ctx, nAll);
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < nAll; ++i) {
        if (tracker.stopRequested())
            continue;
        const double f = i < nCurve ? ratios[static_cast<std::size_t>(i)] : seeds[static_cast<std::size_t>(i - nCurve)].ratio;
        splits[static_cast<std::size_t>(i)] = evaluate(vals, segs, f, grid);
        tracker.advance(1);
    }
    cancelled = tracker.stopRequested();
    tracker.finish();
    if (cancelled)
        return makeError(ErrorCode::Cancelled, "cancelled");

    const double inv = 1.0 / double(out.samples);
    for (int i = 0; i < nCurve; ++i) {
        const Split& s = splits[static_cast<std::size_t>(i)];
        LandscapePoint p;
        p.ratio = ratios[static_cast<std::size_t>(i)];
        p.threshold = p.ratio * out.amax;
        p.clipMse = s.clip * inv;
        p.roundMse = s.round * inv;
        p.mse = p.clipMse + p.roundMse;
        out.points.push_back(p);
    }
    for (std::size_t k = 0; k < seeds.size(); ++k) {
        const Split& s = splits[static_cast<std::size_t>(nCurve) + k];
        LandscapeMarker m;
        m.kind = seeds[k].kind;
        m.label = seeds[k].label;
        m.ratio = seeds[k].ratio;
        m.threshold = m.ratio * out.amax;
        m.clipMse = s.clip * inv;
        m.roundMse = s.round * inv;
        m.mse = m.clipMse + m.roundMse;
        out.markers.push_back(m);
        if (out.integerGrid && m.kind == spec.range.kind)
            out.currentMarker = static_cast<int>(k);
    }
    return out;
}

} // namespace ql
