#pragma once
// The bundled demo models (an MLP and a small CNN trained on the 8×8 digits set), their resource
// files, and end-to-end evaluation under a QuantPlan: accuracy, agreement with the float model and
// per-layer sensitivity. Qt-free: the GUI and the CLI call these same functions.
//
// Architectures (PyTorch layout, names are the tensor prefixes):
//   mlp: input [64] → fc1 Dense 128 → ReLU → fc2 Dense 64 → ReLU → fc3 Dense 10
//   cnn: input [1, 8, 8] → conv1 Conv2D 8 (3×3, same) → ReLU → MaxPool 2×2 → conv2 Conv2D 16 → ReLU
//        → MaxPool 2×2 → Flatten [64] → fc Dense 10
//
// Resource files (resources/demo, see its README.md):
//   digits.csv.gz                 the data set (source of everything below)
//   mlp.safetensors, cnn.safetensors   trained weights, F32, "<layer>.weight" / "<layer>.bias"
//   digits_calibration.safetensors     "inputs" F16 [256, 64] (pixel / 16), "labels" I64 [256]
//   digits_test.safetensors            "inputs" F16 [360, 64], "labels" I64 [360]
//   mlp_calibration.safetensors, cnn_calibration.safetensors
//                                 per-layer activations of the first 64 calibration samples (the
//                                 calibration-set layout of core/calib/calibration.h), F32

#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/calib/calibration.h"
#include "core/nn/digits.h"
#include "core/nn/network.h"
#include "core/quant/plan.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ql::nn {

enum class DemoKind : std::uint8_t { Mlp, Cnn };
const char* demoKindName(DemoKind k);  // "mlp", "cnn"
Result<DemoKind> demoKindFromName(const std::string& s);

/// The directory holding the demo files (it must contain digits.csv.gz). Looked for, in order:
///  1. $QUANTLENS_RESOURCES/demo, or $QUANTLENS_RESOURCES itself (an explicit override);
///  2. <directory of the executable>/../share/quantlens/demo (an installed tree);
///  3. <source tree>/resources/demo (QL_SOURCE_DIR, set at build time: running from a build dir).
/// NotFound lists the places tried.
Result<std::string> findDemoResources();

/// The untrained network of a demo (zero weights, shapes set).
Network demoArchitecture(DemoKind kind);
/// The trainer settings that produced the committed weights (seed, epochs, batch, learning rate).
TrainConfig demoTrainConfig(DemoKind kind);
/// Trains a demo model from its seed on `train` (deterministic; ~seconds on 2 cores).
Result<Network> trainDemoModel(DemoKind kind, const Dataset& train, TaskContext& ctx = TaskContext::none());

struct DemoTrainSummary {
    double mlpTestAccuracy = 0.0;
    double cnnTestAccuracy = 0.0;
    std::vector<std::string> filesWritten;
};
/// Reads `dir`/digits.csv.gz, splits it (splitDigits), trains both models and writes every resource
/// file listed above into `dir` (atomically, through writeSafetensors).
Result<DemoTrainSummary> writeDemoResources(const std::string& dir, TaskContext& ctx = TaskContext::none());

/// A demo model with its bundled data, loaded through openModel like any user file.
struct DemoModel {
    DemoKind kind = DemoKind::Mlp;
    std::string directory;
    Network net;
    Dataset calibration;  ///< 256 inputs
    Dataset test;         ///< 360 inputs with labels
};
/// Loads the weights and data of a demo. `dir` empty: findDemoResources(). Errors name the file.
Result<DemoModel> loadDemoModel(DemoKind kind, const std::string& dir = {}, TaskContext& ctx = TaskContext::none());

/// Runs the float network on inputs and records the input of each weighted layer: the calibration
/// set of the demo ([samples, features] for dense layers, [samples, C, H, W] for convolutions).
/// `samples` ≤ 0: all of `inputs`.
Result<calib::CalibrationSet> recordCalibrationSet(const Network& net, const Dataset& inputs, std::int64_t samples = 0,
                                                   TaskContext& ctx = TaskContext::none());

// ---- evaluation ---------------------------------------------------------------------------------

/// Activation quantization of the inputs of every weighted layer.
struct ActQuantConfig {
    bool enabled = false;
    int bits = 8;
    Scheme scheme = Scheme::Asymmetric;
    bool perChannel = false;   ///< one range per input channel (conv C / dense feature)
    bool dynamic = false;      ///< per-sample min-max at run time instead of calibrated static ranges
    calib::Observer observer;  ///< static ranges: how they are chosen from the calibration set
    std::int64_t calibrationSamples = 0;  ///< use the first N calibration samples (≤ 0: all)
};

struct EvalOptions {
    bool sensitivity = true;  ///< also quantize one layer at a time
    /// A user calibration set (must match the network's layers and shapes); null: record one from
    /// the bundled calibration inputs.
    const calib::CalibrationSet* calibration = nullptr;
};

/// One weighted layer of an evaluation.
struct LayerEval {
    std::string layer;       ///< "fc1"
    std::string weightName;  ///< "fc1.weight"
    std::string kind;        ///< "dense" / "conv2d"
    Shape weightShape;
    bool quantized = false;  ///< false: the plan skips it (or keeps F32)
    std::string spec;        ///< specShortName, or "f32"
    double bitsPerWeight = 32.0;
    double weightSqnrDb = 0.0;   ///< of the weight tensor (+inf if exact)
    double outputError = 0.0;    ///< ‖X Wᵀ − X Ŵᵀ‖_F / ‖X Wᵀ‖_F on the calibration inputs
    std::vector<ClipRange> actRanges;  ///< static activation ranges used (empty: none or dynamic)
    // Sensitivity: only this layer quantized (weights, and its input activations if enabled).
    double accuracy = 0.0;
    double accuracyDrop = 0.0;   ///< float accuracy − accuracy (fraction)
    double agreement = 1.0;
};

struct EvalReport {
    std::string model;                 ///< "mlp" / "cnn"
    std::int64_t testSamples = 0;
    std::int64_t calibrationSamples = 0;
    double floatAccuracy = 0.0;        ///< fractions in [0, 1]
    double accuracy = 0.0;
    double agreement = 0.0;            ///< top-1 match rate with the float model
    double meanKl = 0.0;               ///< mean KL(p_float ‖ p_quant) of the softmax outputs, nats
    std::vector<LayerEval> layers;
    std::vector<std::string> warnings;
};

/// Evaluates `model` on its test set with weights fake-quantized under `plan` (tensor names
/// "<layer>.weight"; biases stay float) and activations per `act`. Deterministic and independent of
/// the thread count. Cost: (2 + layers) forward passes of the test set plus one of the calibration
/// set. Errors: InvalidSpec (a spec that cannot apply, naming the tensor), calibration mismatches.
Result<EvalReport> evaluate(const DemoModel& model, const QuantPlan& plan, const ActQuantConfig& act,
                            const EvalOptions& options = {}, TaskContext& ctx = TaskContext::none());

/// Accuracy of a network on a dataset (fraction).
Result<double> accuracy(const Network& net, const Dataset& data, TaskContext& ctx = TaskContext::none());

} // namespace ql::nn
