#pragma once
// The one table of formats. The GUI, the CLI, the exporters and quantize() read it; nothing else
// switches on Format.

#include "core/base/result.h"
#include "core/base/task_context.h"
#include "core/base/tensor.h"
#include "core/quant/quantize.h"
#include "core/quant/spec.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace ql {

enum class FormatFamily : std::uint8_t {
    Integer,     ///< affine integer codes with scale (and zero point)
    Float,       ///< IEEE-like minifloats: FP16, BF16, FP8, FP4 (MX/NV)
    NormalFloat, ///< NF4 and other fixed non-uniform tables (IQ4_NL lives with GGUF)
    Codebook,    ///< learned levels: k-means, power-of-two
    Extreme,     ///< binary, ternary
    GgufBlock,   ///< llama.cpp block formats with exact GGUF byte layouts
    None,        ///< kept as float32
};

const char* familyName(FormatFamily f);

/// Which QuantSpec fields a format reads (bitmask).
enum FormatParam : unsigned {
    kParamBits = 1u << 0,
    kParamScheme = 1u << 1,
    kParamGranularity = 1u << 2,
    kParamGroupSize = 1u << 3,
    kParamRange = 1u << 4,
    kParamScaleStorage = 1u << 5,
    kParamImportance = 1u << 6,
    kParamOption = 1u << 7,
};

/// Which granularities a format accepts (bitmask of 1 << GranularityKind).
inline constexpr unsigned granularityBit(GranularityKind k)
{
    return 1u << static_cast<unsigned>(k);
}

struct FormatTraits {
    Format format;
    std::string_view name;         ///< stable id for CLI/JSON: "int", "fp8_e4m3", "q4_k"
    std::string_view displayName;  ///< for the UI: "INT", "FP8 E4M3", "Q4_K"
    FormatFamily family;
    int minBits;                   ///< bits per code (fixed formats: min == max)
    int maxBits;
    int defaultBits;
    unsigned params;               ///< FormatParam bits
    unsigned granularities;        ///< granularityBit(...) bits
    std::int64_t blockSize;        ///< > 0: elements per block fixed by the format (along the row)
    std::int64_t blockBytes;       ///< bytes per block for block formats, else 0
    int ggufType;                  ///< ggml_type id, or -1
    std::string_view description;  ///< one line for `formats` and tooltips
    std::string_view bitsFormula;  ///< bits/weight formula in words ("b + 32/G (+ b/G asym)")

    /// Format-specific validation beyond the generic checks (may be null).
    Result<void> (*validate)(const QuantSpec& spec, const Shape& shape);
    /// True storage cost in bits per weight, including scales and zero points.
    double (*bitsPerWeight)(const QuantSpec& spec, const Shape& shape);
    /// The quantizer. Called with a validated spec.
    Result<QuantResult> (*quantize)(const TensorView& x, const QuantSpec& spec, const QuantOptions& options,
                                    TaskContext& ctx);
    /// Representable values of one segment of a result (for plots); may be null (then none drawn).
    std::vector<double> (*levels)(const QuantResult& r, std::int64_t segment);
    /// Block formats: decode `nBlocks` blocks at src to floats (nBlocks·blockSize values). May be null.
    void (*decodeBlocks)(const std::uint8_t* src, std::int64_t nBlocks, float* dst);

    /// Group size of the format's default spec for formats that default to groups (NF4: 64); 0 = none.
    std::int64_t defaultGroupSize = 0;

    bool has(FormatParam p) const { return (params & p) != 0; }
    bool allows(GranularityKind k) const { return (granularities & granularityBit(k)) != 0; }
};

/// The row of a format, or null if this build has none.
const FormatTraits* findFormatTraits(Format f);
/// The row of a format (precondition: findFormatTraits(f) != nullptr; falls back to F32).
const FormatTraits& formatTraits(Format f);
/// All rows, in enum order; formats not built yet are absent.
std::span<const FormatTraits> allFormats();
/// Looks a format up by its stable name (case-insensitive).
std::optional<Format> formatFromName(std::string_view name);

/// Stable names of the spec fields a format reads ("bits", "scheme", "granularity", "group_size",
/// "range", "scale_storage", "importance", "option"), in that order.
std::vector<std::string_view> formatParamNames(const FormatTraits& t);

/// Stable names of the granularities a format accepts ("tensor", "channel", "group"), in that order.
std::vector<std::string_view> formatGranularityNames(const FormatTraits& t);
/// The row of a GGUF ggml_type id, if QuantLens knows it.
const FormatTraits* formatFromGgufType(int ggufType);

/// A default spec for a format (its default bits, granularity and range method).
QuantSpec defaultSpec(Format f);

} // namespace ql
