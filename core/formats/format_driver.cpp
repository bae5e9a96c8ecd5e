#include "core/formats/format_driver.h"

#include "core/quant/int_quant.h"
#include "core/quant/range.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
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
    ProgressTracker progress(ctx, n);
#pragma omp parallel
    {
        std::vector<float> clean;
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
                    if (!r.codes.empty())
                        codec.blockCodes(blk + b * bytes, r.codes.data() + row * rowLen + b * B);
                    if (!r.scales.empty())
                        r.scales[row * bpr + b] = codec.blockScale(blk + b * bytes, ts);
                }
            }
            progress.advance((r1 - r0) * rowLen);
        }
    }
    if (progress.stopRequested())
        return makeError(ErrorCode::Cancelled, "cancelled");
    progress.finish();
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
            quantizeScalesInt8(sc);
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
