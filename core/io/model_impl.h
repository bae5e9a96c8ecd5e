#pragma once
// Internal to core/io: the shared Model implementation the readers fill in, naming conventions,
// and the per-format entry points behind openModel().

#include "core/io/mapped_file.h"
#include "core/io/model.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ql {

struct FormatTraits;

namespace io_detail {

/// How names map to layers and which axis holds output channels.
enum class NameConvention : std::uint8_t {
    PyTorch,  ///< "model.layers.7.mlp.down_proj.weight", Linear [out, in] → axis 0
    Gguf,     ///< "blk.7.ffn_down.weight", logical shape rows = output channels → axis 0
    Keras,    ///< "model_weights/dense/dense/kernel:0", kernel [.., in, out] → last axis
    Path,     ///< plain HDF5 / npz paths "group/sub/name" → axis 0
};

/// Fills layerPath, role and channelAxis of `t` from its name and logicalShape.
void describeTensor(TensorInfo& t, NameConvention convention);

/// "file: tensor 'name'" for error contexts.
std::string tensorWhere(const std::string& file, const std::string& tensor);

/// Fields shared by every reader's model, filled in by the reader before the model is published.
class ModelBase : public Model {
public:
    FileFormat format() const override { return m_format; }
    const std::string& path() const override { return m_path; }
    const std::vector<std::string>& files() const override { return m_files; }
    const std::vector<TensorInfo>& tensors() const override { return m_tensors; }
    const std::vector<std::pair<std::string, std::string>>& metadata() const override { return m_metadata; }

    FileFormat m_format = FileFormat::Safetensors;
    std::string m_path;
    std::vector<std::string> m_files;
    std::vector<TensorInfo> m_tensors;
    std::vector<std::pair<std::string, std::string>> m_metadata;

protected:
    /// Context for errors about tensor `index`.
    std::string where(std::size_t index) const;
    /// Index in range and decodable; else InvalidArgument / Unsupported naming the tensor.
    Result<void> checkReadable(std::size_t index) const;
    /// Checks [first, first + count) against the tensor.
    Result<void> checkRange(std::size_t index, std::int64_t first, std::int64_t count) const;
    /// A float32 tensor of the logical shape, refused (TooLarge) when it exceeds physical memory.
    Result<Tensor> allocate(std::size_t index) const;
};

/// Where a memory-mapped tensor's bytes are and how to decode them.
struct MappedSource {
    std::uint64_t offset = 0;  ///< from the start of the mapped file
    std::uint64_t bytes = 0;
    DType dtype = DType::F32;  ///< plain elements (block == nullptr)
    bool bigEndian = false;
    bool fortranOrder = false;  ///< NumPy column-major: storage order is the reverse of logicalShape's
    const FormatTraits* block = nullptr;  ///< GGUF block format decoded through its traits row
};

/// Decodes elements [first, first + count) (row-major over `logicalShape`) of a tensor whose bytes
/// start at `base`. No checks: the caller validated the range and the byte length.
void decodeElements(const MappedSource& s, const Shape& logicalShape, const std::uint8_t* base, std::int64_t first,
                    std::int64_t count, float* dst);

/// A model whose tensors are byte ranges of memory-mapped files (safetensors, GGUF, .npy).
class MappedModel : public ModelBase {
public:
    Result<Tensor> readTensor(std::size_t index, TaskContext& ctx = TaskContext::none()) const override;
    Result<void> readElements(std::size_t index, std::int64_t first, std::int64_t count, float* dst,
                              TaskContext& ctx = TaskContext::none()) const override;
    Result<std::pair<const std::uint8_t*, std::size_t>> rawData(std::size_t index) const override;

    std::vector<MappedFilePtr> m_maps;     ///< parallel to m_files
    std::vector<MappedSource> m_sources;   ///< parallel to m_tensors

private:
    /// Decodes elements [first, first + count) (validated) into dst. No error paths.
    void decode(std::size_t index, std::int64_t first, std::int64_t count, float* dst) const;
    Result<void> readParallel(std::size_t index, std::int64_t first, std::int64_t count, float* dst,
                              TaskContext& ctx) const;
};

// ---- readers (each in its own file) ----
Result<ModelPtr> openSafetensorsFile(const MappedFilePtr& file);
/// `openedPath`: the path the user opened (a shard), or empty for the index itself.
Result<ModelPtr> openSafetensorsIndex(const std::string& indexPath, const std::string& openedPath = {},
                                      TaskContext& ctx = TaskContext::none());
/// A shard path: finds its index (or sibling shards) and opens the whole checkpoint.
Result<ModelPtr> openSafetensorsAny(const std::string& path, const MappedFilePtr& file,
                                    TaskContext& ctx = TaskContext::none());
Result<ModelPtr> openGgufFile(const MappedFilePtr& file);
Result<ModelPtr> openNpyFile(const MappedFilePtr& file);
Result<ModelPtr> openNpzFile(const MappedFilePtr& file);
Result<ModelPtr> openHdf5File(const std::string& path, const MappedFilePtr& image);

} // namespace io_detail
} // namespace ql
