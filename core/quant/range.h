#pragma once
// Range methods: how the clipping range [α, β] of a segment is chosen (DESIGN.md).

#include "core/quant/spec.h"
#include "core/quant/stats.h"

#include <cstdint>
#include <functional>
#include <vector>

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
/// - Mse: see mseClipSearch; KL: see klRatioFromHistogram.
/// `work` is scratch of at least n floats (percentile sorts a copy) unless the segment has at
/// least kPercentileBySelection finite values: the percentile then selects from a histogram of the
/// float bits (same values, no copy, parallel when called outside a parallel region) and MSE/KL
/// need `work` only when x holds non-finite values. Deterministic; callers parallelise over
/// segments.
ClipRange chooseRange(const float* x, std::int64_t n, const RangeMethod& method, const IntGrid& grid, float* work);
inline constexpr std::int64_t kPercentileBySelection = std::int64_t(1) << 18;
/// Whether chooseRange needs `work` for this method on a segment with finite range fr.
bool rangeNeedsScratch(const RangeMethod& method, const FiniteRange& fr);
/// The same with the finite range of x already known (saves a pass).
ClipRange chooseRange(const float* x, std::int64_t n, const FiniteRange& fr, const RangeMethod& method,
                      const IntGrid& grid, float* work);

/// Squared-error sum of quantizing x[0..n) on `grid` with clip range [lo, hi] (DESIGN.md formulas).
double intClipError(const float* x, std::int64_t n, float lo, float hi, const IntGrid& grid);

/// The clip-factor search behind every Mse range method (integer grids here, float and
/// power-of-two element grids in core/formats): errAt(f) is the squared error with the min-max
/// range shrunk by the factor f ∈ (0, 1]. Grid: coarse f = 2^(−k/3) for k = 0 … 23 (1 down to
/// 0.005, log-spaced so one huge outlier cannot hide the right threshold), walked from k = 0 and
/// stopped at the first candidate whose error exceeds kClipSearchStopRatio × the best so far;
/// then fine f_best · 2^(j/24) for j = −7 … 7 (f ≤ 1). The smallest error wins (ties: larger f).
/// Why the stop is safe: past the optimum the clipping error dominates and only grows as f
/// shrinks, while the rounding error can fall by at most what it was at the best candidate; an
/// error 4× the best is far into that regime, so no smaller f can win.
double searchClipFactor(const std::function<double(double)>& errAt);
inline constexpr double kClipSearchStopRatio = 4.0;

/// MSE-optimal clip search on an integer grid, with searchClipFactor's grid. Candidates shrink the
/// min-max range by f: symmetric: [−f·amax, f·amax]; asymmetric: [f·min, f·max] (min ≤ 0 ≤ max
/// after widening); each is scored by its exact squared error (intClipError).
/// Segments over 2^17 elements are searched on a deterministic stride subsample of 2^17 values.
/// x must be finite.
ClipRange mseClipSearch(const float* x, std::int64_t n, const IntGrid& grid);
/// The same with the min and max of x already known (saves a pass).
ClipRange mseClipSearch(const float* x, std::int64_t n, float lo, float hi, const IntGrid& grid);

/// KL-entropy clipping (TensorRT's calibration search), as a clipping ratio f ∈ (0, 1] of the
/// min-max range: the clip range is [f·min, f·max] for asymmetric grids and ±f·amax for symmetric
/// ones. The search runs on a 2048-bin histogram of |x| / amax over [0, 1]: for each candidate
/// bin count i ≥ L (L = 2^(bits−1) magnitude levels) the reference distribution P is bins [0, i)
/// with the tail folded into bin i−1; Q is bins [0, i) merged into L equal chunks (the last takes
/// the remainder) spread evenly over the bins where P is non-zero; the i minimising KL(P‖Q) wins
/// and f = i / 2048. Each candidate costs O(L) via prefix sums. Candidate stride
/// s = max(1, ⌈2048·L / (16·samples)⌉) bins bounds the search at ~16 operations per sample.
/// For per-channel and per-group specs the histogram pools |x| / amax_segment over all segments
/// and one shared ratio is applied to every segment: a segment of a few thousand values cannot
/// fill 2048 bins, and a KL search on a sparse histogram picks meaningless thresholds.
double klRatioFromHistogram(const std::vector<std::int64_t>& counts, int bits, std::int64_t samples);
/// Adds the finite values of x[0..n) to a 2048-bin histogram of |x| / amax (counts is resized).
void accumulateKlHistogram(const float* x, std::int64_t n, float amax, std::vector<std::int64_t>& counts);
/// KL clip range of one segment (see klRatioFromHistogram); parallel for large n.
ClipRange klClipRange(const float* x, std::int64_t n, const IntGrid& grid);

} // namespace ql
