#include "core/quant/int_quant.h"

#include "core/base/dtype.h"
#include "core/quant/int_grid.h"
#include "core/quant/range.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

namespace ql {

namespace {

// Elements per work item; partial metrics are formed per chunk of work items and combined in
// chunk order, so results never depend on the thread count.
constexpr std::int64_t kPiece = 1 << 16;

struct SegmentOut {
    float* xhat = nullptr;        // may be null
    std::int32_t* codes = nullptr;  // may be null
    // Input the caller reads next (same length, may be null): fetched into cache while this run
    // computes, so the next segment's range pass does not wait on memory.
    const float* prefetch = nullptr;
};

// One block (≤ 1024 values) of quantizeRun. kDiv = false divides by multiplying with 1/scale and
// returns false, without trusting its output, when some value's quotient lies so close to a
// rounding boundary (k + ½) that the product and the true quotient x / scale might round apart;
// kDiv = true is the contract's division, always exact. Non-finite values become 0 for the
// statistics and pass through to x̂ unchanged.
template <bool kDiv, bool kStoreX, bool kStoreC, bool kNonFinite>
bool quantizeBlock(const float* x, std::int64_t b, std::int64_t e, const IntParams& p, SegmentOut out, Metrics& m)
{
    const float s = p.scale, zp = p.zeroPoint, qmin = p.qmin, qmax = p.qmax;
    const float inv = 1.0f / s;
    // |x·fl(1/s) − x/s| ≤ 2⁻²³·|x/s| (two roundings of 2⁻²⁴ each); twice that keeps a margin.
    constexpr float kTol = 0x1p-22f;
    float sx2 = 0, se2 = 0, sxq = 0, sq2 = 0, sc2 = 0, emax = 0;
    int clip = 0, nonfin = 0, risky = 0;
#pragma omp simd reduction(+ : sx2, se2, sxq, sq2, sc2, clip, nonfin, risky) reduction(max : emax)
    for (std::int64_t i = b; i < e; ++i) {
        const float xv = x[i];
        const bool fin = !kNonFinite || std::fabs(xv) <= FLT_MAX;
        const float xs = fin ? xv : 0.0f;
        const float t = kDiv ? xs / s : xs * inv;
        const float rt = __builtin_rintf(t);
        const float qr = rt + zp;
        const float q = std::min(std::max(qr, qmin), qmax);
        if constexpr (!kDiv) {
            // Bitwise & keeps the loop free of branches (&& would stop it vectorising).
            const bool onGrid = (qr >= qmin - 1.0f) & (qr <= qmax + 1.0f);
            const bool nearTie = std::fabs(t - rt) >= 0.5f - kTol * std::fabs(t);
            risky += (onGrid & nearTie) ? 1 : 0;
        }
        const float xh = s * (q - zp);
        const float err = xs - xh;
        const bool c = qr != q;
        sx2 += xs * xs;
        se2 += err * err;
        sxq += xs * xh;
        sq2 += xh * xh;
        sc2 += c ? err * err : 0.0f;
        emax = std::max(emax, std::fabs(err));
        clip += c ? 1 : 0;
        if constexpr (kNonFinite)
            nonfin += fin ? 0 : 1;
        if constexpr (kStoreX)
            out.xhat[i] = fin ? xh : xv;  // non-finite inputs pass through unchanged
        if constexpr (kStoreC)
            out.codes[i] = static_cast<std::int32_t>(q);
    }
    if (risky)
        return false;
    m.sumX2 += sx2;
    m.sumErr2 += se2;
    m.sumXQ += sxq;
    m.sumQ2 += sq2;
    m.sumClipErr2 += sc2;
    m.maxAbsError = std::max<double>(m.maxAbsError, emax);
    m.clipped += clip;
    m.nonfinite += nonfin;
    m.elements += e - b;
    return true;
}

// Fused quantize + dequantize + metrics over n contiguous values, in blocks of 1024 (float
// partial sums per block, double across blocks). A block normally takes the multiply path; the
// rare block holding a near-tie quotient is redone with the division, so the codes are exactly
// those of round(x / scale).
// Clipped = the clamp changed the code (the value lies beyond the grid by more than half a step).
template <bool kStoreX, bool kStoreC, bool kNonFinite>
void quantizeRun(const float* x, std::int64_t n, const IntParams& p, SegmentOut out, Metrics& m)
{
    for (std::int64_t b = 0; b < n; b += 1024) {
        const std::int64_t e = std::min(n, b + 1024);
        if (out.prefetch)
            for (std::int64_t i = b; i < e; i += 16)
                __builtin_prefetch(out.prefetch + i);
        if (!quantizeBlock<false, kStoreX, kStoreC, kNonFinite>(x, b, e, p, out, m))
            quantizeBlock<true, kStoreX, kStoreC, kNonFinite>(x, b, e, p, out, m);
    }
}

// Reference (scalar, any rounding mode) version of quantizeRun: defines correctness.
void quantizeRunRef(const float* x, std::int64_t n, const IntParams& p, Rounding r, SegmentOut out, Metrics& m)
{
    for (std::int64_t i = 0; i < n; ++i) {
        const float xv = x[i];
        ++m.elements;
        if (!(std::fabs(xv) <= FLT_MAX)) {
            ++m.nonfinite;
            if (out.xhat)
                out.xhat[i] = xv;
            if (out.codes)
                out.codes[i] = static_cast<std::int32_t>(p.zeroPoint);
            continue;
        }
        const float qr = roundCode(xv / p.scale, r) + p.zeroPoint;
        const float q = std::clamp(qr, p.qmin, p.qmax);
        const float xh = p.scale * (q - p.zeroPoint);
        const double err = double(xv) - double(xh);
        m.sumX2 += double(xv) * xv;
        m.sumErr2 += err * err;
        m.sumXQ += double(xv) * xh;
        m.sumQ2 += double(xh) * xh;
        if (qr != q) {
            ++m.clipped;
            m.sumClipErr2 += err * err;
        }
        m.maxAbsError = std::max(m.maxAbsError, std::fabs(err));
        if (out.xhat)
            out.xhat[i] = xh;
        if (out.codes)
            out.codes[i] = static_cast<std::int32_t>(q);
    }
}

void quantizeAny(const float* x, std::int64_t n, const IntParams& p, Rounding r, bool hasNonFinite, SegmentOut out,
                 Metrics& m)
{
    if (r != Rounding::HalfEven) {
        quantizeRunRef(x, n, p, r, out, m);
        return;
    }
    const int mode = (out.xhat ? 1 : 0) | (out.codes ? 2 : 0) | (hasNonFinite ? 4 : 0);
    switch (mode) {
    case 0: quantizeRun<false, false, false>(x, n, p, out, m); break;
    case 1: quantizeRun<true, false, false>(x, n, p, out, m); break;
    case 2: quantizeRun<false, true, false>(x, n, p, out, m); break;
    case 3: quantizeRun<true, true, false>(x, n, p, out, m); break;
    case 4: quantizeRun<false, false, true>(x, n, p, out, m); break;
    case 5: quantizeRun<true, false, true>(x, n, p, out, m); break;
    case 6: quantizeRun<false, true, true>(x, n, p, out, m); break;
    default: quantizeRun<true, true, true>(x, n, p, out, m); break;
    }
}

IntGrid gridOf(const QuantSpec& spec)
{
    return IntGrid{spec.bits, spec.scheme, spec.rounding};
}

// Shared KL clipping ratio for all segments (range.h): pools |x| / amax_segment into one
// histogram, then clips every segment's [min, max] by the same ratio. `ranges` holds each
// segment's finite [min, max] on entry and the clip range on return.
void applyPooledKl(const TensorView& x, const SegmentLayout& L, const IntGrid& grid, std::vector<ClipRange>& ranges,
                   std::vector<float>& scales)
{
    const std::int64_t S = L.segments, segN = L.segmentSize;
    const int nThreads = omp_get_max_threads();
    std::vector<std::vector<std::int64_t>> counts(nThreads);
    std::int64_t samples = 0;
#pragma omp parallel reduction(+ : samples)
    {
        std::vector<std::int64_t>& mine = counts[omp_get_thread_num()];
        std::vector<float> buf(L.contiguous() ? 0 : segN);
#pragma omp for schedule(dynamic, 16)
        for (std::int64_t s = 0; s < S; ++s) {
            const float* seg = x.data + L.runBase(s);
            if (!L.contiguous()) {
                L.gather(x.data, s, buf.data());
                seg = buf.data();
            }
            const float amax = std::max(std::fabs(ranges[s].lo), std::fabs(ranges[s].hi));
            accumulateKlHistogram(seg, segN, amax, mine);
        }
    }
    std::vector<std::int64_t> total;
    for (auto& c : counts) {
        if (c.empty())
            continue;
        if (total.empty())
            total.assign(c.size(), 0);
        for (std::size_t k = 0; k < c.size(); ++k)
            total[k] += c[k];
    }
    for (auto v : total)
        samples += v;
    const float f = float(klRatioFromHistogram(total, grid.bits, samples));
    for (std::int64_t s = 0; s < S; ++s) {
        ClipRange& cr = ranges[s];
        if (grid.scheme == Scheme::Asymmetric) {
            cr = ClipRange{f * cr.lo, f * cr.hi};
        } else {
            const float a = f * std::max(std::fabs(cr.lo), std::fabs(cr.hi));
            cr = ClipRange{-a, a};
        }
        scales[s] = intParams(cr.lo, cr.hi, grid).scale;
    }
}

Result<QuantResult> quantizeIntImpl(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt,
                                    TaskContext& ctx)
{
    auto layoutR = makeLayout(x.shape, spec.granularity);
    if (!layoutR)
        return layoutR.error();
    const SegmentLayout L = *layoutR;
    const std::int64_t n = L.numel, S = L.segments, segN = L.segmentSize;
    const IntGrid grid = gridOf(spec);

    QuantResult r;
    r.spec = spec;
    r.shape = x.shape;
    r.layout = L;
    r.scales.assign(S, 1.0f);
    r.ranges.assign(S, ClipRange{});
    std::vector<float> zps(S, 0.0f);
    const bool needX = opt.keepDequant || opt.histogramBins > 0;
    sizeOutputBuffers(r, opt, std::size_t(n), needX, opt.keepCodes);

    // Work items: whole segments when they fit a piece (grouped into chunks of ~kPiece elements),
    // else pieces of one contiguous segment.
    const bool smallSegments = segN <= kPiece || !L.contiguous();
    const std::int64_t segsPerChunk = smallSegments ? std::max<std::int64_t>(1, kPiece / std::max<std::int64_t>(segN, 1)) : 1;
    const std::int64_t piecesPerSeg = smallSegments ? 1 : (segN + kPiece - 1) / kPiece;
    const std::int64_t nChunks = smallSegments ? (S + segsPerChunk - 1) / segsPerChunk : S * piecesPerSeg;
    std::vector<Metrics> parts(static_cast<std::size_t>(nChunks));
    std::vector<std::uint8_t> segHasNonFinite(S, 0);
    // KL over several segments pools one histogram for a shared clipping ratio (range.h), so the
    // ranges need a pass over every segment before any is quantized.
    const bool pooledKl = spec.range.kind == RangeKind::Kl && S > 1;
    const bool fused = smallSegments && spec.scaleStorage != ScaleStorage::Int8 && !pooledKl;

    ProgressTracker progress(ctx, fused ? n : 2 * n);

    // Phase A (two-phase path only): ranges and scales of every segment.
    if (!fused) {
        if (smallSegments) {
#pragma omp parallel
            {
                std::vector<float> buf(L.contiguous() ? 0 : segN), work(segN);
#pragma omp for schedule(dynamic, 16)
                for (std::int64_t s = 0; s < S; ++s) {
                    if (progress.stopRequested())
                        continue;
                    const float* seg = x.data + L.runBase(s);
                    if (!L.contiguous()) {
                        L.gather(x.data, s, buf.data());
                        seg = buf.data();
                    }
                    const FiniteRange fr = finiteRange(seg, segN);
                    segHasNonFinite[s] = fr.nonfinite > 0;
                    if (pooledKl) {
                        r.ranges[s] = ClipRange{fr.lo, fr.hi};
                    } else {
                        r.ranges[s] = chooseRange(seg, segN, fr, spec.range, grid, work.data());
                        r.scales[s] = intParams(r.ranges[s].lo, r.ranges[s].hi, grid).scale;
                    }
                    progress.advance(segN);
                }
            }
            if (pooledKl && !progress.stopRequested())
                applyPooledKl(x, L, grid, r.ranges, r.scales);
        } else {
            // Scratch only where chooseRange needs it: zero-filling a tensor-sized buffer costs
            // more than the MSE search itself.
            std::vector<float> work;
            for (std::int64_t s = 0; s < S && !progress.stopRequested(); ++s) {
                const float* seg = x.data + L.runBase(s);
                const FiniteRange fr = finiteRange(seg, segN);
                segHasNonFinite[s] = fr.nonfinite > 0;
                if (work.empty() && rangeNeedsScratch(spec.range, fr))
                    work.resize(segN);
                if (pooledKl) {
                    r.ranges[s] = ClipRange{fr.lo, fr.hi};
                } else {
                    r.ranges[s] = chooseRange(seg, segN, fr, spec.range, grid, work.data());
                    r.scales[s] = intParams(r.ranges[s].lo, r.ranges[s].hi, grid).scale;
                }
                progress.advance(segN);
            }
            if (pooledKl && !progress.stopRequested())
                applyPooledKl(x, L, grid, r.ranges, r.scales);
        }
        if (progress.stopRequested())
            return makeError(ErrorCode::Cancelled, "cancelled");
        if (spec.scaleStorage == ScaleStorage::Int8)
            quantizeScalesInt8(r.scales);
        else
            for (auto& sc : r.scales)
                sc = roundScaleToStorage(sc, spec.scaleStorage);
    }

    // Phase B: quantize + dequantize + metrics (fused path: ranges first, in cache).
#pragma omp parallel
    {
        std::vector<float> buf(L.contiguous() ? 0 : segN), xbuf(L.contiguous() ? 0 : segN);
        std::vector<std::int32_t> cbuf(L.contiguous() ? 0 : segN);
        std::vector<float> work(fused && spec.range.kind != RangeKind::MinMax ? segN : 0);
#pragma omp for schedule(dynamic, 4)
        for (std::int64_t c = 0; c < nChunks; ++c) {
            if (progress.stopRequested())
                continue;
            Metrics& m = parts[c];
            if (smallSegments) {
                const std::int64_t s0 = c * segsPerChunk, s1 = std::min(S, s0 + segsPerChunk);
                for (std::int64_t s = s0; s < s1; ++s) {
                    const std::int64_t base = L.runBase(s);
                    const float* seg = x.data + base;
                    SegmentOut out;
                    if (L.contiguous()) {
                        out.xhat = needX ? r.dequant.data() + base : nullptr;
                        out.codes = opt.keepCodes ? r.codes.data() + base : nullptr;
                        out.prefetch = s + 1 < S ? x.data + L.runBase(s + 1) : nullptr;
                    } else {
                        L.gather(x.data, s, buf.data());
                        seg = buf.data();
                        out.xhat = needX ? xbuf.data() : nullptr;
                        out.codes = opt.keepCodes ? cbuf.data() : nullptr;
                    }
                    if (fused) {
                        const FiniteRange fr = finiteRange(seg, segN);
                        segHasNonFinite[s] = fr.nonfinite > 0;
                        if (spec.range.kind != RangeKind::MinMax && work.size() < std::size_t(segN))
                            work.resize(segN);
                        r.ranges[s] = chooseRange(seg, segN, fr, spec.range, grid, work.data());
                        const IntParams raw = intParams(r.ranges[s].lo, r.ranges[s].hi, grid);
                        r.scales[s] = roundScaleToStorage(raw.scale, spec.scaleStorage);
                    }
                    const IntParams p = intParams(r.ranges[s].lo, r.ranges[s].hi, grid, r.scales[s]);
                    zps[s] = p.zeroPoint;
                    quantizeAny(seg, segN, p, spec.rounding, segHasNonFinite[s] != 0, out, m);
                    if (!L.contiguous()) {
                        if (out.xhat)
                            L.scatter(out.xhat, s, r.dequant.data());
                        if (out.codes)
                            L.scatterT(out.codes, s, r.codes.data());
                    }
                }
                progress.advance((s1 - s0) * segN);
            } else {
                const std::int64_t s = c / piecesPerSeg, piece = c % piecesPerSeg;
                const std::int64_t off = L.runBase(s) + piece * kPiece;
                const std::int64_t len = std::min(kPiece, segN - piece * kPiece);
                const IntParams p = intParams(r.ranges[s].lo, r.ranges[s].hi, grid, r.scales[s]);
                if (piece == 0)
                    zps[s] = p.zeroPoint;
                SegmentOut out{needX ? r.dequant.data() + off : nullptr, opt.keepCodes ? r.codes.data() + off : nullptr};
                quantizeAny(x.data + off, len, p, spec.rounding, segHasNonFinite[s] != 0, out, m);
                progress.advance(len);
            }
        }
    }
    if (progress.stopRequested())
        return makeError(ErrorCode::Cancelled, "cancelled");
    progress.finish();

    r.metrics = Metrics::fromParts(parts, n);
    if (spec.scheme == Scheme::Asymmetric)
        r.zeroPoints = std::move(zps);
    finishResult(x, needX ? r.dequant.data() : nullptr, opt, r, ctx);
    if (!opt.keepDequant)
        std::vector<float>().swap(r.dequant);
    return r;
}

std::vector<double> intLevels(const QuantResult& r, std::int64_t segment)
{
    std::vector<double> levels;
    if (segment < 0 || segment >= static_cast<std::int64_t>(r.scales.size()))
        return levels;
    IntParams p = intParams(r.ranges[segment].lo, r.ranges[segment].hi,
                            IntGrid{r.spec.bits, r.spec.scheme, r.spec.rounding}, r.scales[segment]);
    const auto count = static_cast<std::int64_t>(p.qmax - p.qmin) + 1;
    levels.reserve(static_cast<std::size_t>(count));
    for (std::int64_t q = 0; q < count; ++q)
        levels.push_back(double(p.scale) * (double(p.qmin) + double(q) - double(p.zeroPoint)));
    return levels;
}

double intBitsPerWeight(const QuantSpec& spec, const Shape& shape)
{
    auto L = makeLayout(shape, spec.granularity);
    const double segN = L && L->segmentSize > 0 ? double(L->segmentSize) : 1.0;
    double perSegment = scaleStorageBits(spec.scaleStorage);
    if (spec.scheme == Scheme::Asymmetric)
        perSegment += spec.bits;  // the zero point is stored as a b-bit code
    return double(spec.bits) + perSegment / segN;
}

double f32BitsPerWeight(const QuantSpec&, const Shape&)
{
    return 32.0;
}

Result<QuantResult> quantizeF32(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt, TaskContext& ctx)
{
    QuantResult r;
    r.spec = spec;
    r.shape = x.shape;
    r.layout = *makeLayout(x.shape, Granularity{});
    r.dequant.assign(x.data, x.data + x.numel());
    finishResult(x, r.dequant.data(), opt, r, ctx);
    if (!opt.keepDequant)
        std::vector<float>().swap(r.dequant);
    return r;
}

} // namespace

float roundScaleToStorage(float scale, ScaleStorage storage)
{
    switch (storage) {
    case ScaleStorage::F32:
    case ScaleStorage::Int8:
        return scale;
    case ScaleStorage::F16: {
        float v = halfToFloat(floatToHalf(scale));
        if (!(v > 0.0f))
            v = std::ldexp(1.0f, -24);  // smallest fp16 subnormal
        return std::min(v, 65504.0f);
    }
    case ScaleStorage::BF16: {
        float v = bf16ToFloat(floatToBf16(scale));
        if (!(v > 0.0f))
            v = std::numeric_limits<float>::min();
        return std::min(v, bf16ToFloat(0x7F7F));
    }
    }
    return scale;
}

void quantizeScalesInt8(std::vector<float>& scales)
{
    for (std::size_t b = 0; b < scales.size(); b += 256) {
        const std::size_t e = std::min(scales.size(), b + 256);
        float mx = 0.0f;
        for (std::size_t i = b; i < e; ++i)
            mx = std::max(mx, scales[i]);
        if (!(mx > 0.0f))
            continue;
        const float s2 = mx / 255.0f;
        for (std::size_t i = b; i < e; ++i) {
            const float code = std::clamp(__builtin_rintf(scales[i] / s2), 1.0f, 255.0f);
            scales[i] = code * s2;
        }
    }
}

double scaleStorageBits(ScaleStorage storage)
{
    switch (storage) {
    case ScaleStorage::F32: return 32.0;
    case ScaleStorage::F16:
    case ScaleStorage::BF16: return 16.0;
    case ScaleStorage::Int8: return 8.0 + 32.0 / 256.0;
    }
    return 32.0;
}

void appendIntegerFormats(std::vector<FormatTraits>& table)
{
    table.push_back(FormatTraits{
        Format::Int, "int", "INT", FormatFamily::Integer, 2, 16, 8,
        kParamBits | kParamScheme | kParamGranularity | kParamGroupSize | kParamRange | kParamScaleStorage,
        granularityBit(GranularityKind::Tensor) | granularityBit(GranularityKind::Channel) |
            granularityBit(GranularityKind::Group),
        0, 0, -1, "integer affine codes, asymmetric or symmetric, with a scale (and zero point) per segment",
        "b + (scale bits + b if asymmetric) / segment size", nullptr, &intBitsPerWeight, &quantizeIntImpl, &intLevels,
        nullptr});
    table.push_back(FormatTraits{Format::F32, "f32", "F32 (keep)", FormatFamily::None, 32, 32, 32, 0,
                                 granularityBit(GranularityKind::Tensor) | granularityBit(GranularityKind::Channel) |
                                     granularityBit(GranularityKind::Group),
                                 0, 0, 0 /* GGML_TYPE_F32 */, "kept as float32, not quantized", "32", nullptr, &f32BitsPerWeight,
                                 &quantizeF32, nullptr, nullptr});
}

} // namespace ql
