#pragma once
// Model: the ordered tensor index of a checkpoint (any supported file format), opened lazily.
// Only headers are parsed at open; tensor data is read (memory-mapped) on demand.

#include "core/base/dtype.h"
#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/base/tensor.h"
#include "core/quant/spec.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ql {

enum class FileFormat : std::uint8_t { Safetensors, Gguf, Hdf5, Npy, Npz };
const char* fileFormatName(FileFormat f);  // "safetensors", "gguf", "hdf5", "npy", "npz"

enum class TensorRole : std::uint8_t { Weight, Bias, Norm, Embedding, Other };
const char* tensorRoleName(TensorRole r);  // "weight", "bias", "norm", "embedding", "other"

/// What a file says about one tensor (nothing here needs the data).
struct TensorInfo {
    std::string name;                 ///< full name as in the file ("model.layers.7.mlp.down_proj.weight")
    Shape shape;                      ///< dims in the file's own order (GGUF: ne[0] first)
    Shape logicalShape;               ///< row-major shape used for analysis (GGUF: reversed, so rows are ne[1..])
    std::optional<DType> dtype;       ///< element type when stored as plain elements
    std::optional<Format> storedFormat;  ///< GGUF block format when stored quantized (Q4_K ...)
    std::string storedTypeName;       ///< as the file names it: "F16", "BF16", "Q4_K", "float32" ...
    double storedBitsPerWeight = 0.0; ///< bits per element as stored (F16 → 16, Q4_K → 4.5)
    std::int64_t bytes = 0;           ///< bytes of data in the file
    std::int64_t numel = 0;
    std::vector<std::string> layerPath;  ///< tree path from the name: {"layers", "7", "mlp", "down_proj"}
    TensorRole role = TensorRole::Other;
    int channelAxis = 0;              ///< default output-channel axis in logicalShape (Keras Dense → 1)
    bool supported = true;            ///< false: listed, but its data cannot be decoded ("not supported yet")
    std::string note;                 ///< why unsupported, or other remarks
    std::map<std::string, std::string> attributes;  ///< HDF5 attributes, etc. (display only)
    int fileIndex = 0;                ///< which of Model::files() holds it
};

/// An opened checkpoint. Thread-safe for concurrent readTensor calls after open.
class Model {
public:
    virtual ~Model() = default;

    virtual FileFormat format() const = 0;
    /// The path the user opened (the index file, a shard, or a single file).
    virtual const std::string& path() const = 0;
    /// Every file that holds data (one, or all shards).
    virtual const std::vector<std::string>& files() const = 0;
    virtual const std::vector<TensorInfo>& tensors() const = 0;
    /// File-level metadata for display (safetensors __metadata__, GGUF key/values as text, HDF5 root attributes).
    virtual const std::vector<std::pair<std::string, std::string>>& metadata() const = 0;

    /// Reads tensor `index` as float32 in logicalShape. Errors name the file and tensor.
    virtual Result<Tensor> readTensor(std::size_t index, TaskContext& ctx = TaskContext::none()) const = 0;

    /// Reads `count` consecutive elements of tensor `index`, in row-major order of logicalShape starting at
    /// element `first`, as float32 into `dst` (room for `count` floats). This is the chunked path for
    /// tensors larger than a memory budget. The default implementation reads the whole tensor;
    /// readers override it to touch only the requested part. Errors: InvalidArgument (range outside the
    /// tensor), Unsupported (a type that cannot be decoded), plus the reader's own.
    virtual Result<void> readElements(std::size_t index, std::int64_t first, std::int64_t count, float* dst,
                                      TaskContext& ctx = TaskContext::none()) const;

    /// The tensor's bytes exactly as stored (memory-mapped; valid while the model lives), for exporters
    /// that copy data unchanged. Unsupported for storage that is not one contiguous mapped range
    /// (compressed .npz members, HDF5 chunked datasets).
    virtual Result<std::pair<const std::uint8_t*, std::size_t>> rawData(std::size_t index) const;

    /// Index of a tensor by exact name.
    std::optional<std::size_t> find(const std::string& name) const;
    std::int64_t parameterCount() const;
    std::int64_t totalBytes() const;
};

using ModelPtr = std::shared_ptr<const Model>;

/// Opens any supported model file, choosing the reader by content (magic) and extension.
/// Sharded safetensors: opening the index JSON or any shard opens the whole checkpoint.
Result<ModelPtr> openModel(const std::string& path, TaskContext& ctx = TaskContext::none());

/// Opens a model held in memory (`size` bytes at `data`, which must outlive the model) as `format`.
/// `name` stands in for the file name in errors. Used by fuzzing and tests; sharded checkpoints
/// need files. Same checks and errors as openModel.
Result<ModelPtr> openModelFromMemory(const void* data, std::size_t size, FileFormat format, const std::string& name);

/// Guesses the format of a file from its first bytes and its name (no validation).
std::optional<FileFormat> detectFileFormat(const std::uint8_t* head, std::size_t size, const std::string& path);

} // namespace ql
