#include "app/cli/cli_json.h"

#include <cmath>

namespace ql::cli {

nlohmann::json number(double v)
{
    if (!std::isfinite(v))
        return nullptr;
    return v;
}

nlohmann::json metricsJson(const Metrics& m)
{
    return nlohmann::json{{"sqnr_db", number(m.sqnrDb)},     {"mse", number(m.mse)},
                          {"rmse", number(m.rmse)},          {"max_abs_error", number(m.maxAbsError)},
                          {"cosine", number(m.cosine)},      {"clip_fraction", number(m.clipFraction)},
                          {"clip_mse", number(m.clipMse)},   {"round_mse", number(m.roundMse)},
                          {"nonfinite", m.nonfinite},        {"elements", m.elements},
                          {"clipped", m.clipped}};
}

} // namespace ql::cli
