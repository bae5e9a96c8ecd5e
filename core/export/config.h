#pragma once
// The versioned config document: a QuantPlan plus the calibration set it was tuned on and the
// identity of the source model. Documented field by field in docs/config.md.

#include "core/base/result.h"
#include "core/quant/plan.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ql {

class Model;

/// The config format version this build writes; it reads versions 1..kConfigFormatVersion.
inline constexpr int kConfigFormatVersion = 1;

/// Which checkpoint a config was made for. The hash covers the tensor index (names, stored types,
/// shapes, byte sizes in file order), not the data, so it is cheap and changes whenever the headers do.
struct SourceModelIdentity {
    std::string path;
    std::string fileFormat;         ///< "safetensors", "gguf", ...
    std::int64_t sizeBytes = 0;     ///< sum of the data bytes of every tensor
    std::int64_t tensorCount = 0;
    std::string indexHash;          ///< "fnv1a64:0123456789abcdef"

    bool operator==(const SourceModelIdentity&) const = default;
};

/// A reference to the calibration set used while choosing the plan (informational; not loaded here).
struct CalibrationRef {
    std::string path;
    std::string description;

    bool operator==(const CalibrationRef&) const = default;
};

struct QuantConfig {
    int formatVersion = kConfigFormatVersion;
    QuantPlan plan;
    std::optional<CalibrationRef> calibration;
    std::optional<SourceModelIdentity> source;

    bool operator==(const QuantConfig&) const = default;
};

/// The JSON document of a config (keys in docs/config.md). Stable key order.
nlohmann::json configToJson(const QuantConfig& config);
/// Parses and validates a config document. Errors (InvalidArgument, or Unsupported for a newer
/// format version) carry the JSON path of the offending key in Error::context, e.g.
/// "$.overrides[2].spec.bits", and say whether the key is unknown or its value bad.
Result<QuantConfig> configFromJson(const nlohmann::json& j);
/// Parses JSON text (syntax errors give Corrupt with line/column).
Result<QuantConfig> configFromText(const std::string& text);

/// Reads a config file (errors name the file). Files larger than 64 MiB are rejected (TooLarge).
Result<QuantConfig> loadConfig(const std::string& path);
/// Writes a config file atomically (pretty-printed JSON, trailing newline).
Result<void> saveConfig(const std::string& path, const QuantConfig& config);

/// The identity of an opened model (no data is read).
SourceModelIdentity identifyModel(const Model& model);

/// Warnings about a config applied to a model: exact overrides naming tensors the model lacks, glob
/// and regex overrides and skip patterns matching no tensor, and a source identity that differs from
/// the model's. One line each, listing the names.
std::vector<std::string> checkConfigAgainstModel(const QuantConfig& config, const Model& model);

} // namespace ql
