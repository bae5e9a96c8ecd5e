#include "core/formats/codebook_formats.h"

#include "core/base/dtype.h"
#include "core/formats/format_driver.h"
#include "core/quant/int_quant.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>

namespace ql {

// ---- pow2 ----------------------------------------------------------------------------------------

int pow2Code(float v, float scale, int bits)
{
    const int top = (1 << (bits - 1)) - 1;
    const float a = std::fabs(v) / scale;
    const float l1 = std::ldexp(1.0f, 1 - top);
    int k;
    if (!(a >= 0.5f * l1)) {
        k = 0;
    } else if (a >= 1.0f) {
        k = top;
    } else {
        int ex;
        const float m = std::frexp(a, &ex);  // a = m · 2^ex, the level below is 2^(ex − 1)
        k = (ex - 1) + top + (m >= 0.75f ? 1 : 0);
        k = std::clamp(k, 1, top);
    }
    return v < 0.0f ? -k : k;
}

int pow2CodeRef(float v, float scale, int bits)
{
    const int top = (1 << (bits - 1)) - 1;
    std::vector<double> levels{0.0};
    for (int k = 1; k <= top; ++k)
        levels.push_back(std::ldexp(1.0, k - top));
    const double a = std::fabs(double(v) / double(scale));
    int best = 0;
    for (int k = 1; k <= top; ++k)
        if (std::fabs(a - levels[k]) <= std::fabs(a - levels[best]))  // ties go up
            best = k;
    return v < 0.0f ? -best : best;
}

float pow2Value(int code, float scale, int bits)
{
    if (code == 0)
        return 0.0f;
    const int top = (1 << (bits - 1)) - 1;
    const float m = scale * std::ldexp(1.0f, std::abs(code) - top);
    return code < 0 ? -m : m;
}

namespace {

double pow2ClipError(const float* x, std::int64_t n, float t, const void* arg)
{
    const int bits = *static_cast<const int*>(arg);
    double e = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
        if (!(std::fabs(x[i]) <= FLT_MAX))
            continue;
        const double d = double(x[i]) - pow2Value(pow2Code(x[i], t, bits), t, bits);
        e += d * d;
    }
    return e;
}

void pow2Fit(const float* x, std::int64_t n, const QuantSpec& spec, SegmentFit& fit, bool)
{
    const int bits = spec.bits;
    const float t = chooseSymmetricThreshold(x, n, spec.range, bits, &pow2ClipError, &bits);
    fit.range = ClipRange{-t, t};
    fit.scale = t > 0.0f ? t : 1.0f;
}

void pow2Encode(const float* x, std::int64_t n, const QuantSpec& spec, const SegmentFit& fit, std::int32_t* codes,
                float* xhat)
{
    for (std::int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        if (!(std::fabs(v) <= FLT_MAX)) {
            xhat[i] = v;
            if (codes)
                codes[i] = 0;
            continue;
        }
        const int c = pow2Code(v, fit.scale, spec.bits);
        xhat[i] = pow2Value(c, fit.scale, spec.bits);
        if (codes)
            codes[i] = c;
    }
}

Result<QuantResult> quantizePow2(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt, TaskContext& ctx)
{
    ElementCodec c;
    c.fit = &pow2Fit;
    c.encode = &pow2Encode;
    return quantizeSegments(x, spec, opt, ctx, c);
}

double segmentSize(const QuantSpec& spec, const Shape& shape)
{
    auto L = makeLayout(shape, spec.granularity);
    return L && L->segmentSize > 0 ? double(L->segmentSize) : 1.0;
}

double pow2Bits(const QuantSpec& spec, const Shape& shape)
{
    return double(spec.bits) + scaleStorageBits(spec.scaleStorage) / segmentSize(spec, shape);
}

std::vector<double> pow2Levels(const QuantResult& r, std::int64_t segment)
{
    std::vector<double> out;
    if (segment < 0 || segment >= std::int64_t(r.scales.size()))
        return out;
    const int top = (1 << (r.spec.bits - 1)) - 1;
    for (int c = -top; c <= top; ++c)
        out.push_back(pow2Value(c, r.scales[segment], r.spec.bits));
    return out;
}

// ---- k-means -------------------------------------------------------------------------------------

constexpr int kMaxLloydIterations = 100;
constexpr std::int64_t kExactLimit = 65536;
constexpr int kHistBins = 1 << 18;

// Lloyd on sorted weighted points: pos[0..m) ascending, pw/ps prefix weights and weighted sums
// (size m + 1). Returns k ascending levels.
std::vector<float> lloydSorted(const std::vector<double>& pos, const std::vector<double>& pw,
                               const std::vector<double>& ps, int k)
{
    const std::size_t m = pos.size();
    std::vector<float> c(static_cast<std::size_t>(k), 0.0f);
    if (m == 0)
        return c;
    const double W = pw[m];
    for (int j = 0; j < k; ++j) {
        const double target = (j + 0.5) / k * W;
        const std::size_t i = std::min<std::size_t>(m - 1, std::size_t(std::upper_bound(pw.begin() + 1, pw.end(), target) -
                                                                       (pw.begin() + 1)));
        c[j] = float(pos[i]);
    }
    std::vector<std::size_t> split(static_cast<std::size_t>(k + 1), 0), prev;
    split[k] = m;
    for (int it = 0; it < kMaxLloydIterations; ++it) {
        for (int j = 1; j < k; ++j) {
            const double boundary = 0.5 * (double(c[j - 1]) + double(c[j]));
            split[j] = std::size_t(std::lower_bound(pos.begin(), pos.end(), boundary) - pos.begin());
        }
        if (split == prev)
            break;
        prev = split;
        for (int j = 0; j < k; ++j) {
            const double w = pw[split[j + 1]] - pw[split[j]];
            if (w > 0.0)
                c[j] = float((ps[split[j + 1]] - ps[split[j]]) / w);
        }
        std::sort(c.begin(), c.end());
    }
    return c;
}

// The distinct finite values of x when there are at most k of them (ascending), else nothing.
// Data not yet quantized shows k + 1 distinct values within its first few hundred elements, so
// the scan stops there; already quantized data (a decoded codebook tensor) is scanned once.
std::vector<float> fewDistinct(const float* x, std::int64_t n, int k)
{
    std::vector<float> seen;
    seen.reserve(static_cast<std::size_t>(k) + 1);
    std::size_t last = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        if (!(std::fabs(v) <= FLT_MAX))
            continue;
        if (!seen.empty() && seen[last] == v)
            continue;
        const auto it = std::find(seen.begin(), seen.end(), v);
        if (it != seen.end()) {
            last = std::size_t(it - seen.begin());
            continue;
        }
        if (int(seen.size()) == k)
            return {};
        seen.push_back(v);
        last = seen.size() - 1;
    }
    if (seen.empty())
        return {};
    std::sort(seen.begin(), seen.end());
    return seen;
}

} // namespace

std::vector<float> kmeansCodebook(const float* x, std::int64_t n, int k, bool parallel)
{
    // At most k distinct values: they are the codebook (zero error, the optimum Lloyd would have
    // to find from its quantile start), padded with the largest. A decoded k-means tensor thus
    // encodes to the same codebook and codes.
    if (std::vector<float> few = fewDistinct(x, n, k); !few.empty()) {
        few.resize(static_cast<std::size_t>(k), few.back());
        return few;
    }
    if (n <= kExactLimit) {
        std::vector<double> pos;
        pos.reserve(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i)
            if (std::fabs(x[i]) <= FLT_MAX)
                pos.push_back(x[i]);
        std::sort(pos.begin(), pos.end());
        std::vector<double> pw(pos.size() + 1, 0.0), ps(pos.size() + 1, 0.0);
        for (std::size_t i = 0; i < pos.size(); ++i) {
            pw[i + 1] = double(i + 1);
            ps[i + 1] = ps[i] + pos[i];
        }
        return lloydSorted(pos, pw, ps, k);
    }
    // Histogram path: integer counts per bin (exact, so independent of the thread count).
    float lo = FLT_MAX, hi = -FLT_MAX;
#pragma omp parallel for reduction(min : lo) reduction(max : hi) if (parallel)
    for (std::int64_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) <= FLT_MAX) {
            lo = std::min(lo, x[i]);
            hi = std::max(hi, x[i]);
        }
    if (lo > hi)
        return std::vector<float>(static_cast<std::size_t>(k), 0.0f);
    if (lo == hi)
        return std::vector<float>(static_cast<std::size_t>(k), lo);
    const double width = (double(hi) - double(lo)) / kHistBins;
    const double inv = 1.0 / width;
    std::vector<std::int64_t> counts(kHistBins, 0);
#pragma omp parallel if (parallel)
    {
        std::vector<std::int64_t> mine(kHistBins, 0);
#pragma omp for schedule(static) nowait
        for (std::int64_t i = 0; i < n; ++i) {
            const float v = x[i];
            if (!(std::fabs(v) <= FLT_MAX))
                continue;
            const int b = std::min(kHistBins - 1, int((double(v) - lo) * inv));
            ++mine[b];
        }
#pragma omp critical
        for (int b = 0; b < kHistBins; ++b)
            counts[b] += mine[b];
    }
    std::vector<double> pos, pw{0.0}, ps{0.0};
    for (int b = 0; b < kHistBins; ++b)
        if (counts[b] > 0) {
            const double centre = double(lo) + (b + 0.5) * width;
            pos.push_back(centre);
            pw.push_back(pw.back() + double(counts[b]));
            ps.push_back(ps.back() + double(counts[b]) * centre);
        }
    return lloydSorted(pos, pw, ps, k);
}

std::vector<float> kmeansCodebookRef(const float* x, std::int64_t n, int k)
{
    if (std::vector<float> few = fewDistinct(x, n, k); !few.empty()) {
        few.resize(static_cast<std::size_t>(k), few.back());
        return few;
    }
    std::vector<double> v;
    for (std::int64_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) <= FLT_MAX)
            v.push_back(x[i]);
    std::sort(v.begin(), v.end());
    std::vector<float> c(static_cast<std::size_t>(k), 0.0f);
    if (v.empty())
        return c;
    for (int j = 0; j < k; ++j)
        c[j] = float(v[std::min(v.size() - 1, std::size_t(std::floor((j + 0.5) / k * double(v.size()))))]);
    std::vector<int> assign(v.size(), -1);
    for (int it = 0; it < kMaxLloydIterations; ++it) {
        bool changed = false;
        for (std::size_t i = 0; i < v.size(); ++i) {
            int best = 0;
            for (int j = 1; j < k; ++j)
                if (std::fabs(v[i] - c[j]) <= std::fabs(v[i] - c[best]))
                    best = j;
            changed = changed || best != assign[i];
            assign[i] = best;
        }
        if (!changed)
            break;
        std::vector<double> s(static_cast<std::size_t>(k), 0.0), w(static_cast<std::size_t>(k), 0.0);
        for (std::size_t i = 0; i < v.size(); ++i) {
            s[assign[i]] += v[i];
            w[assign[i]] += 1.0;
        }
        for (int j = 0; j < k; ++j)
            if (w[j] > 0)
                c[j] = float(s[j] / w[j]);
        std::sort(c.begin(), c.end());
    }
    return c;
}

namespace {

void kmeansFit(const float* x, std::int64_t n, const QuantSpec& spec, SegmentFit& fit, bool parallel)
{
    fit.book = kmeansCodebook(x, n, 1 << spec.bits, parallel);
    for (auto& v : fit.book) {
        if (spec.scaleStorage == ScaleStorage::F16)
            v = halfToFloat(floatToHalf(v));
        else if (spec.scaleStorage == ScaleStorage::BF16)
            v = bf16ToFloat(floatToBf16(v));
    }
    std::sort(fit.book.begin(), fit.book.end());
    const FiniteRange fr = finiteRange(x, n);
    fit.range = ClipRange{fr.lo, fr.hi};
    fit.scale = 1.0f;
}

void kmeansEncode(const float* x, std::int64_t n, const QuantSpec&, const SegmentFit& fit, std::int32_t* codes,
                  float* xhat)
{
    const std::vector<float>& book = fit.book;
    const int k = int(book.size());
    float mids[256];
    for (int j = 0; j + 1 < k; ++j)
        mids[j] = 0.5f * (book[j] + book[j + 1]);
    for (std::int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        if (!(std::fabs(v) <= FLT_MAX)) {
            xhat[i] = v;
            if (codes)
                codes[i] = 0;
            continue;
        }
        const int c = int(std::upper_bound(mids, mids + (k - 1), v) - mids);
        xhat[i] = book[c];
        if (codes)
            codes[i] = c;
    }
}

Result<QuantResult> quantizeKmeans(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt, TaskContext& ctx)
{
    ElementCodec c;
    c.fit = &kmeansFit;
    c.encode = &kmeansEncode;
    c.roundScales = false;
    return quantizeSegments(x, spec, opt, ctx, c);
}

double kmeansBits(const QuantSpec& spec, const Shape& shape)
{
    const double entryBits = spec.scaleStorage == ScaleStorage::F16 || spec.scaleStorage == ScaleStorage::BF16 ? 16.0 : 32.0;
    return double(spec.bits) + std::ldexp(1.0, spec.bits) * entryBits / segmentSize(spec, shape);
}

std::vector<double> kmeansLevels(const QuantResult& r, std::int64_t segment)
{
    const std::int64_t k = std::int64_t(1) << r.spec.bits;
    std::vector<double> out;
    if (segment < 0 || (segment + 1) * k > std::int64_t(r.scales.size()))
        return out;
    for (std::int64_t j = 0; j < k; ++j)
        out.push_back(r.scales[segment * k + j]);
    return out;
}

constexpr unsigned kAllGranularities = granularityBit(GranularityKind::Tensor) |
                                       granularityBit(GranularityKind::Channel) | granularityBit(GranularityKind::Group);

} // namespace

void appendCodebookFormats(std::vector<FormatTraits>& table)
{
    table.push_back(FormatTraits{Format::Pow2, "pow2", "Power of two", FormatFamily::Codebook, 2, 8, 4,
                                 kParamBits | kParamGranularity | kParamGroupSize | kParamRange | kParamScaleStorage,
                                 kAllGranularities, 0, 0, -1,
                                 "logarithmic codes: sign and exponent, levels 0 and ±scale·2^−k",
                                 "b + scale bits / segment size", nullptr, &pow2Bits, &quantizePow2, &pow2Levels,
                                 nullptr});
    table.push_back(FormatTraits{Format::KMeans, "kmeans", "k-means", FormatFamily::Codebook, 1, 8, 4,
                                 kParamBits | kParamGranularity | kParamGroupSize | kParamScaleStorage,
                                 kAllGranularities, 0, 0, -1,
                                 "palettization: 2^b levels per tensor or channel from Lloyd's k-means",
                                 "b + 2^b · 32 / segment size", nullptr, &kmeansBits, &quantizeKmeans, &kmeansLevels,
                                 nullptr});
}

} // namespace ql
