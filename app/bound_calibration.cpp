#include "app/bound_calibration.h"

#include <algorithm>
#include <atomic>
#include <limits>

namespace ql {

const calib::LayerBinding* BoundCalibration::bindingFor(std::size_t tensorIndex) const
{
    for (const auto& b : bindings)
        if (b.tensorIndex == tensorIndex)
            return &b;
    return nullptr;
}

CalibrationPtr makeBoundCalibration(const calib::CalibrationSet& full, std::vector<calib::LayerBinding> bindings,
                                    std::int64_t samples, const QString& name)
{
    static std::atomic<std::uint64_t> nextId{1};
    auto b = std::make_shared<BoundCalibration>();
    b->id = nextId++;
    b->available = std::numeric_limits<std::int64_t>::max();
    for (const auto& l : full.layers)
        b->available = std::min(b->available, l.sampleCount());
    if (full.layers.empty())
        b->available = 0;
    b->samples = samples <= 0 ? b->available : std::min(samples, b->available);
    b->set = full.firstSamples(b->samples);
    b->bindings = std::move(bindings);
    b->description = QStringLiteral("%1 · %2 of %3 samples · %4 layers")
                         .arg(name)
                         .arg(b->samples)
                         .arg(b->available)
                         .arg(b->bindings.size());
    return b;
}

double layerErrorOf(const BoundCalibration& calib, std::size_t tensorIndex, const TensorView& w,
                    const std::vector<float>& wHat)
{
    const calib::LayerBinding* b = calib.bindingFor(tensorIndex);
    if (!b || b->calibIndex >= calib.set.layers.size() || wHat.size() != static_cast<std::size_t>(w.numel()))
        return std::numeric_limits<double>::quiet_NaN();
    const Result<double> e = calib::layerOutputError(calib.set.layers[b->calibIndex].samples.view(), w, wHat.data(),
                                                     b->inOutLayout);
    return e ? *e : std::numeric_limits<double>::quiet_NaN();
}

} // namespace ql
