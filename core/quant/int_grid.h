#pragma once
// Integer affine grid of DESIGN.md: code ranges, scale and zero point, one-element quantization.

#include "core/quant/range.h"
#include "core/quant/spec.h"

#include <algorithm>
#include <cmath>

namespace ql {

struct IntParams {
    float scale = 1.0f;
    float zeroPoint = 0.0f;  ///< integral value, kept as float for the hot loop
    float qmin = 0.0f;
    float qmax = 255.0f;
};

/// Code range of an integer grid: asymmetric [0, 2^b−1]; symmetric [−(2^(b−1)−1), 2^(b−1)−1];
/// symmetric full [−2^(b−1), 2^(b−1)−1].
inline void intCodeRange(const IntGrid& g, float& qmin, float& qmax)
{
    const double half = std::ldexp(1.0, g.bits - 1);
    switch (g.scheme) {
    case Scheme::Asymmetric: qmin = 0.0f; qmax = float(2.0 * half - 1.0); break;
    case Scheme::Symmetric: qmin = float(1.0 - half); qmax = float(half - 1.0); break;
    case Scheme::SymmetricFull: qmin = float(-half); qmax = float(half - 1.0); break;
    }
}

/// Rounds a value with the grid's rounding mode.
///
/// Half-to-even everywhere in core is __builtin_rintf: it rounds in the floating-point environment's
/// mode, which is round-to-nearest-ties-to-even unless a program changes it (QuantLens never does),
/// so it equals roundevenf bit for bit; unlike roundevenf, GCC 12 vectorizes it (vrndscaleps), and a
/// single roundevenf in a simd loop leaves the whole loop scalar.
inline float roundCode(float v, Rounding r)
{
    return r == Rounding::HalfEven ? __builtin_rintf(v) : std::round(v);
}

/// Scale and zero point for the clip range [lo, hi] (DESIGN.md):
///  asymmetric: lo' = min(lo, 0), hi' = max(hi, 0), scale = (hi' − lo') / (qmax − qmin),
///              zero_point = clamp(round(qmin − lo'/scale), qmin, qmax);
///  symmetric:  scale = max(|lo|, |hi|) / (2^(b−1) − 1), zero_point = 0.
/// A zero range gives scale 1. `storedScale` (if > 0) replaces the computed scale, e.g. after
/// rounding it to fp16; the zero point is then derived from the stored scale.
inline IntParams intParams(float lo, float hi, const IntGrid& g, float storedScale = 0.0f)
{
    IntParams p;
    intCodeRange(g, p.qmin, p.qmax);
    if (g.scheme == Scheme::Asymmetric) {
        const double l = std::min<double>(lo, 0.0), h = std::max<double>(hi, 0.0);
        double scale = (h - l) / (double(p.qmax) - double(p.qmin));
        if (!(scale > 0.0) || !std::isfinite(scale))
            scale = 1.0;
        p.scale = storedScale > 0.0f ? storedScale : float(scale);
        const float zp = roundCode(float(double(p.qmin) - l / double(p.scale)), g.rounding);
        p.zeroPoint = std::clamp(zp, p.qmin, p.qmax);
    } else {
        const double amax = std::max(std::fabs(double(lo)), std::fabs(double(hi)));
        double scale = amax / (std::ldexp(1.0, g.bits - 1) - 1.0);
        if (!(scale > 0.0) || !std::isfinite(scale))
            scale = 1.0;
        p.scale = storedScale > 0.0f ? storedScale : float(scale);
        p.zeroPoint = 0.0f;
    }
    return p;
}

/// q = clamp(round(x / scale) + zero_point, qmin, qmax).
inline float quantizeOne(float x, const IntParams& p, Rounding r)
{
    return std::clamp(roundCode(x / p.scale, r) + p.zeroPoint, p.qmin, p.qmax);
}

/// x̂ = scale · (q − zero_point).
inline float dequantizeOne(float q, const IntParams& p)
{
    return p.scale * (q - p.zeroPoint);
}

} // namespace ql
