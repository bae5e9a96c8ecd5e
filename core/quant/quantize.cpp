#include "core/quant/quantize.h"

#include "core/quant/format_traits.h"

#include <cmath>

namespace ql {

Result<void> validateSpec(const QuantSpec& spec, const Shape& shape)
{
    const FormatTraits* t = findFormatTraits(spec.format);
    if (!t)
        return makeError(ErrorCode::InvalidSpec, "this build does not support the requested format");
    if (t->has(kParamBits) && (spec.bits < t->minBits || spec.bits > t->maxBits))
        return makeError(ErrorCode::InvalidSpec, std::string(t->name) + " takes " + std::to_string(t->minBits) +
                                                     " to " + std::to_string(t->maxBits) + " bits, got " +
                                                     std::to_string(spec.bits));
    if (!t->allows(spec.granularity.kind))
        return makeError(ErrorCode::InvalidSpec, std::string(t->name) + " does not support this granularity");
    if (t->has(kParamRange) && spec.range.kind == RangeKind::Percentile &&
        !(spec.range.percentile > 0.0 && spec.range.percentile <= 100.0))
        return makeError(ErrorCode::InvalidSpec, "percentile must lie in (0, 100], got " +
                                                     std::to_string(spec.range.percentile));
    if (auto n = checkedNumel(shape); !n)
        return n.error();
    if (t->has(kParamGranularity) || t->blockSize > 0) {
        if (auto L = makeLayout(shape, spec.granularity); !L)
            return L.error();
    }
    if (t->validate)
        return t->validate(spec, shape);
    return {};
}

void finishResult(const TensorView& x, const float* xhat, const QuantOptions& options, QuantResult& r,
                  TaskContext& ctx)
{
    const std::int64_t n = x.numel();
    if (r.metrics.elements == 0 && n > 0 && xhat)
        r.metrics = computeMetrics(x, xhat, r.layout, r.ranges, ctx);
    if (options.histogramBins > 0 && xhat) {
        r.histX = computeHistogram(x.data, n, options.histogramBins, options.histXRange);
        r.histErr = computeErrorHistogram(x.data, xhat, n, options.histogramBins, options.histErrRange);
    }
    if (r.metrics.nonfinite > 0)
        r.warnings.push_back(std::to_string(r.metrics.nonfinite) +
                             " non-finite values (NaN/Inf) excluded from ranges and metrics");
}

Result<QuantResult> quantize(const TensorView& x, const QuantSpec& spec, const QuantOptions& options,
                             TaskContext& ctx)
{
    if (auto ok = validateSpec(spec, x.shape); !ok)
        return ok.error();
    const FormatTraits& t = formatTraits(spec.format);
    if (!options.importance.empty() && !x.shape.empty() &&
        static_cast<std::int64_t>(options.importance.size()) != x.shape.back())
        return makeError(ErrorCode::ShapeMismatch, "importance weights have " +
                                                       std::to_string(options.importance.size()) +
                                                       " entries, the rows have " + std::to_string(x.shape.back()));
    const std::int64_t n = x.numel();
    Result<QuantResult> r = [&]() -> Result<QuantResult> {
        if (n == 0) {
            QuantResult e;
            e.spec = spec;
            e.shape = x.shape;
            e.warnings.push_back("empty tensor: nothing to quantize");
            return e;
        }
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled");
        return t.quantize(x, spec, options, ctx);
    }();
    if (!r)
        return r;
    r->bitsPerWeight = t.bitsPerWeight(spec, x.shape);
    r->storageBytes = static_cast<std::int64_t>(std::ceil(r->bitsPerWeight * double(n) / 8.0));
    return r;
}

std::vector<double> gridLevels(const QuantResult& r, std::int64_t segment)
{
    const FormatTraits& t = formatTraits(r.spec.format);
    if (!t.levels)
        return {};
    return t.levels(r, segment);
}

double bitsPerWeight(const QuantSpec& spec, const Shape& shape)
{
    return formatTraits(spec.format).bitsPerWeight(spec, shape);
}

void sizeOutputBuffers(QuantResult& r, const QuantOptions& opt, std::size_t n, bool dequant, bool codes)
{
    if (opt.recycle && opt.recycle != &r) {
        if (dequant)
            r.dequant.swap(opt.recycle->dequant);
        if (codes)
            r.codes.swap(opt.recycle->codes);
    }
    // resize keeps a recycled buffer of the same size as it is (no fill) and shrinks without
    // reallocating.
    if (dequant)
        r.dequant.resize(n);
    if (codes)
        r.codes.resize(n);
}

} // namespace ql
