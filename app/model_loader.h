#pragma once
// Opening model files for the app: every reader core offers, behind one call.

#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/io/model.h"
#include "core/nn/demo.h"

#include <optional>
#include <string>

namespace ql {

/// Opens a model file (any format the core readers handle). Runs on a worker thread.
Result<ModelPtr> loadModelFile(const std::string& path, TaskContext& ctx = TaskContext::none());

/// Path of the bundled demo model (the MLP's safetensors file), or why there is none.
Result<std::string> demoModelPath();

/// A bundled demo model file and its own calibration set (resources/demo/README.md).
struct BundledDemo {
    nn::DemoKind kind = nn::DemoKind::Mlp;
    std::string directory;        ///< the demo folder (findDemoResources)
    std::string calibrationPath;  ///< <kind>_calibration.safetensors in it
};
/// The bundled demo that `modelPath` is (the folder's mlp.safetensors or cnn.safetensors, compared
/// as files), or nullopt for any other file. Touches the file system (a few stat calls).
std::optional<BundledDemo> bundledDemoOf(const std::string& modelPath);

/// A Model over one in-memory tensor (a .npy file, or a tensor built by a test).
ModelPtr makeSingleTensorModel(const std::string& path, const std::string& name, Tensor tensor);

/// Σ numel and Σ stored bytes of a model (computed here so the app does not depend on which
/// reader implements the Model helpers).
std::int64_t modelParameterCount(const Model& m);
std::int64_t modelStoredBytes(const Model& m);

/// File-dialog filter for every openable format.
const char* modelFileFilter();

} // namespace ql
