#pragma once
// QuantSpec: what a user picks for one tensor (format, bits, scheme, granularity, range method, ...).

#include "core/base/result.h"
#include "core/base/tensor.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>

namespace ql {

/// Every quantization format QuantLens knows. Properties live in one table: formatTraits(Format).
/// Nothing outside core/quant/format_traits.cpp and each format's own file switches on this.
enum class Format : std::uint8_t {
    Int,  ///< integer affine (asymmetric / symmetric), 2..16 bits
    // Float formats, NF4, codebooks, extreme and GGUF block formats are appended by their traits rows.
    F16,
    BF16,
    F8E4M3,
    F8E5M2,
    MXFP4,
    NVFP4,
    NF4,
    Pow2,
    KMeans,
    Binary,
    Ternary,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    IQ4_NL,
    F32,  ///< keep as float32 (no quantization): used for "skip" in plans
};

enum class Scheme : std::uint8_t {
    Asymmetric,     ///< unsigned codes [0, 2^b−1], zero point
    Symmetric,      ///< signed codes, restricted range [−(2^(b−1)−1), 2^(b−1)−1], zero point 0
    SymmetricFull,  ///< signed codes, full range [−2^(b−1), 2^(b−1)−1], zero point 0
};

enum class GranularityKind : std::uint8_t { Tensor, Channel, Group };

struct Granularity {
    GranularityKind kind = GranularityKind::Tensor;
    int axis = 0;            ///< channel axis (Channel and Group); negative counts from the end
    std::int64_t groupSize = 128;  ///< Group only: G consecutive elements along the reduction order

    bool operator==(const Granularity&) const = default;
};

enum class RangeKind : std::uint8_t { MinMax, Percentile, Mse, Kl };

struct RangeMethod {
    RangeKind kind = RangeKind::MinMax;
    double percentile = 99.9;  ///< Percentile only, in (0, 100]

    bool operator==(const RangeMethod&) const = default;
};

/// How scales (and zero points) are stored; counts in bits per weight.
enum class ScaleStorage : std::uint8_t {
    F32,
    F16,
    BF16,
    Int8,  ///< "double quantization": 8-bit codes with one fp32 scale per 256 scales
};

enum class Rounding : std::uint8_t {
    HalfEven,      ///< default (DESIGN.md)
    HalfAwayFromZero,
};

struct QuantSpec {
    Format format = Format::Int;
    int bits = 8;
    Scheme scheme = Scheme::Asymmetric;
    Granularity granularity;
    RangeMethod range;
    ScaleStorage scaleStorage = ScaleStorage::F32;
    Rounding rounding = Rounding::HalfEven;
    /// Format-specific knob, e.g. NF4/double quantization on, k-means iterations; 0 = default.
    int option = 0;

    bool operator==(const QuantSpec&) const = default;
};

/// Short human form used in tables and the CLI: "int4 asym g128 mse", "int8 sym ch0 minmax", "q4_k".
std::string specShortName(const QuantSpec& spec);

/// Resolves a possibly negative axis against a rank; error if out of range.
Result<int> resolveAxis(int axis, int rank);

/// JSON form of a spec (stable keys: format, bits, scheme, granularity{kind, axis, group_size},
/// range{method, percentile}, scale_storage, rounding, option).
nlohmann::json specToJson(const QuantSpec& spec);
/// Parses specToJson's form; unknown keys and bad values give InvalidSpec with the key path.
Result<QuantSpec> specFromJson(const nlohmann::json& j);

// Name tables for the enums (stable, used in JSON, CLI and UI).
const char* schemeName(Scheme s);          // "asymmetric", "symmetric", "symmetric_full"
const char* rangeKindName(RangeKind r);    // "minmax", "percentile", "mse", "kl"
const char* scaleStorageName(ScaleStorage s);  // "f32", "f16", "bf16", "int8"
Result<Scheme> schemeFromName(const std::string& s);
Result<RangeKind> rangeKindFromName(const std::string& s);
Result<ScaleStorage> scaleStorageFromName(const std::string& s);

/// Parses the CLI forms: "tensor", "channel:0", "channel" (axis 0), "group:128" (channel axis 0),
/// "group:128:1" (group 128 inside channels along axis 1).
Result<Granularity> parseGranularity(const std::string& s);
/// Parses "minmax", "percentile:99.9", "mse", "kl".
Result<RangeMethod> parseRangeMethod(const std::string& s);

} // namespace ql
