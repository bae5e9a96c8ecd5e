#pragma once
// Calibration sets: activation samples per layer (the inputs X each layer sees), observers that turn
// them into activation ranges, and the layer-output error ‖X Wᵀ − X Ŵᵀ‖_F / ‖X Wᵀ‖_F.
//
// Layout (docs/calibration.md): one tensor per layer, named after the layer it feeds ("fc1" feeds
// the tensor "fc1.weight"), shape [samples, features] for dense layers or [samples, C, H, W] for
// convolutions, any float dtype, in any file openModel() reads (safetensors, .npz, a folder of
// .npy files, HDF5).

#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/base/tensor.h"
#include "core/io/model.h"
#include "core/nn/network.h"
#include "core/quant/spec.h"
#include "core/quant/stats.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ql::calib {

struct CalibrationLayer {
    std::string layer;  ///< layer name (the tensor name in the file)
    Tensor samples;     ///< [samples, features...]

    std::int64_t sampleCount() const { return samples.shape.empty() ? 0 : samples.shape[0]; }
    std::int64_t features() const { return sampleCount() > 0 ? samples.numel() / sampleCount() : 0; }
    /// Channels of a sample: dim 1 (features of a [S, F] tensor, C of a [S, C, H, W] tensor).
    std::int64_t channels() const { return samples.shape.size() >= 2 ? samples.shape[1] : 0; }
};

struct CalibrationSet {
    std::string source;  ///< file name, or a description ("demo mlp, 256 samples")
    std::vector<CalibrationLayer> layers;

    const CalibrationLayer* find(const std::string& layer) const;
    /// The first `n` samples of every layer (n ≤ 0 or ≥ the count: unchanged copy).
    CalibrationSet firstSamples(std::int64_t n) const;
};

/// Builds a set from in-memory tensors, with the checks of loadCalibrationSet. Errors name the layer.
Result<CalibrationSet> makeCalibrationSet(std::vector<CalibrationLayer> layers, const std::string& source);

/// Loads every tensor of a file as one layer (through openModel), or every NAME.npy of a folder as
/// layer NAME (in name order). Checks: rank ≥ 2, at least one
/// sample, no NaN/Inf (NonFinite naming the layer), at most 2^28 elements per layer (TooLarge).
Result<CalibrationSet> loadCalibrationSet(const std::string& path, TaskContext& ctx = TaskContext::none());

/// Checks a set against a network: every layer names a weighted layer (NotFound lists the valid
/// names) and its per-sample shape equals that layer's input shape (ShapeMismatch). Every weighted
/// layer must be present when `requireAll`.
Result<void> checkAgainstNetwork(const CalibrationSet& set, const nn::Network& net, bool requireAll = true);

/// A calibration layer matched to the weight tensor of a model.
struct LayerBinding {
    std::size_t calibIndex = 0;
    std::size_t tensorIndex = 0;
    std::string weightName;
    bool inOutLayout = false;  ///< weight stored [in, out] (Keras Dense) rather than [out, in]
};

/// Matches each calibration layer L to a weight of `model`: the tensor "L.weight", "L", "L/kernel" or
/// "L/kernel:0", or the only weight-role tensor under "L." / "L/". Checks the input feature count:
/// [S, F] needs a rank-2 weight whose input dim is F; [S, C, H, W] a rank-4 [out, C, kh, kw] weight.
/// Errors name the layer (NotFound, ShapeMismatch).
Result<std::vector<LayerBinding>> bindToModel(const CalibrationSet& set, const Model& model);

// ---- observers ----------------------------------------------------------------------------------

enum class ObserverKind : std::uint8_t { MinMax, Ema, Percentile, Mse, Kl };

/// How activation ranges are chosen from samples.
/// - MinMax: min and max over every sample.
/// - Ema: moving-average min-max over samples in file order: lo₀, hi₀ = min/max of sample 0, then
///   lo ← lo + c·(min_s − lo), hi ← hi + c·(max_s − hi) for each later sample s, c = emaConstant
///   (0.01, the constant PyTorch's MovingAverageMinMaxObserver uses per batch).
/// - Percentile / Mse / Kl: the weight range methods of core/quant/range.h (chooseRange) applied to
///   all values of the tensor (or channel), on the activation grid (bits, scheme).
struct Observer {
    ObserverKind kind = ObserverKind::MinMax;
    double percentile = 99.99;
    double emaConstant = 0.01;

    bool operator==(const Observer&) const = default;
};
/// "minmax", "ema", "percentile:99.99", "mse", "kl".
std::string observerName(const Observer& o);
/// Parses observerName's forms ("percentile" alone means 99.99). InvalidArgument otherwise.
Result<Observer> parseObserver(const std::string& s);

struct ObserverOptions {
    Observer observer;
    int bits = 8;  ///< activation grid, used by percentile (symmetric), MSE and KL
    Scheme scheme = Scheme::Asymmetric;
    bool perChannel = false;  ///< one range per channel (dim 1) instead of one per tensor
};

struct LayerRanges {
    std::string layer;
    std::int64_t samples = 0;
    std::int64_t channels = 0;
    std::vector<ClipRange> ranges;  ///< 1 (per tensor) or `channels`
    ClipRange minMax;               ///< plain min-max of the whole tensor, for reference
};

/// Ranges of one layer's samples ([S, F] or [S, C, ...]). Deterministic; parallel over channels.
LayerRanges observeLayer(const CalibrationLayer& layer, const ObserverOptions& options);
/// Ranges of every layer of the set, in set order. Cancellable.
Result<std::vector<LayerRanges>> observeRanges(const CalibrationSet& set, const ObserverOptions& options,
                                               TaskContext& ctx = TaskContext::none());

// ---- layer-output error -------------------------------------------------------------------------

/// ‖X Wᵀ − X Ŵᵀ‖_F / ‖X Wᵀ‖_F (0 when both are 0). X is [S, in] with W, Ŵ [out, in] (or [in, out] when
/// `inOutLayout`), or X [S, C, H, W] with W [out, C, 3, 3]: X is im2col'd (3×3, stride 1, same
/// padding) to [S·H·W, C·9] first. Sums in double over fixed chunks of samples combined in order,
/// so the value does not depend on the thread count. Errors: ShapeMismatch, Unsupported kernels.
Result<double> layerOutputError(const TensorView& x, const TensorView& w, const float* wHat, bool inOutLayout = false);

} // namespace ql::calib
