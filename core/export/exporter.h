#pragma once
// Exports a model under a QuantPlan: quantized safetensors, fake-quant safetensors, GGUF v3, HDF5.
// Streaming (one tensor at a time), atomic (temporary file in the target directory, renamed when
// complete), cancellable. File layouts are documented in docs/export.md.

#include "core/base/dtype.h"
#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/base/tensor.h"
#include "core/export/config.h"
#include "core/quant/plan.h"
#include "core/quant/spec.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ql {

class Model;

enum class ExportFormat : std::uint8_t {
    Safetensors,           ///< codes + scales + zero points per tensor, self-describing __metadata__
    FakeQuantSafetensors,  ///< x̂ = dequantized weights in the source dtype, same names and shapes
    Gguf,                  ///< GGUF v3 with ggml block types
    Hdf5,                  ///< one group per tensor: codes, scales, zero points, spec attributes
};

/// "safetensors", "fake-quant-safetensors", "gguf", "hdf5".
const char* exportFormatName(ExportFormat f);
/// The format implied by a file name: .safetensors (fake-quant if asked), .gguf, .h5/.hdf5.
/// InvalidArgument for anything else, and for --fake-quant with a non-safetensors name.
Result<ExportFormat> exportFormatForPath(const std::string& path, bool fakeQuant);

/// How one tensor is stored (the `scheme` of docs/export.md).
enum class StorageScheme : std::uint8_t {
    Copy,     ///< unquantized, bytes as in the source (or converted to a plain float type)
    Float,    ///< converted to F32/F16/BF16 (float formats of the plan, GGUF float types, fake-quant)
    Affine,   ///< integer codes, scales, zero points: x̂ = scale · (q − zero)
    Blocks,   ///< ggml block bytes (GGUF types), decoded by the format's block decoder
    Lut,      ///< codes and a per-segment table of the value of every code: x̂ = lut[segment][code]
};
const char* storageSchemeName(StorageScheme s);

struct ExportOptions {
    ExportFormat format = ExportFormat::Safetensors;
    /// The config written into the file's metadata (the plan is taken from exportModel's argument;
    /// calibration and source identity from here when set).
    std::optional<QuantConfig> config;
    /// GGUF data alignment (power of two). 0: the source GGUF's general.alignment, else 32.
    std::uint32_t ggufAlignment = 0;
    /// general.name for GGUF files from non-GGUF sources; empty: the source file's stem.
    std::string modelName;
};

/// What happened to one tensor (in file order).
struct TensorExport {
    std::string name;
    Shape shape;                          ///< logical (row-major) shape
    std::string sourceType;               ///< as stored in the source ("F16", "Q4_K", ...)
    std::optional<QuantSpec> requested;   ///< the plan's spec (nullopt: skipped by the plan)
    std::optional<QuantSpec> used;        ///< the spec applied (nullopt: stored unquantized)
    StorageScheme scheme = StorageScheme::Copy;
    std::string storedAs;                 ///< "q4_k", "int4 asym g128 minmax", "F16", ...
    bool fallback = false;                ///< the requested spec could not be used as asked
    std::string reason;                   ///< why (fallback) or a remark
    std::int64_t bytes = 0;               ///< bytes this tensor takes in the output
    double sqnrDb = 0.0;                  ///< of the quantization (NaN: not measured, e.g. a plain F16 conversion)
    double bitsPerWeight = 0.0;           ///< of the stored form
    std::vector<std::string> warnings;    ///< from quantize (non-finite inputs ...)
};

struct ExportReport {
    std::string path;
    ExportFormat format = ExportFormat::Safetensors;
    std::int64_t fileBytes = 0;
    std::vector<TensorExport> tensors;
    std::vector<std::string> warnings;
    double seconds = 0.0;

    std::vector<const TensorExport*> fallbacks() const;
};

/// Decides, without reading data, how every tensor of `model` will be stored under `plan` in
/// `format`, including fallbacks (documented in docs/export.md): a per-group spec whose group size
/// does not fit falls back to per-channel, then to unquantized; GGUF keeps 1-D tensors unquantized
/// and stores formats without a GGUF type, or rows not divisible by the block size, as F16.
/// Errors: InvalidArgument for a tensor that cannot be read at all.
Result<std::vector<TensorExport>> planExport(const Model& model, const QuantPlan& plan, ExportFormat format);

/// Writes the export to `path` atomically. Never writes over one of the model's own files
/// (InvalidArgument). Streams tensor by tensor: peak memory about 3 × the largest tensor in float32
/// plus buffers. Cancellable (Cancelled; the partial output is removed and any previous file at
/// `path` stays as it was); progress in elements over all tensors. Not thread-safe per model file.
Result<ExportReport> exportModel(const Model& model, const QuantPlan& plan, const std::string& path,
                                 const ExportOptions& options, TaskContext& ctx = TaskContext::none());

/// Reads one logical tensor back from a file written by exportModel (safetensors, fake-quant
/// safetensors, HDF5 or GGUF, opened with openModel) and dequantizes it with the stored parameters.
/// For quantized tensors this equals QuantResult::dequant of the export's quantization for every
/// finite input element. Errors: NotFound (no such tensor), Corrupt (metadata and data disagree).
Result<Tensor> readExportedTensor(const Model& exported, const std::string& name);
/// The logical tensor names of an exported file, in file order.
std::vector<std::string> exportedTensorNames(const Model& exported);

// ---- bit packing of codes (docs/export.md: "Packing") ----

/// Bytes of n codes of b bits packed: ⌈n · b / 8⌉ (b = 1..8).
std::uint64_t packedBytes(std::int64_t n, int bits);
/// Packs the low b bits of each code (two's complement for negative codes) into a little-endian bit
/// stream: code i occupies stream bits [i·b, (i+1)·b), bit k of the stream is bit k % 8 of byte k / 8.
void packCodes(const std::int32_t* codes, std::int64_t n, int bits, std::uint8_t* dst);
/// Inverse of packCodes; `isSigned` sign-extends each b-bit value.
void unpackCodes(const std::uint8_t* src, std::int64_t n, int bits, bool isSigned, std::int32_t* dst);

} // namespace ql
