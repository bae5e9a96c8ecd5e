#pragma once
// The one entry point that quantizes a tensor under a spec: ql::quantize(view, spec, options, ctx).

#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/base/tensor.h"
#include "core/quant/layout.h"
#include "core/quant/spec.h"
#include "core/quant/stats.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ql {

struct QuantResult;

/// What a caller wants back besides the metrics.
struct QuantOptions {
    bool keepDequant = true;  ///< fill QuantResult::dequant (x̂)
    bool keepCodes = true;    ///< fill QuantResult::codes / blocks
    int histogramBins = 0;    ///< > 0: fill histX and histErr with this many bins
    std::optional<std::pair<double, double>> histXRange;    ///< default: finite [min, max] of x
    std::optional<std::pair<double, double>> histErrRange;  ///< default: ±max|x − x̂|
    /// Optional importance weight per element of a row (llama.cpp imatrix: one weight per input
    /// column, i.e. per index along the last axis). Empty = unweighted.
    std::vector<float> importance;
    /// Optional: an earlier result that nothing else uses any more. Its x̂, code and block buffers
    /// move into the new result instead of fresh allocations, and with the same element count
    /// they are not refilled: a fresh tensor-sized buffer costs a page fault per 4 KiB plus a zero
    /// fill, several times the quantization itself (the explorer re-quantizes on every edit).
    /// Every element is overwritten, so stale values never show.
    QuantResult* recycle = nullptr;
};

/// Everything a quantization produces. Per-segment arrays follow SegmentLayout's segment order.
struct QuantResult {
    QuantSpec spec;
    Shape shape;
    SegmentLayout layout;
    std::vector<float> dequant;              ///< x̂, same shape as x (if keepDequant)
    std::vector<std::int32_t> codes;         ///< one integer code per element, where the format has them
    std::vector<std::uint8_t> blocks;        ///< format-native bytes (GGUF blocks, packed nibbles ...)
    std::vector<float> scales;               ///< per segment, already rounded to the scale storage type
    std::vector<float> zeroPoints;           ///< per segment (asymmetric integer only)
    std::vector<ClipRange> ranges;           ///< per segment [α, β] from the range method
    Metrics metrics;
    Histogram histX;                          ///< if histogramBins > 0
    Histogram histErr;                        ///< if histogramBins > 0
    double bitsPerWeight = 0.0;               ///< true storage cost incl. scales and zero points
    std::int64_t storageBytes = 0;            ///< ⌈bitsPerWeight · numel / 8⌉
    std::vector<std::string> warnings;       ///< e.g. "3 non-finite values excluded"
};

/// Validates `spec` against the shape (generic checks, then the format's own), without data.
Result<void> validateSpec(const QuantSpec& spec, const Shape& shape);

/// Sizes r's x̂ and code buffers to n elements (only those asked for), taking over the buffers of
/// opt.recycle where given. Used by every quantizer.
void sizeOutputBuffers(QuantResult& r, const QuantOptions& opt, std::size_t n, bool dequant, bool codes);

/// Quantizes x under spec. Validates first (InvalidSpec errors name the problem); NaN/Inf inputs are
/// excluded from ranges and metrics, counted, reported in warnings, and pass through to x̂ unchanged.
/// Parallel over segments (OpenMP), cancellable (returns Cancelled), progress in elements.
/// The bytes of every output are independent of the thread count.
Result<QuantResult> quantize(const TensorView& x, const QuantSpec& spec, const QuantOptions& options = {},
                             TaskContext& ctx = TaskContext::none());

/// Representable values of segment s of a result (ascending), for drawing the quantization grid.
std::vector<double> gridLevels(const QuantResult& r, std::int64_t segment = 0);

/// Bits per weight of a spec on a shape, including scales and zero points.
double bitsPerWeight(const QuantSpec& spec, const Shape& shape);

/// Fills metrics (and histograms if requested) of r from x and r.dequant / a given x̂, and the
/// warnings about non-finite input. Shared by every format implementation.
void finishResult(const TensorView& x, const float* xhat, const QuantOptions& options, QuantResult& r,
                  TaskContext& ctx);

} // namespace ql
