#pragma once
// Value snapshots handed to the plot widgets. They are computed off the GUI thread (in app) from
// core results; the widgets only map them to QCustomPlot items.

#include "core/base/tensor.h"
#include "core/quant/landscape.h"
#include "core/quant/quantize.h"
#include "core/quant/stats.h"

#include <QString>
#include <QStringList>

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

namespace ql {

/// Distribution view: histogram of x with the quantization grid over it.
struct DistributionData {
    Histogram hist;                ///< of x
    std::vector<double> levels;    ///< representable values of the shown segment (ascending)
    QString levelsNote;            ///< which segment the levels and clip range belong to
    bool hasClip = false;
    double clipLo = 0.0;           ///< clip range [α, β] of the shown segment
    double clipHi = 0.0;
    bool hasZeroPoint = false;
    double zeroPointCode = 0.0;    ///< the code that represents 0 (drawn at x = 0)
    std::int64_t finite = 0;
    std::int64_t clipped = 0;
    std::int64_t nonfinite = 0;
    QString title;                 ///< tensor name and spec
    QString metricsText;           ///< "SQNR 28.1 dB · MSE … · clipped … · 4.25 bits/weight"
};

/// Error view: histogram of x − x̂, the MSE split and the clipping landscape.
struct ErrorData {
    Histogram histErr;
    double mse = 0.0;
    double clipMse = 0.0;
    double roundMse = 0.0;
    double sqnrDb = 0.0;
    double maxAbsError = 0.0;
    std::optional<ClipLandscape> landscape;
    QString title;
};

/// Channels view: per-channel statistics along one axis.
struct ChannelData {
    int axis = 0;
    std::vector<double> lo, hi, absmax;   ///< finite min, max, max |x| per channel
    std::vector<double> clipLo, clipHi;   ///< clip range per channel (union over its groups)
    std::vector<double> sqnrDb;           ///< per channel (+inf when exact)
    std::vector<double> mse;
    QString title;
    int size() const { return static_cast<int>(lo.size()); }
};

/// Heatmap view: max-pooled |error| and the signed weight of largest magnitude per display cell.
struct HeatmapData {
    int rows = 0, cols = 0;               ///< display cells
    std::int64_t srcRows = 0, srcCols = 0;///< the tensor as a [rows, rest] matrix
    std::vector<float> weight;            ///< per cell: the x of largest |x| (row-major cells)
    std::vector<float> absError;          ///< per cell: max |x − x̂|
    std::vector<std::int64_t> worstIndex; ///< per cell: flat element index of the max |error|
    std::shared_ptr<const Tensor> x;      ///< for hover details (immutable, shared)
    std::shared_ptr<const QuantResult> result;
    QString title;
};

/// Trade-off view: error vs bits per weight per format family.
/// What the trade-off chart plots against bits per weight.
enum class TradeoffMetric {
    Sqnr,        ///< dB, higher is better
    LayerError,  ///< ‖XWᵀ − XŴᵀ‖_F / ‖XWᵀ‖_F on a calibration set, lower is better
    Accuracy,    ///< demo test accuracy, higher is better
};
struct TradeoffPoint {
    QString family;      ///< series name ("INT asym", "INT sym", "FP", "NF4", "GGUF" ...)
    QString label;       ///< "int4 g128", "q4_k"
    double bitsPerWeight = 0.0;
    double sqnrDb = 0.0;
    double mse = 0.0;
    double accuracy = -1.0;  ///< test accuracy in [0, 1], or < 0 when unknown
    double layerError = std::numeric_limits<double>::quiet_NaN();  ///< relative layer-output error, NaN when unknown
};
/// The point's value on a metric's axis (SQNR in dB, layer-output error and accuracy in %), NaN when unknown.
double tradeoffValue(const TradeoffPoint& p, TradeoffMetric metric);
struct TradeoffData {
    std::vector<TradeoffPoint> points;
    std::vector<int> pareto;             ///< indices into points, ascending bits per weight
    std::optional<TradeoffPoint> current;
    QString title;
    /// Some point has a value on this metric.
    bool has(TradeoffMetric metric) const;
    bool hasAccuracy() const { return has(TradeoffMetric::Accuracy); }
    bool hasLayerError() const { return has(TradeoffMetric::LayerError); }
};
/// Indices of the Pareto front (lowest bits per weight for a given quality): points not dominated by a
/// point with fewer or equal bits and better or equal quality on `metric` (strictly better in one).
/// Points without a value on the metric are left out. Ascending bits.
std::vector<int> paretoFront(const std::vector<TradeoffPoint>& points, TradeoffMetric metric = TradeoffMetric::Sqnr);

/// Compare view: one entry per spec.
struct CompareEntry {
    QString label;
    QuantSpec spec;
    Histogram histErr;
    Histogram histX;
    std::vector<double> levels;
    Metrics metrics;
    double bitsPerWeight = 0.0;
    QString error;  ///< non-empty if this spec failed on the tensor
    int slot = -1;  ///< the Compare slot (0..3) it belongs to; −1: its position in the entries
};
struct CompareData {
    std::vector<CompareEntry> entries;
    QString title;
};

/// Model summary view.
struct SummaryLayer {
    QString name;
    double sqnrDb = 0.0;      ///< NaN while unknown
    std::int64_t bytesBefore = 0;
    std::int64_t bytesAfter = 0;
};
struct SummaryData {
    std::vector<SummaryLayer> layers;
    std::vector<std::pair<QString, std::int64_t>> bytesByFormat;  ///< after quantization
    std::int64_t totalBefore = 0;
    std::int64_t totalAfter = 0;
    QString title;
};

/// Text of a heatmap hover: element index, value, code and error of the worst element of a cell.
QString heatmapCellText(const HeatmapData& h, int cellRow, int cellCol);

/// "12.3 MB" style sizes.
QString formatBytes(std::int64_t bytes);
/// "28.1 dB", "∞ dB" (exact), "—" (NaN).
QString formatDb(double db);

} // namespace ql
