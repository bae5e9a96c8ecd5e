#pragma once
// The trade-off sweep and the Compare presets: which specs to try, and the pure functions that
// evaluate them (run on the task runner).

#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/io/model.h"
#include "widgets/plot_data.h"

#include <QString>

#include <vector>

namespace ql {

struct SweepSpec {
    QString family;
    QString label;
    QuantSpec spec;
};

/// Specs of the trade-off sweep for a tensor shape: INT asymmetric and symmetric at 2–8 bits
/// (with `intGranularity`, falling back to per-channel), and every other format of the traits
/// table at its valid bits in 2–8 (fixed-width formats once, if ≤ 8 bits). F32 is left out.
std::vector<SweepSpec> sweepSpecs(const Shape& shape, const Granularity& intGranularity);

/// Evaluates the sweep on one tensor (rows subsampled to ≤ maxElements); bits per weight are those
/// of the full shape. Cancellable.
Result<TradeoffData> sweepTensor(const Tensor& x, const std::vector<SweepSpec>& specs, std::int64_t maxElements,
                                 TaskContext& ctx);

/// The same over a whole model: every decodable tensor of rank ≥ 2 (each subsampled to
/// ≤ perTensorElements), SQNR from the summed signal and error, bits per weight weighted by size.
Result<TradeoffData> sweepModel(const Model& model, const Granularity& intGranularity, std::int64_t perTensorElements,
                                TaskContext& ctx);

/// Rows of t at a fixed stride so that at most maxElements remain.
Tensor rowSubsampleTensor(const Tensor& t, std::int64_t maxElements);

/// Compare presets valid for this build: "int8 ch", "int4 g128", … and one per other format.
std::vector<SweepSpec> comparePresets();

/// Quantizes x under each spec with histograms over the same x range.
CompareData compareSpecs(const Tensor& x, const std::vector<SweepSpec>& specs, TaskContext& ctx);

} // namespace ql
