#pragma once
// A calibration set bound to the open model: the samples each layer sees (cut to the chosen count),
// which weight tensor each layer feeds, and the layer-output error of a quantized weight.
// Immutable once built, so jobs share it through CalibrationPtr snapshots.

#include "core/base/result.h"
#include "core/calib/calibration.h"

#include <QString>

#include <cstdint>
#include <memory>
#include <vector>

namespace ql {

struct BoundCalibration {
    QString description;          ///< "demo calibration set · 32 of 64 samples"
    std::uint64_t id = 0;         ///< unique per bound set: a new file or sample count gives a new id
    std::int64_t samples = 0;     ///< samples per layer after the cut
    std::int64_t available = 0;   ///< samples per layer in the file (the smallest layer's count)
    calib::CalibrationSet set;    ///< cut to `samples`
    std::vector<calib::LayerBinding> bindings;

    /// The layer feeding tensor `tensorIndex`, or nullptr when the set has none for it.
    const calib::LayerBinding* bindingFor(std::size_t tensorIndex) const;
};
using CalibrationPtr = std::shared_ptr<const BoundCalibration>;

/// Where the layer-output error of a measurement comes from: a bound set and the tensor's index in
/// the model (the set may have no layer for it).
struct AnalysisCalibration {
    CalibrationPtr set;
    std::size_t tensorIndex = 0;
    /// The set has a layer for the tensor.
    bool applies() const { return set && set->bindingFor(tensorIndex); }
};

/// Cuts `full` to its first `samples` samples (≤ 0: all) and gives it a new id. Runs on a worker
/// (it copies the samples).
CalibrationPtr makeBoundCalibration(const calib::CalibrationSet& full, std::vector<calib::LayerBinding> bindings,
                                    std::int64_t samples, const QString& name);

/// ‖X Wᵀ − X Ŵᵀ‖_F / ‖X Wᵀ‖_F of tensor `tensorIndex` with weights `w` and their quantized values
/// `wHat` (same layout as w). `w` may be a subsample of the weight's output channels (rows of an
/// [out, in] weight). NaN when the set has no layer for the tensor or the shapes do not fit.
double layerErrorOf(const BoundCalibration& calib, std::size_t tensorIndex, const TensorView& w,
                    const std::vector<float>& wHat);

} // namespace ql
