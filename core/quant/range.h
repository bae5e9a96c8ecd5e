#pragma once
// Range methods: how the clipping range [α, β] of a segment is chosen (DESIGN.md).

#include "core/quant/spec.h"
#include "core/quant/stats.h"

#include <cstdint>
#include <functional>

namespace ql {

/// Error of quantizing `x` (n finite values) with the clip range [lo, hi]: used by the MSE search
/// and by the Error view's landscape. Must be cheap: it is called ~40 times per segment.
using ClipErrorFn = std::function<double(const float* x, std::int64_t n, float lo, float hi)>;

/// Integer grid that a clip range is searched for (the scheme and bits of an integer spec).
struct IntGrid {
    int bits = 8;
    Scheme scheme = Scheme::Asymmetric;
    Rounding rounding = Rounding::HalfEven;
};

/// Chooses [α, β] for the n values at x (non-finite values are skipped).
/// - MinMax: [min, max].
/// - Percentile p: two-sided [q((100−p)/100), q(p/100)] (linear interpolation between order
///   statistics, as numpy's default); symmetric schemes use q(p/100) of |x| and return [−t, t].
/// - Mse: see mseClipSearch; KL: see klClipThreshold. Both return [−t, t] for symmetric schemes;
///   for asymmetric ones see their docs.
/// `work` is scratch of at least n floats (percentile sorts a copy). Deterministic, single-threaded
/// (callers parallelise over segments).
ClipRange chooseRange(const float* x, std::int64_t n, const RangeMethod& method, const IntGrid& grid, float* work);
/// The same with the finite range of x already known (saves a pass).
ClipRange chooseRange(const float* x, std::int64_t n, const FiniteRange& fr, const RangeMethod& method,
                      const IntGrid& grid, float* work);

/// Squared-error sum of quantizing x[0..n) on `grid` with clip range [lo, hi] (DESIGN.md formulas).
double intClipError(const float* x, std::int64_t n, float lo, float hi, const IntGrid& grid);

/// MSE-optimal clip search. Candidates shrink the min-max range by a factor f:
///   symmetric: [−f·amax, f·amax]; asymmetric: [f·min, f·max] (min ≤ 0 ≤ max after widening).
/// Grid: coarse f ∈ {0.05, 0.10, …, 1.00} (20 points), then fine f_best + k·0.005 for
/// k = −9…9 (f clamped to (0, 1]); the f with the smallest exact squared error wins (ties: larger f).
/// Segments over 2^17 elements are searched on a deterministic stride subsample of 2^17 values.
ClipRange mseClipSearch(const float* x, std::int64_t n, const IntGrid& grid);

/// KL-entropy threshold (TensorRT's calibration): a 2048-bin histogram of |x| over [0, amax];
/// for each candidate threshold bin i ≥ L (L = 2^(bits−1) levels) the reference distribution P is
/// bins [0, i) with the tail folded into bin i−1, Q is P merged into L equal chunks and expanded
/// back over the bins where P is non-zero (the last chunk also takes the remainder bins); the i
/// minimising KL(P‖Q) wins and t = i·binWidth (the upper edge of the last kept bin).
/// Each candidate costs O(L) (prefix sums over the histogram). Candidate stride:
/// s = max(1, ⌈2048·L / (16·n)⌉) bins, so the search never costs more than ~16 operations per
/// element: s = 1 for a whole tensor, 4 for an 8-bit 4096-element channel, 1 at 4 bits.
/// Returns [−t, t] (asymmetric callers intersect it with [min, max]).
ClipRange klClipRange(const float* x, std::int64_t n, const IntGrid& grid);

} // namespace ql
