#pragma once
// Internal to core/export: the per-tensor job list shared by the writers.

#include "core/export/exporter.h"

#include <nlohmann/json_fwd.hpp>

#include <functional>

namespace ql {

struct QuantResult;
struct TensorInfo;

namespace export_detail {

enum class PartContent : std::uint8_t { Raw, FloatData, Codes, Scales, Zeros, Lut, Blocks };

/// One stored array of a tensor (safetensors: tensor "<name><suffix>"; HDF5: a dataset).
struct Part {
    std::string suffix;  ///< "", ".qweight", ".scales", ".zeros", ".lut"
    DType dtype = DType::F32;
    Shape shape;
    PartContent content = PartContent::Raw;
    std::uint64_t bytes = 0;
};

struct Job {
    std::size_t index = 0;  ///< in model.tensors()
    TensorExport te;
    std::vector<Part> parts;
    DType floatDType = DType::F32;  ///< Copy / Float: the element type written
    int ggmlType = -1;              ///< GGUF type id (Copy of a GGUF block tensor: taken from the source)
    bool codesSigned = false;
    bool codesPacked = false;       ///< codes bit-packed (safetensors below 8 bits)
    bool dequantized = false;       ///< Float scheme holding x̂ of a format without a code layout
};

using PartSink = std::function<Result<void>(const Job& job, std::size_t part, const void* data, std::size_t bytes)>;

bool isFloatDType(DType d);
int ggmlTypeOfDType(DType d);
DType scaleDType(const QuantSpec& s);
bool isFloatFormat(Format f);
DType floatFormatDType(Format f);
std::uint64_t lutBytes(std::int64_t segments, int bits);

Result<std::vector<Job>> makeJobs(const Model& model, const QuantPlan& plan, ExportFormat format);
nlohmann::json tensorMetadata(const Job& job, const TensorInfo& t);
void releasePages(const Model& model, std::size_t index);
Result<void> checkNotInput(const Model& model, const std::string& path);
/// Reads, quantizes and encodes one tensor, handing each part's bytes to `sink` in order.
Result<void> produceTensor(const Model& model, Job& job, ExportFormat format, const TaskContext& ctx,
                           std::int64_t doneBefore, std::int64_t total, const PartSink& sink);
void encodeFloats(const float* x, std::int64_t n, DType d, std::vector<std::uint8_t>& out);
void encodeCodes(const std::int32_t* codes, std::int64_t n, int bits, bool packed, const Part& p,
                 std::vector<std::uint8_t>& out);
/// Lut scheme: replaces r.codes by indices into the tensor's sorted distinct codes and fills the
/// per-segment table lut[segment · 2^bits + index] = x̂. Internal error if a code has two values.
Result<void> buildLut(const float* x, QuantResult& r, std::vector<float>& lut);

Result<void> writeSafetensorsExport(const Model& model, std::vector<Job>& jobs, const QuantConfig& config,
                                    const std::string& path, const ExportOptions& options, TaskContext& ctx);
Result<void> writeGgufExport(const Model& model, std::vector<Job>& jobs, const QuantConfig& config,
                             const std::string& path, const ExportOptions& options, TaskContext& ctx);
Result<void> writeHdf5Export(const Model& model, std::vector<Job>& jobs, const QuantConfig& config,
                             const std::string& path, const ExportOptions& options, TaskContext& ctx);

/// Total elements over all jobs (the progress unit).
std::int64_t totalElements(const Model& model, const std::vector<Job>& jobs);

} // namespace export_detail
} // namespace ql
