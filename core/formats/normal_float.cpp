#include "core/formats/normal_float.h"

#include "core/formats/block_search.h"
#include "core/formats/format_driver.h"
#include "core/formats/lane_batch.h"
#include "core/quant/int_quant.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

namespace ql {

constexpr float kNf4Levels[16] = {-1.0f,
                              -0.6961928009986877f,
                              -0.5250730514526367f,
                              -0.39491748809814453f,
                              -0.28444138169288635f,
                              -0.18477343022823334f,
                              -0.09105003625154495f,
                              0.0f,
                              0.07958029955625534f,
                              0.16093020141124725f,
                              0.24611230194568634f,
                              0.33791524171829224f,
                              0.44070982933044434f,
                              0.5626170039176941f,
                              0.7229568362236023f,
                              1.0f};

namespace {

// Midpoints between consecutive levels (computed at compile time; float arithmetic in constant
// evaluation rounds as at run time), padded to 16 lanes with a value never probed.
struct Nf4Mids {
    float m[16];
};

constexpr Nf4Mids kNf4Mids = [] {
    Nf4Mids r{};
    for (int k = 0; k < 15; ++k)
        r.m[k] = 0.5f * (kNf4Levels[k] + kNf4Levels[k + 1]);
    r.m[15] = FLT_MAX;
    return r;
}();

} // namespace

int nf4IndexRef(float v)
{
    return int(std::upper_bound(kNf4Mids.m, kNf4Mids.m + 15, v) - kNf4Mids.m);
}

void encodeNf4Ref(const float* x, std::int64_t n, float scale, std::uint8_t* codes, float* xhat)
{
    for (std::int64_t i = 0; i < n; ++i) {
        const int c = nf4IndexRef(x[i] / scale);
        codes[i] = std::uint8_t(c);
        xhat[i] = scale * kNf4Levels[c];
    }
}

void encodeNf4(const float* x, std::int64_t n, float scale, std::uint8_t* codes, float* xhat)
{
    const float* mids = kNf4Mids.m;
    // 16 values at a time: the code (the number of midpoints ≤ x/scale) by a four-step binary
    // search whose probes are register permutes of the midpoint table, then the level by one more
    // permute (a table load per lane would be a gather).
    using search::Ints16;
    using search::Lanes16;
    const Lanes16 levels = search::lanesOf(kNf4Levels), mv = search::lanesOf(mids);
    std::int64_t i0 = 0;
    for (; i0 + 16 <= n; i0 += 16) {
        batch::prefetchAhead(x + i0);
        const Lanes16 v = search::lanesOf(x + i0) / scale;
        Ints16 c = (v >= mids[7]) & 8;
        c += (v >= __builtin_shuffle(mv, c + 3)) & 4;
        c += (v >= __builtin_shuffle(mv, c + 1)) & 2;
        c += (v >= __builtin_shuffle(mv, c)) & 1;
        batch::storeBytes(c, codes + i0);
        if (xhat) {
            const Lanes16 y = __builtin_shuffle(levels, c) * scale;
            std::memcpy(xhat + i0, &y, sizeof y);
        }
    }
    for (std::int64_t i = i0; i < n; ++i) {
        const float v = x[i] / scale;
        int c = 0;
        for (int k = 0; k < 15; ++k)
            c += v >= mids[k] ? 1 : 0;
        codes[i] = std::uint8_t(c);
        if (xhat)
            xhat[i] = scale * kNf4Levels[c];
    }
}

void decodeNf4(const std::uint8_t* codes, std::int64_t n, float scale, float* xhat)
{
    const search::Lanes16 levels = search::lanesOf(kNf4Levels);
    batch::writeFloats(
        xhat, n,
        [&](std::int64_t i) {
            batch::prefetchAhead(codes + i);
            return batch::lookup16(levels, batch::loadBytes(codes + i) & 15) * scale;
        },
        [&](std::int64_t i) { return scale * kNf4Levels[codes[i] & 15]; });
}

const std::vector<float>& dynamicMap8()
{
    static const std::vector<float> map = [] {
        std::vector<double> v;
        for (int k = 0; k < 7; ++k) {
            const int items = (1 << k) + 1;  // linspace(0.1, 1, items): its items − 1 midpoints
            const double step = 0.9 / double(items - 1), scale = std::pow(10.0, double(k - 6));
            for (int j = 0; j + 1 < items; ++j) {
                const double mid = 0.1 + step * (double(j) + 0.5);
                v.push_back(scale * mid);
                v.push_back(-scale * mid);
            }
        }
        v.push_back(0.0);
        v.push_back(1.0);
        std::sort(v.begin(), v.end());
        return std::vector<float>(v.begin(), v.end());
    }();
    return map;
}

void quantizeScalesQlora(std::vector<float>& scales)
{
    if (scales.empty())
        return;
    const std::vector<float>& map = dynamicMap8();
    double sum = 0.0;
    for (float s : scales)
        sum += double(s);
    const float offset = float(sum / double(scales.size()));
    for (std::size_t b = 0; b < scales.size(); b += 256) {
        const std::size_t e = std::min(scales.size(), b + 256);
        float amax = 0.0f;
        for (std::size_t i = b; i < e; ++i)
            amax = std::max(amax, std::fabs(scales[i] - offset));
        for (std::size_t i = b; i < e; ++i) {
            const float v = amax > 0.0f ? (scales[i] - offset) / amax : 0.0f;
            // First entry ≥ v, then the nearer of it and its predecessor (ties: the lower one).
            auto it = std::lower_bound(map.begin(), map.end(), v);
            if (it == map.end())
                --it;
            else if (it != map.begin() && v - *(it - 1) <= *it - v)
                --it;
            const float s = *it * amax + offset;
            scales[i] = s > 0.0f ? s : FLT_MIN;
        }
    }
}

namespace {

void nf4Fit(const float* x, std::int64_t n, const QuantSpec&, SegmentFit& fit, bool)
{
    const float amax = finiteAbsMax(x, n);
    fit.range = ClipRange{-amax, amax};
    fit.scale = amax > 0.0f ? amax : 1.0f;
}

void nf4Encode(const float* x, std::int64_t n, const QuantSpec&, const SegmentFit& fit, std::int32_t* codes, float* xhat)
{
    std::uint8_t c[1024];
    float clean[1024];
    for (std::int64_t b = 0; b < n; b += 1024) {
        const std::int64_t len = std::min<std::int64_t>(1024, n - b);
        bool allFinite = true;
        for (std::int64_t i = 0; i < len; ++i) {
            const bool fin = std::fabs(x[b + i]) <= FLT_MAX;
            clean[i] = fin ? x[b + i] : 0.0f;
            allFinite = allFinite && fin;
        }
        encodeNf4(clean, len, fit.scale, c, xhat + b);
        for (std::int64_t i = 0; i < len; ++i) {
            const bool fin = allFinite || std::fabs(x[b + i]) <= FLT_MAX;
            if (!fin)
                xhat[b + i] = x[b + i];
            if (codes)
                codes[b + i] = fin ? c[i] : 7;
        }
    }
}

Result<QuantResult> quantizeNf4(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt, TaskContext& ctx)
{
    ElementCodec c;
    c.fit = &nf4Fit;
    c.encode = &nf4Encode;
    c.quantizeScalesInt8 = &quantizeScalesQlora;
    return quantizeSegments(x, spec, opt, ctx, c);
}

double nf4Bits(const QuantSpec& spec, const Shape& shape)
{
    auto L = makeLayout(shape, spec.granularity);
    const double segN = L && L->segmentSize > 0 ? double(L->segmentSize) : 1.0;
    return 4.0 + scaleStorageBits(spec.scaleStorage) / segN;
}

std::vector<double> nf4Levels(const QuantResult& r, std::int64_t segment)
{
    std::vector<double> out;
    if (segment < 0 || segment >= std::int64_t(r.scales.size()))
        return out;
    for (float l : kNf4Levels)
        out.push_back(double(r.scales[segment]) * l);
    return out;
}

} // namespace

void appendNormalFloatFormats(std::vector<FormatTraits>& table)
{
    FormatTraits t{Format::NF4, "nf4", "NF4", FormatFamily::NormalFloat, 4, 4, 4,
                   kParamGranularity | kParamGroupSize | kParamScaleStorage,
                   granularityBit(GranularityKind::Tensor) | granularityBit(GranularityKind::Group), 0, 0, -1,
                   "NormalFloat 4-bit (QLoRA): 16 fixed levels times the group absmax; int8 scale storage = QLoRA "
                   "double quantization (dynamic 8-bit map, blocks of 256)",
                   "4 + scale bits / group (int8: 8 + 32/256)", nullptr, &nf4Bits, &quantizeNf4, &nf4Levels, nullptr};
    t.defaultGroupSize = 64;
    table.push_back(t);
}

} // namespace ql
