#include "core/formats/extreme_formats.h"

#include "core/formats/format_driver.h"
#include "core/quant/int_quant.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace ql {

namespace {

// Mean |x| over finite values, summed in double in index order.
double meanAbs(const float* x, std::int64_t n, std::int64_t& count)
{
    double s = 0.0;
    count = 0;
    for (std::int64_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) <= FLT_MAX) {
            s += std::fabs(double(x[i]));
            ++count;
        }
    return count > 0 ? s / double(count) : 0.0;
}

void binaryFit(const float* x, std::int64_t n, const QuantSpec&, SegmentFit& fit, bool)
{
    std::int64_t count;
    const double alpha = meanAbs(x, n, count);
    const FiniteRange fr = finiteRange(x, n);
    fit.range = ClipRange{fr.lo, fr.hi};
    fit.scale = alpha > 0.0 ? float(alpha) : 1.0f;
}

void binaryEncode(const float* x, std::int64_t n, const QuantSpec&, const SegmentFit& fit, std::int32_t* codes,
                  float* xhat)
{
    const float a = fit.scale;
    for (std::int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const bool fin = std::fabs(v) <= FLT_MAX;
        const int c = v < 0.0f ? -1 : 1;
        xhat[i] = fin ? a * float(c) : v;
        if (codes)
            codes[i] = fin ? c : 0;
    }
}

// Ternary: encode sees pieces of a segment, so the fit keeps α in scale and the threshold
// Δ = 0.7 · mean|x| in range.hi (range.lo = −Δ).
void ternaryFit(const float* x, std::int64_t n, const QuantSpec&, SegmentFit& fit, bool)
{
    std::int64_t count;
    const double delta = 0.7 * meanAbs(x, n, count);
    double s = 0.0;
    std::int64_t kept = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const double a = std::fabs(double(x[i]));
        if (a <= FLT_MAX && a > delta) {
            s += a;
            ++kept;
        }
    }
    fit.scale = kept > 0 && s > 0.0 ? float(s / double(kept)) : 1.0f;
    // The range records the dead zone: values inside (−Δ, Δ) become 0.
    fit.range = ClipRange{float(-delta), float(delta)};
}

void ternaryEncode(const float* x, std::int64_t n, const QuantSpec&, const SegmentFit& fit, std::int32_t* codes,
                   float* xhat)
{
    const float a = fit.scale;
    const double delta = fit.range.hi;
    for (std::int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const bool fin = std::fabs(v) <= FLT_MAX;
        const int c = std::fabs(double(v)) > delta ? (v < 0.0f ? -1 : 1) : 0;
        xhat[i] = fin ? a * float(c) : v;
        if (codes)
            codes[i] = fin ? c : 0;
    }
}

Result<QuantResult> quantizeBinary(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt, TaskContext& ctx)
{
    ElementCodec c;
    c.fit = &binaryFit;
    c.encode = &binaryEncode;
    return quantizeSegments(x, spec, opt, ctx, c);
}

Result<QuantResult> quantizeTernary(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt,
                                    TaskContext& ctx)
{
    ElementCodec c;
    c.fit = &ternaryFit;
    c.encode = &ternaryEncode;
    auto r = quantizeSegments(x, spec, opt, ctx, c);
    // The dead zone is not a clipping range: nothing of a ternary result counts as clipped.
    if (r) {
        r->metrics.clipped = 0;
        r->metrics.sumClipErr2 = 0.0;
        r->metrics.finalize();
    }
    return r;
}

double segmentSize(const QuantSpec& spec, const Shape& shape)
{
    auto L = makeLayout(shape, spec.granularity);
    return L && L->segmentSize > 0 ? double(L->segmentSize) : 1.0;
}

double binaryBits(const QuantSpec& spec, const Shape& shape)
{
    return 1.0 + scaleStorageBits(spec.scaleStorage) / segmentSize(spec, shape);
}

double ternaryBits(const QuantSpec& spec, const Shape& shape)
{
    return 1.6 + scaleStorageBits(spec.scaleStorage) / segmentSize(spec, shape);
}

std::vector<double> binaryLevels(const QuantResult& r, std::int64_t s)
{
    if (s < 0 || s >= std::int64_t(r.scales.size()))
        return {};
    return {-double(r.scales[s]), double(r.scales[s])};
}

std::vector<double> ternaryLevels(const QuantResult& r, std::int64_t s)
{
    if (s < 0 || s >= std::int64_t(r.scales.size()))
        return {};
    return {-double(r.scales[s]), 0.0, double(r.scales[s])};
}

constexpr unsigned kAllGranularities = granularityBit(GranularityKind::Tensor) |
                                       granularityBit(GranularityKind::Channel) | granularityBit(GranularityKind::Group);

} // namespace

void appendExtremeFormats(std::vector<FormatTraits>& table)
{
    const unsigned params = kParamGranularity | kParamGroupSize | kParamScaleStorage;
    table.push_back(FormatTraits{Format::Binary, "binary", "Binary", FormatFamily::Extreme, 1, 1, 1, params,
                                 kAllGranularities, 0, 0, -1, "sign(x) · α, α = mean |x| per segment",
                                 "1 + scale bits / segment size", nullptr, &binaryBits, &quantizeBinary, &binaryLevels,
                                 nullptr});
    table.push_back(FormatTraits{Format::Ternary, "ternary", "Ternary", FormatFamily::Extreme, 2, 2, 2, params,
                                 kAllGranularities, 0, 0, -1,
                                 "{−α, 0, +α}: |x| > 0.7 · mean|x| keeps its sign, α = mean of the kept |x|",
                                 "1.6 (5 trits per byte) + scale bits / segment size", nullptr, &ternaryBits,
                                 &quantizeTernary, &ternaryLevels, nullptr});
}

} // namespace ql
