#pragma once
// Metrics and histograms of a quantization result (DESIGN.md "Metrics of a result").

#include "core/base/task_context.h"
#include "core/base/tensor.h"
#include "core/quant/layout.h"

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace ql {

/// Clipping range [α, β] of one segment as the range method chose it (before widening to 0).
struct ClipRange {
    float lo = 0.0f;
    float hi = 0.0f;
};

/// Uniform-bin histogram over [lo, hi). Values equal to hi go into the last bin.
struct Histogram {
    double lo = 0.0;
    double hi = 0.0;
    std::vector<std::int64_t> counts;
    std::int64_t below = 0;      ///< finite values < lo
    std::int64_t above = 0;      ///< finite values > hi
    std::int64_t nonfinite = 0;  ///< NaN/Inf, never binned

    int bins() const { return static_cast<int>(counts.size()); }
    double binWidth() const { return counts.empty() ? 0.0 : (hi - lo) / double(counts.size()); }
    double edge(int i) const { return lo + binWidth() * i; }
    std::int64_t total() const;  ///< binned + below + above (finite values)
};

/// Error metrics over the finite elements. Sums are in double; clipMse + roundMse == mse.
struct Metrics {
    std::int64_t elements = 0;   ///< every element, finite or not
    std::int64_t finite = 0;
    std::int64_t nonfinite = 0;  ///< NaN/±Inf inputs: excluded from every statistic
    std::int64_t clipped = 0;    ///< finite elements outside their segment's [α, β]
    double sumX2 = 0.0;          ///< Σx²
    double sumErr2 = 0.0;        ///< Σ(x − x̂)²
    double sumXQ = 0.0;          ///< Σx·x̂
    double sumQ2 = 0.0;          ///< Σx̂²
    double sumClipErr2 = 0.0;    ///< Σ(x − x̂)² over clipped elements
    double maxAbsError = 0.0;
    double mse = 0.0;            ///< sumErr2 / finite
    double rmse = 0.0;
    double sqnrDb = 0.0;         ///< 10·log10(Σx² / Σe²); +inf when the error is 0 (JSON: null)
    double cosine = 1.0;         ///< Σx·x̂ / sqrt(Σx² Σx̂²); 1 when both are all zero
    double clipFraction = 0.0;   ///< clipped / finite
    double clipMse = 0.0;        ///< clipping part of the MSE: sumClipErr2 / finite
    double roundMse = 0.0;       ///< rounding part of the MSE: (sumErr2 − sumClipErr2) / finite

    /// Adds another partial (same definitions) and leaves derived fields stale.
    void merge(const Metrics& o);
    /// Computes mse, rmse, sqnrDb, cosine, fractions from the sums.
    void finalize();
    /// The partials of fixed work chunks merged in chunk order (so the sums do not depend on the
    /// thread count) and finalized, for n elements.
    static Metrics fromParts(const std::vector<Metrics>& parts, std::int64_t n);
};

/// Metrics of x against x̂ where each segment s of `layout` was clipped to ranges[s]
/// (ranges may be empty: nothing counts as clipped). Parallel over segments, result independent of
/// the thread count. Cost: one pass over x and x̂.
Metrics computeMetrics(const TensorView& x, const float* xhat, const SegmentLayout& layout,
                       const std::vector<ClipRange>& ranges, TaskContext& ctx = TaskContext::none());

/// Histogram of the finite values of `x` (n elements). With no range given, [min, max] of the
/// finite values is used (a zero-width range is widened by ±0.5). Parallel, deterministic.
Histogram computeHistogram(const float* x, std::int64_t n, int bins,
                           std::optional<std::pair<double, double>> range = std::nullopt);
/// Histogram of |x| over [0, hi] (values equal to hi land in the last bin). Parallel, deterministic.
Histogram computeAbsHistogram(const float* x, std::int64_t n, int bins, double hi);
/// Histogram of x − x̂ over elements where x is finite; default range ±max|x − x̂| (or ±0.5 if 0).
Histogram computeErrorHistogram(const float* x, const float* xhat, std::int64_t n, int bins,
                                std::optional<std::pair<double, double>> range = std::nullopt);

/// Adds n contiguous values of x vs x̂ to m (sums, counts, max |err|; not finalized), with a clip
/// range per element: x outside [lo[i], hi[i]] counts as clipped. For formats whose clip ranges
/// change every few elements (the sub-blocks of GGUF blocks); single-threaded.
void accumulateMetrics(const float* x, const float* xhat, std::int64_t n, const float* lo, const float* hi, Metrics& m);

/// Min and max of the finite values (nullopt if none) and the count of non-finite values.
struct FiniteRange {
    float lo = 0.0f;
    float hi = 0.0f;
    std::int64_t finite = 0;
    std::int64_t nonfinite = 0;
};
FiniteRange finiteRange(const float* x, std::int64_t n);

} // namespace ql
