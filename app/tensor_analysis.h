#pragma once
// Everything the views of one tensor show, computed in one background task from a tensor snapshot
// and a spec: the quantization result and the value snapshots of each plot.

#include "app/bound_calibration.h"
#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/base/tensor.h"
#include "core/quant/landscape.h"
#include "core/quant/quantize.h"
#include "widgets/plot_data.h"

#include <limits>
#include <memory>
#include <string>

namespace ql {

struct AnalysisOptions {
    int histogramBins = 256;
    int heatmapMaxRows = 256;
    int heatmapMaxCols = 512;
    bool landscape = true;
    bool channels = true;
    bool heatmap = true;
    /// The landscape is drawn, not reported: 48 points on at most 2^16 values keep it interactive.
    LandscapeOptions landscapeOptions{48, 0.02, std::int64_t(1) << 16, 99.9};
};

struct TensorAnalysis {
    std::string tensorName;
    QuantSpec spec;
    std::shared_ptr<const QuantResult> result;
    DistributionData distribution;
    ErrorData error;
    ChannelData channels;
    HeatmapData heatmap;
    /// ‖XWᵀ − XŴᵀ‖_F / ‖XWᵀ‖_F on the calibration set's inputs to this layer; NaN without one.
    double layerError = std::numeric_limits<double>::quiet_NaN();
    std::uint64_t calibrationId = 0;  ///< the calibration layerError belongs to (0: none)
    double elapsedMs = 0.0;
};

/// Runs quantize() with histograms, then derives the view snapshots (and the layer-output error
/// when `calibration` has a layer for the tensor). Thread-safe (pure function of its inputs);
/// cancellable between and inside the steps.
Result<TensorAnalysis> analyzeTensor(const std::shared_ptr<const Tensor>& tensor, const std::string& name,
                                     const QuantSpec& spec, const AnalysisOptions& options, TaskContext& ctx,
                                     const AnalysisCalibration& calibration = {});

/// Distribution snapshot from a finished result (shows the levels of the widest segment).
DistributionData makeDistribution(const QuantResult& r, const QString& title);
/// Per-channel statistics along `axis` of x against the result's x̂.
ChannelData makeChannelData(const TensorView& x, const QuantResult& r, int axis);
/// Max-pooled heatmap cells of the tensor viewed as [shape[0], rest].
HeatmapData makeHeatmap(const std::shared_ptr<const Tensor>& x, const std::shared_ptr<const QuantResult>& r,
                        int maxRows, int maxCols);

} // namespace ql
