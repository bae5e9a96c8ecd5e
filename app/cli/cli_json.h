#pragma once
// JSON helpers shared by the CLI commands.

#include "core/quant/stats.h"

#include <nlohmann/json.hpp>

namespace ql::cli {

/// A double for JSON: non-finite values become null (JSON has no Inf/NaN).
nlohmann::json number(double v);
/// The stable metrics keys: sqnr_db, mse, rmse, max_abs_error, cosine, clip_fraction, clip_mse,
/// round_mse, nonfinite, elements, clipped (bits_per_weight is added by the caller).
nlohmann::json metricsJson(const Metrics& m);

} // namespace ql::cli
