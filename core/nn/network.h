#pragma once
// A small sequential network engine for the bundled demo models: Dense, Conv2D (3×3, stride 1, same
// padding), ReLU, MaxPool 2×2, Flatten, Softmax and cross-entropy. Forward in float, with
// fake-quantized weights (a copy of the network whose weights are x̂) and with fake-quantized
// activations (the input of every weighted layer, static or dynamic ranges).
//
// Layouts (PyTorch): Dense weight [out, in], bias [out]; Conv2D weight [out, in, 3, 3], bias [out];
// activations are batch-major, one row per sample, a sample's features row-major (C, H, W).

#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/base/tensor.h"
#include "core/quant/plan.h"
#include "core/quant/spec.h"
#include "core/quant/stats.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ql::nn {

enum class LayerKind : std::uint8_t { Dense, Conv2D, ReLU, MaxPool2, Flatten };
const char* layerKindName(LayerKind k);  // "dense", "conv2d", "relu", "maxpool2", "flatten"

/// One layer. Weighted layers (Dense, Conv2D) have a name ("fc1", "conv2"): their tensors are
/// `<name>.weight` and `<name>.bias`, and their input activations are the calibration tensor `<name>`.
struct Layer {
    LayerKind kind = LayerKind::ReLU;
    std::string name;
    Tensor weight;
    Tensor bias;
    Shape inShape;   ///< per-sample input shape: {features} or {C, H, W}
    Shape outShape;  ///< per-sample output shape

    bool weighted() const { return kind == LayerKind::Dense || kind == LayerKind::Conv2D; }
    std::int64_t inFeatures() const { return numel(inShape); }
    std::int64_t outFeatures() const { return numel(outShape); }
};

/// What a layer is, before shapes are known (used to build networks).
struct LayerDef {
    LayerKind kind;
    std::string name;
    std::int64_t outputs = 0;  ///< Dense: output features; Conv2D: output channels
};

/// A sequential network ending in logits (softmax is applied by callers that need probabilities).
struct Network {
    Shape inputShape;  ///< per sample
    std::vector<Layer> layers;

    std::int64_t inputFeatures() const { return numel(inputShape); }
    std::int64_t outputFeatures() const { return layers.empty() ? inputFeatures() : layers.back().outFeatures(); }
    /// Indices of the Dense/Conv2D layers, in order.
    std::vector<std::size_t> weightedLayers() const;
    /// Index of the weighted layer called `name`, or -1.
    int findLayer(const std::string& name) const;
    std::int64_t parameterCount() const;
};

/// Builds a network with zero weights and derived shapes. InvalidArgument: Conv2D or MaxPool2 on a
/// non-[C, H, W] input, odd H/W for pooling, duplicate or missing names on weighted layers.
Result<Network> buildNetwork(const Shape& inputShape, const std::vector<LayerDef>& defs);

/// Sets the weights of every weighted layer from `lookup(name)` (e.g. a Model), checking shapes.
/// Errors name the tensor (NotFound, ShapeMismatch, NonFinite).
Result<void> setParameters(Network& net, const std::function<Result<Tensor>(const std::string&)>& lookup);

// ---- activation fake quantization ----------------------------------------------------------------

/// Integer grid and ranges applied to the input of one weighted layer.
/// Static: `ranges` holds one [lo, hi] (per tensor) or one per channel (the channel axis of a
/// sample is its first dim: features for Dense inputs, C for Conv2D inputs).
/// Dynamic: ranges are taken per sample at run time (min-max of that sample, per tensor or per channel;
/// per channel on a dense input means one value per range, which is exact, so use per tensor there).
struct ActQuantLayer {
    bool enabled = false;
    int bits = 8;
    Scheme scheme = Scheme::Asymmetric;
    bool perChannel = false;
    bool dynamic = false;
    std::vector<ClipRange> ranges;  ///< static only
};

/// One entry per layer of the network (only weighted layers' entries are used); empty = none.
using ActQuantConfigs = std::vector<ActQuantLayer>;

/// Fake-quantizes `n` samples of `features` values in place (rows of x), `channels` channels per
/// sample (each a contiguous run of features/channels values). Deterministic, single-threaded.
void fakeQuantizeActivations(float* x, std::int64_t n, std::int64_t features, std::int64_t channels,
                             const ActQuantLayer& q);

// ---- forward ------------------------------------------------------------------------------------

struct ForwardOptions {
    const ActQuantConfigs* actQuant = nullptr;  ///< fake-quantize weighted layers' inputs
    /// If set: receives, per layer index, the (unquantized) input of each weighted layer
    /// ([n, inFeatures]); other entries stay empty.
    std::vector<RowMatrixF>* recordInputs = nullptr;
};

/// Logits [n, outputs] of `n` samples (rows of x, [n, inputFeatures]). Processed in fixed chunks of
/// 16 samples (in parallel when the pass exceeds ~30 M multiply-adds), so every value is
/// independent of the thread count. Cancellable.
Result<RowMatrixF> forward(const Network& net, const ConstMatrixMap& x, const ForwardOptions& options = {},
                           TaskContext& ctx = TaskContext::none());

/// Row-wise softmax of logits (max-subtracted, in double).
RowMatrixF softmax(const RowMatrixF& logits);
/// Arg-max per row (first maximum wins).
std::vector<int> argmaxRows(const RowMatrixF& m);

/// Copy of `net` whose weights are replaced by their fake-quantized values under plan.specFor(
/// "<layer>.weight") (skipped tensors stay float; biases always stay float). `only` (if not empty)
/// restricts quantization to that one layer. Errors name the tensor.
Result<Network> quantizeWeights(const Network& net, const QuantPlan& plan, const std::string& only = {},
                                TaskContext& ctx = TaskContext::none());

/// im2col of one [C, H, W] sample for a 3×3 same-padding stride-1 convolution: [H·W, C·9], row p =
/// output position (y, x), column c·9 + ky·3 + kx (the order of a [out, in, 3, 3] weight row).
void im2col3x3(const float* sample, std::int64_t c, std::int64_t h, std::int64_t w, float* cols);

// ---- training -----------------------------------------------------------------------------------

struct TrainConfig {
    std::uint64_t seed = 1;
    int epochs = 30;
    int batchSize = 32;
    double learningRate = 2e-3;  ///< Adam
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-8;
    double weightDecay = 0.0;  ///< L2 added to the gradient of weights (not biases)
};

struct TrainLog {
    std::vector<double> epochLoss;      ///< mean cross-entropy per epoch
    std::vector<double> epochAccuracy;  ///< training accuracy per epoch (on the fly)
};

/// He-normal initialisation (std = sqrt(2 / fan_in)) from ql::Rng(seed), biases zero; layers in order.
void initParameters(Network& net, std::uint64_t seed);

/// Trains with Adam on softmax cross-entropy: each epoch shuffles the sample order with Rng(seed +
/// epoch) (Fisher–Yates), then takes minibatches in that order. A minibatch's gradient is computed
/// over fixed chunks of 8 samples and summed in chunk order; single-threaded (a minibatch is too
/// small to share), so the trained weights never depend on the thread count and several trainings
/// can run side by side. `labels` are class indices. Cancellable.
Result<TrainLog> train(Network& net, const ConstMatrixMap& x, const std::vector<int>& labels, const TrainConfig& config,
                       TaskContext& ctx = TaskContext::none());

/// Mean softmax cross-entropy of logits against labels.
double crossEntropy(const RowMatrixF& logits, const std::vector<int>& labels);

} // namespace ql::nn
