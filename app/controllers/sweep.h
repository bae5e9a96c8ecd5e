#pragma once
// The trade-off sweep and the Compare presets: which specs to try, and the pure functions that
// evaluate them (run on the task runner).

#include "app/bound_calibration.h"
#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/io/model.h"
#include "core/nn/demo.h"
#include "core/quant/plan.h"
#include "widgets/plot_data.h"

#include <QString>

#include <limits>
#include <map>
#include <optional>
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
/// of the full shape. With a calibration set that has a layer for the tensor, each point also gets
/// the layer-output error (on the same row subsample: whole output channels of an [out, in] weight).
/// Cancellable.
Result<TradeoffData> sweepTensor(const Tensor& x, const std::vector<SweepSpec>& specs, std::int64_t maxElements,
                                 TaskContext& ctx, const AnalysisCalibration& calibration = {});

/// One spec of the whole-model sweep measured on one tensor.
struct ModelSweepPart {
    QString family;
    QString label;
    QuantSpec spec;               ///< as fitted to this tensor's shape
    double sumX2 = 0.0;           ///< Σx² and Σ(x − x̂)², scaled from the subsample to the whole tensor
    double sumErr2 = 0.0;
    double bitsPerWeight = 0.0;   ///< of the whole tensor's shape
    double numel = 0.0;
    /// Layer-output error of the tensor's layer on the calibration set (same row subsample as the
    /// sums); NaN when no set is bound or it has no layer for the tensor.
    double layerError = std::numeric_limits<double>::quiet_NaN();
};

/// Whether the whole-model sweep measures a tensor: decodable and of rank ≥ 2.
bool inModelSweep(const TensorInfo& info);

/// The whole-model sweep on one tensor (subsampled to ≤ perTensorElements): every spec of
/// sweepSpecs(its shape) that applies. Empty for a tensor outside the sweep or unreadable.
/// With a calibration set that has a layer for the tensor, each part gets its layer-output error.
/// Cancellable. The model sweep runs one of these per task so it never holds the runner for long.
Result<std::vector<ModelSweepPart>> sweepModelTensor(const Model& model, std::size_t tensorIndex,
                                                     const Granularity& intGranularity,
                                                     std::int64_t perTensorElements, TaskContext& ctx,
                                                     const CalibrationPtr& calibration = {});

/// One tensor of the whole model measured as the sweep measures it (same subsample, sums scaled to
/// the whole tensor) under the spec a plan gives it; nullopt: kept as stored (no error, its stored
/// bits per weight). For the current plan's point in the whole-model chart. Cancellable.
Result<ModelSweepPart> measurePlanTensor(const Model& model, std::size_t tensorIndex,
                                         const std::optional<QuantSpec>& spec, std::int64_t perTensorElements,
                                         TaskContext& ctx, const CalibrationPtr& calibration = {});

/// Tensors of one spec choice (a sweep point, or the current plan) pooled: SQNR from the summed
/// signal and error, bits per weight weighted by size, and the layer-output error as the mean over
/// the layers the calibration set measured (each layer counts once: activation scales differ too
/// much between layers for a pooled ratio to mean anything).
struct PooledPoint {
    double sumX2 = 0.0, sumErr2 = 0.0, bits = 0.0, numel = 0.0;
    double layerErrorSum = 0.0;
    int layers = 0;  ///< tensors with a layer-output error
    std::vector<PlanOverride> tensors;  ///< each pooled tensor with its spec (kept-as-stored ones are absent)

    /// Adds a tensor; `quantized` false: it is kept as stored, so the plan has no override for it.
    void add(const std::string& tensorName, const ModelSweepPart& part, bool quantized = true);
    TradeoffPoint point(const QString& family, const QString& label) const;
    /// The pooled tensors with their specs, everything else kept in float.
    QuantPlan plan() const;
};

/// Pools the tensors of the whole-model sweep into one point per family, format and bits (specs that
/// differ only by a per-tensor granularity fallback pool together), in first-seen order.
class ModelSweep {
public:
    explicit ModelSweep(std::int64_t perTensorElements = std::int64_t(1) << 16) : m_perTensor(perTensorElements) {}
    void add(const std::string& tensorName, const std::vector<ModelSweepPart>& parts);
    /// SQNR from the summed signal and error, bits per weight weighted by size; no accuracy.
    TradeoffData data() const;
    std::size_t pointCount() const { return m_points.size(); }
    /// The plan behind point i of data(): each swept tensor named with the spec it got there,
    /// everything else kept in float.
    QuantPlan planOf(std::size_t point) const;

private:
    struct Point {
        QString family, label;
        PooledPoint pooled;
    };
    std::int64_t m_perTensor;
    std::map<QString, std::size_t> m_index;
    std::vector<Point> m_points;
};

/// Test accuracy (fraction) of a demo model with its weights quantized under `plan`; activations
/// stay float and no per-layer sensitivity runs, so this costs two forward passes of the test set
/// and one of the calibration inputs.
Result<double> demoAccuracy(const nn::DemoModel& demo, const QuantPlan& plan, TaskContext& ctx);

/// Rows of t at a fixed stride so that at most maxElements remain.
Tensor rowSubsampleTensor(const Tensor& t, std::int64_t maxElements);

/// Compare presets valid for this build: "int8 ch", "int4 g128", … and one per other format.
std::vector<SweepSpec> comparePresets();

/// Quantizes x under each spec with histograms over the same x range.
CompareData compareSpecs(const Tensor& x, const std::vector<SweepSpec>& specs, TaskContext& ctx);

} // namespace ql
