#pragma once
// The "error vs clipping threshold" landscape of an integer grid: total, clipping and rounding
// parts of the MSE as the clip range shrinks, with the thresholds each range method would pick.

#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/base/tensor.h"
#include "core/quant/spec.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ql {

/// One point of the landscape. `ratio` f scales each segment's min-max clip range (as the MSE
/// search does: asymmetric [f·min, f·max] with min ≤ 0 ≤ max, symmetric ±f·amax); `threshold` is
/// f times the largest |x| of the tensor, for an absolute axis.
struct LandscapePoint {
    double ratio = 1.0;
    double threshold = 0.0;
    double mse = 0.0;       ///< clipMse + roundMse
    double clipMse = 0.0;   ///< Σ over elements outside the clip range of (x − x̂)², / samples
    double roundMse = 0.0;  ///< the same over elements inside
};

/// Where a range method lands on the landscape.
struct LandscapeMarker {
    RangeKind kind = RangeKind::MinMax;
    std::string label;  ///< "min-max", "p99.9", "MSE", "KL"
    double ratio = 1.0;
    double threshold = 0.0;
    double mse = 0.0;
    double clipMse = 0.0;
    double roundMse = 0.0;
};

struct ClipLandscape {
    std::vector<LandscapePoint> points;    ///< ascending ratio, the last one is f = 1
    std::vector<LandscapeMarker> markers;  ///< min-max, percentile, MSE, KL (in that order)
    int currentMarker = -1;                ///< index into markers of the spec's own range method, or −1
    double amax = 0.0;                     ///< largest finite |x| of the tensor
    int bits = 8;
    Scheme scheme = Scheme::Asymmetric;
    GranularityKind granularity = GranularityKind::Tensor;
    std::int64_t samples = 0;              ///< finite values evaluated (a deterministic subsample)
    std::int64_t elements = 0;             ///< elements of the tensor
    bool integerGrid = true;               ///< false: the format is not integer; an integer grid of the
                                           ///< same bits stands in (the landscape is the int one)
};

struct LandscapeOptions {
    int points = 64;                     ///< log-spaced ratios in [minRatio, 1]
    double minRatio = 0.02;
    std::int64_t maxSamples = std::int64_t(1) << 18;  ///< values evaluated at most
    double percentile = 99.9;            ///< for the percentile marker when the spec's method is another
};

/// Computes the landscape of `spec` on x. The tensor is cut into the spec's segments (per-tensor,
/// per-channel or per-group; an invalid or non-integer granularity falls back to per-tensor), and
/// whole segments are taken at a fixed stride (one huge segment is strided inside) so that at most
/// maxSamples finite values are evaluated: the result is deterministic and independent of the
/// thread count. Markers: min-max (f = 1); percentile, MSE and KL ratios computed per sampled
/// segment with chooseRange (KL pooled as in core) and averaged weighted by segment size.
/// Cost: O(points · samples); parallel (OpenMP) over points; cancellable (returns Cancelled).
Result<ClipLandscape> computeClipLandscape(const TensorView& x, const QuantSpec& spec,
                                           const LandscapeOptions& options = {},
                                           TaskContext& ctx = TaskContext::none());

} // namespace ql
