#include "core/formats/format_driver.h"

#include "core/quant/int_quant.h"
#include "core/quant/range.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <string>

namespace ql {

namespace {

// Elements per work item of the drivers.
constexpr std::int64_t kPiece = 1 << 16;

bool allFinite(const float* x, std::int64_t n)
{
    int bad = 0;
#pragma omp simd reduction(+ : bad)
    for (std::int64_t i = 0; i < n; ++i)
        bad += std::fabs(x[i]) <= FLT_MAX ? 0 : 1;
    return bad == 0;
}

} // namespace

float finiteAbsMax(const float* x, std::int64_t n)
{
    float m = 0.0f;
#pragma omp simd reduction(max : m)
    for (std::int64_t i = 0; i < n; ++i) {
        const float a = std::fabs(x[i]);
        m = std::max(m, a <= FLT_MAX ? a : 0.0f);
    }
    return m;
}

Result<void> validateRows(const Shape& shape, std::int64_t blockSize, std::string_view formatName)
{
    if (shape.empty())
        return makeError(ErrorCode::InvalidSpec,
                         std::string(formatName) + " packs blocks along rows and needs a tensor with at least one axis");
    const std::int64_t rowLen = shape.back();
    if (rowLen <= 0 || rowLen % blockSize != 0)
        return makeError(ErrorCode::InvalidSpec, std::string(formatName) + " packs blocks of " +
                                                     std::to_string(blockSize) + " along each row, but the rows of " +
                                                     shapeToString(shape) + " have " + std::to_string(rowLen) +
                                                     " elements, not a multiple of " + std::to_string(blockSize));
    return {};
}

namespace {

// The level set of a clip model: extremes and the gaps to their neighbours.
struct LevelSpan {
    float lo = 0, hi = 0, gapLo = 1, gapHi = 1;
};

LevelSpan levelSpan(const BlockCodec::Clip& c)
{
    std::vector<float> v;
    for (int code = c.codeMin; code <= c.codeMax; ++code)
        v.push_back(c.levels ? c.levels[code - c.codeMin] : float(code));
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    LevelSpan s;
    s.lo = v.front();
    s.hi = v.back();
    if (v.size() > 1) {
        s.gapLo = v[1] - v[0];
        s.gapHi = v.back() - v[v.size() - 2];
    }
    return s;
}

// Clip ranges of the sub-blocks of one block from its codes and x̂ (see BlockCodec::Clip).
void subBlockRanges(const BlockCodec::Clip& c, const LevelSpan& span, const std::int32_t* codes, const float* y,
                    std::int64_t blockSize, ClipRange* out)
{
    constexpr float kInf = std::numeric_limits<float>::infinity();
    for (std::int64_t s0 = 0, k = 0; s0 < blockSize; s0 += c.subBlock, ++k) {
        int iLo = -1, iHi = -1;
        float lLo = 0, lHi = 0;
        for (std::int64_t i = s0; i < s0 + c.subBlock; ++i) {
            if (!(std::fabs(y[i]) <= FLT_MAX))
                continue;
            const float l = c.levels ? c.levels[codes[i] - c.codeMin] : float(codes[i]);
            if (iLo < 0 || l < lLo)
                iLo = int(i), lLo = l;
            if (iHi < 0 || l > lHi)
                iHi = int(i), lHi = l;
        }
        if (iLo < 0 || !(lHi > lLo)) {
            out[k] = ClipRange{-kInf, kInf};  // one level only: the step is unknown, nothing counts as clipped
            continue;
        }
        const double a = (double(y[iHi]) - double(y[iLo])) / double(lHi - lLo);
        const double b = double(y[iLo]) - a * lLo;
        const double e0 = a * (span.lo - 0.5 * span.gapLo) + b, e1 = a * (span.hi + 0.5 * span.gapHi) + b;
        out[k] = ClipRange{float(std::min(e0, e1)), float(std::max(e0, e1))};
    }
}

} // namespace

Result<QuantResult> quantizeRows(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt,
                                 TaskContext& ctx, const BlockCodec& codec, std::string_view formatName)
{
    if (auto ok = validateRows(x.shape, codec.blockSize, formatName); !ok)
        return ok.error();
    const std::int64_t n = x.numel(), B = codec.blockSize, rowLen = x.shape.back();
    const std::int64_t nRows = n / rowLen, bpr = rowLen / B, nBlocks = n / B, bytes = codec.blockBytes;

    QuantResult r;
    r.spec = spec;
    r.shape = x.shape;
    SegmentLayout& L = r.layout;
    L.kind = GranularityKind::Group;
    L.axis = 0;
    L.numel = n;
    L.channels = nRows;
    L.inner = rowLen;
    L.groupsPerChannel = bpr;
    L.segments = nBlocks;
    L.segmentSize = B;
    L.runLength = B;

    r.blocks.resize(static_cast<std::size_t>(nBlocks * bytes));
    sizeOutputBuffers(r, opt, static_cast<std::size_t>(n), true, opt.keepCodes && codec.blockCodes);
    if (codec.blockScale)
        r.scales.resize(static_cast<std::size_t>(nBlocks));
    const float ts = codec.tensorScaleOf ? codec.tensorScaleOf(x.data, n) : 1.0f;
    const float* imp = opt.importance.empty() ? nullptr : opt.importance.data();

    const std::int64_t rowsPerChunk = std::max<std::int64_t>(1, kPiece / rowLen);
    const std::int64_t nChunks = (nRows + rowsPerChunk - 1) / rowsPerChunk;
    const BlockCodec::Clip& clip = codec.clip;
    const bool clipModel = clip.subBlock > 0 && codec.blockCodes && B % clip.subBlock == 0;
    const std::int64_t subPerBlock = clipModel ? B / clip.subBlock : 0;
    const LevelSpan span = clipModel ? levelSpan(clip) : LevelSpan{};
    std::vector<ClipRange> subRanges(static_cast<std::size_t>(nBlocks * subPerBlock));
    // With a clip model the metrics are gathered here, per chunk and merged in chunk order.
    std::vector<Metrics> parts(clipModel ? static_cast<std::size_t>(nChunks) : 0);
    ProgressTracker progress(ctx, n);
#pragma omp parallel
    {
        std::vector<float> clean, rowLo(clipModel ? static_cast<std::size_t>(rowLen) : 0), rowHi(rowLo.size());
        std::vector<std::int32_t> blockCodes(clipModel ? static_cast<std::size_t>(B) : 0);
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t c = 0; c < nChunks; ++c) {
            if (progress.stopRequested())
                continue;
            const std::int64_t r0 = c * rowsPerChunk, r1 = std::min(nRows, r0 + rowsPerChunk);
            for (std::int64_t row = r0; row < r1; ++row) {
                const float* src = x.data + row * rowLen;
                const bool finite = allFinite(src, rowLen);
                if (!finite) {
                    clean.assign(src, src + rowLen);
                    for (auto& v : clean)
                        if (!(std::fabs(v) <= FLT_MAX))
                            v = 0.0f;
                    src = clean.data();
                }
                std::uint8_t* blk = r.blocks.data() + row * bpr * bytes;
                float* y = r.dequant.data() + row * rowLen;
                codec.encodeRow(src, imp, rowLen, blk, ts);
                codec.decodeRow(blk, bpr, y, ts);
                if (!finite) {
                    const float* orig = x.data + row * rowLen;
                    for (std::int64_t i = 0; i < rowLen; ++i)
                        if (!(std::fabs(orig[i]) <= FLT_MAX))
                            y[i] = orig[i];
                }
                for (std::int64_t b = 0; b < bpr; ++b) {
                    std::int32_t* codes = r.codes.empty() ? blockCodes.data() : r.codes.data() + row * rowLen + b * B;
                    if (!r.codes.empty() || clipModel)
                        codec.blockCodes(blk + b * bytes, codes);
                    if (clipModel)
                        subBlockRanges(clip, span, codes, y + b * B, B,
                                       subRanges.data() + (row * bpr + b) * subPerBlock);
                    if (!r.scales.empty())
                        r.scales[row * bpr + b] = codec.blockScale(blk + b * bytes, ts);
                }
                if (clipModel) {
                    const ClipRange* sr = subRanges.data() + row * bpr * subPerBlock;
                    for (std::int64_t k = 0; k < bpr * subPerBlock; ++k)
                        for (int i = 0; i < clip.subBlock; ++i) {
                            rowLo[std::size_t(k * clip.subBlock + i)] = sr[k].lo;
                            rowHi[std::size_t(k * clip.subBlock + i)] = sr[k].hi;
                        }
                    accumulateMetrics(x.data + row * rowLen, y, rowLen, rowLo.data(), rowHi.data(), parts[std::size_t(c)]);
                }
            }
            progress.advance((r1 - r0) * rowLen);
        }
    }
    if (progress.stopRequested())
        return makeError(ErrorCode::Cancelled, "cancelled");
    progress.finish();
    if (clipModel) {
        // Metrics against the sub-block clip ranges; each block's range (for the views) is the
        // union of its sub-blocks'.
        r.metrics = Metrics::fromParts(parts, n);
        // Sub-blocks of one level (open ranges) are left out of the union; a block of nothing
        // else gets the span of its x̂.
        r.ranges.resize(static_cast<std::size_t>(nBlocks));
        for (std::int64_t b = 0; b < nBlocks; ++b) {
            ClipRange u{FLT_MAX, -FLT_MAX};
            for (std::int64_t k = 0; k < subPerBlock; ++k) {
                const ClipRange& c = subRanges[static_cast<std::size_t>(b * subPerBlock + k)];
                if (std::isfinite(c.lo) && std::isfinite(c.hi)) {
                    u.lo = std::min(u.lo, c.lo);
                    u.hi = std::max(u.hi, c.hi);
                }
            }
            if (u.lo > u.hi) {
                for (std::int64_t i = b * B; i < (b + 1) * B; ++i)
                    if (std::fabs(r.dequant[std::size_t(i)]) <= FLT_MAX) {
                        u.lo = std::min(u.lo, r.dequant[std::size_t(i)]);
                        u.hi = std::max(u.hi, r.dequant[std::size_t(i)]);
                    }
                if (u.lo > u.hi)
                    u = ClipRange{0.0f, 0.0f};
            }
            r.ranges[static_cast<std::size_t>(b)] = u;
        }
    }
    finishResult(x, r.dequant.data(), opt, r, ctx);
    if (!opt.keepDequant)
        std::vector<float>().swap(r.dequant);
    if (!opt.keepCodes)
        std::vector<std::uint8_t>().swap(r.blocks);
    return r;
}

Result<QuantResult> quantizeSegments(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt,
                                     TaskContext& ctx, const ElementCodec& codec)
{
    auto layoutR = makeLayout(x.shape, spec.granularity);
    if (!layoutR)
        return layoutR.error();
    const SegmentLayout L = *layoutR;
    const std::int64_t n = L.numel, S = L.segments, segN = L.segmentSize;

    QuantResult r;
    r.spec = spec;
    r.shape = x.shape;
    r.layout = L;
    sizeOutputBuffers(r, opt, static_cast<std::size_t>(n), true, opt.keepCodes);
    std::vector<SegmentFit> fits(static_cast<std::size_t>(S));
    ProgressTracker progress(ctx, 2 * n);

    // Phase A: one fit per segment. A single segment may parallelise inside its fit.
    if (S == 1 && L.contiguous()) {
        codec.fit(x.data + L.runBase(0), segN, spec, fits[0], true);
        progress.advance(segN);
    } else {
#pragma omp parallel
        {
            std::vector<float> buf(L.contiguous() ? 0 : segN);
#pragma omp for schedule(dynamic, 16)
            for (std::int64_t s = 0; s < S; ++s) {
                if (progress.stopRequested())
                    continue;
                const float* seg = x.data + L.runBase(s);
                if (!L.contiguous()) {
                    L.gather(x.data, s, buf.data());
                    seg = buf.data();
                }
                codec.fit(seg, segN, spec, fits[s], false);
                progress.advance(segN);
            }
        }
    }
    if (progress.stopRequested())
        return makeError(ErrorCode::Cancelled, "cancelled");
    if (codec.roundScales) {
        std::vector<float> sc(static_cast<std::size_t>(S));
        for (std::int64_t s = 0; s < S; ++s)
            sc[s] = fits[s].scale;
        if (spec.scaleStorage == ScaleStorage::Int8)
            (codec.quantizeScalesInt8 ? codec.quantizeScalesInt8 : &ql::quantizeScalesInt8)(sc);
        else
            for (auto& v : sc)
                v = roundScaleToStorage(v, spec.scaleStorage);
        for (std::int64_t s = 0; s < S; ++s)
            fits[s].scale = sc[s];
    }

    // Phase B: encode. Contiguous segments are cut into pieces so one huge segment still uses
    // every thread; strided ones are gathered, encoded and scattered whole.
    const bool smallSegments = segN <= kPiece || !L.contiguous();
    const std::int64_t segsPerChunk = smallSegments ? std::max<std::int64_t>(1, kPiece / std::max<std::int64_t>(segN, 1)) : 1;
    const std::int64_t piecesPerSeg = smallSegments ? 1 : (segN + kPiece - 1) / kPiece;
    const std::int64_t nChunks = smallSegments ? (S + segsPerChunk - 1) / segsPerChunk : S * piecesPerSeg;
#pragma omp parallel
    {
        std::vector<float> buf(L.contiguous() ? 0 : segN), xbuf(L.contiguous() ? 0 : segN);
        std::vector<std::int32_t> cbuf(L.contiguous() || !opt.keepCodes ? 0 : segN);
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t c = 0; c < nChunks; ++c) {
            if (progress.stopRequested())
                continue;
            if (smallSegments) {
                const std::int64_t s0 = c * segsPerChunk, s1 = std::min(S, s0 + segsPerChunk);
                for (std::int64_t s = s0; s < s1; ++s) {
                    const std::int64_t base = L.runBase(s);
                    if (L.contiguous()) {
                        codec.encode(x.data + base, segN, spec, fits[s], opt.keepCodes ? r.codes.data() + base : nullptr,
                                     r.dequant.data() + base);
                    } else {
                        L.gather(x.data, s, buf.data());
                        codec.encode(buf.data(), segN, spec, fits[s], opt.keepCodes ? cbuf.data() : nullptr, xbuf.data());
                        L.scatter(xbuf.data(), s, r.dequant.data());
                        if (opt.keepCodes)
                            L.scatterT(cbuf.data(), s, r.codes.data());
                    }
                }
                progress.advance((s1 - s0) * segN);
            } else {
                const std::int64_t s = c / piecesPerSeg, piece = c % piecesPerSeg;
                const std::int64_t off = L.runBase(s) + piece * kPiece;
                const std::int64_t len = std::min(kPiece, segN - piece * kPiece);
                codec.encode(x.data + off, len, spec, fits[s], opt.keepCodes ? r.codes.data() + off : nullptr,
                             r.dequant.data() + off);
                progress.advance(len);
            }
        }
    }
    if (progress.stopRequested())
        return makeError(ErrorCode::Cancelled, "cancelled");
    progress.finish();

    r.ranges.resize(static_cast<std::size_t>(S));
    const bool codebook = !fits.empty() && !fits[0].book.empty();
    for (std::int64_t s = 0; s < S; ++s) {
        r.ranges[s] = fits[s].range;
        if (codebook)
            r.scales.insert(r.scales.end(), fits[s].book.begin(), fits[s].book.end());
        else
            r.scales.push_back(fits[s].scale);
    }
    finishResult(x, r.dequant.data(), opt, r, ctx);
    if (!opt.keepDequant)
        std::vector<float>().swap(r.dequant);
    return r;
}

float chooseSymmetricThreshold(const float* x, std::int64_t n, const RangeMethod& method, int klBits,
                               double (*err)(const float* x, std::int64_t n, float t, const void* arg),
                               const void* arg)
{
    const float amax = finiteAbsMax(x, n);
    if (!(amax > 0.0f))
        return 0.0f;
    switch (method.kind) {
    case RangeKind::MinMax:
        return amax;
    case RangeKind::Percentile:
    case RangeKind::Kl: {
        std::vector<float> work(static_cast<std::size_t>(n));
        const ClipRange cr = chooseRange(x, n, method, IntGrid{klBits, Scheme::Symmetric, Rounding::HalfEven}, work.data());
        const float t = std::max(std::fabs(cr.lo), std::fabs(cr.hi));
        return t > 0.0f ? t : amax;
    }
    case RangeKind::Mse: {
        // searchClipFactor's grid, as for integer grids, on a stride subsample for large segments.
        constexpr std::int64_t kMaxSamples = 1 << 17;
        std::vector<float> sub;
        const float* xs = x;
        std::int64_t m = n;
        if (n > kMaxSamples) {
            const std::int64_t stride = (n + kMaxSamples - 1) / kMaxSamples;
            for (std::int64_t i = 0; i < n; i += stride)
                if (std::fabs(x[i]) <= FLT_MAX)
                    sub.push_back(x[i]);
            xs = sub.data();
            m = static_cast<std::int64_t>(sub.size());
        }
        const double bestF = searchClipFactor([&](double f) { return err(xs, m, float(f * amax), arg); });
        return float(bestF * amax);
    }
    }
    return amax;
}

} // namespace ql
