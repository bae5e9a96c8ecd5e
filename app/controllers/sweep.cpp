#include "app/controllers/sweep.h"

#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ql {

namespace {
QString qs(std::string_view s)
{
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}

QString familyLabel(const FormatTraits& t)
{
    switch (t.family) {
    case FormatFamily::Float: return QStringLiteral("float (FP8/FP4/MX)");
    case FormatFamily::NormalFloat: return QStringLiteral("normal float (NF4)");
    case FormatFamily::Codebook: return QStringLiteral("codebook / pow2");
    case FormatFamily::Extreme: return QStringLiteral("binary / ternary");
    case FormatFamily::GgufBlock: return QStringLiteral("GGUF blocks");
    default: return qs(familyName(t.family));
    }
}
} // namespace

Tensor rowSubsampleTensor(const Tensor& t, std::int64_t maxElements)
{
    if (t.numel() <= maxElements || t.shape.size() < 2)
        return t;
    const std::int64_t rows = t.shape[0], rowLen = t.numel() / rows;
    const std::int64_t keep = std::max<std::int64_t>(1, maxElements / std::max<std::int64_t>(rowLen, 1));
    const std::int64_t stride = (rows + keep - 1) / keep;
    Tensor out;
    out.shape = t.shape;
    out.shape[0] = (rows + stride - 1) / stride;
    out.data.reserve(static_cast<std::size_t>(out.shape[0] * rowLen));
    for (std::int64_t r = 0; r < rows; r += stride)
        out.data.insert(out.data.end(), t.data.begin() + r * rowLen, t.data.begin() + (r + 1) * rowLen);
    return out;
}

std::vector<SweepSpec> sweepSpecs(const Shape& shape, const Granularity& intGranularity)
{
    std::vector<SweepSpec> out;
    for (const FormatTraits& t : allFormats()) {
        if (t.format == Format::F32)
            continue;
        if (t.format == Format::Int) {
            for (Scheme s : {Scheme::Asymmetric, Scheme::Symmetric}) {
                for (int b = 2; b <= 8; ++b) {
                    QuantSpec spec = defaultSpec(Format::Int);
                    spec.bits = b;
                    spec.scheme = s;
                    spec.granularity = intGranularity;
                    if (!validateSpec(spec, shape)) {
                        spec.granularity = Granularity{GranularityKind::Channel, 0, 128};
                        if (!validateSpec(spec, shape))
                            spec.granularity = Granularity{};
                    }
                    out.push_back({s == Scheme::Asymmetric ? QStringLiteral("INT asymmetric") : QStringLiteral("INT symmetric"),
                                   QString::fromStdString(specShortName(spec)), spec});
                }
            }
            continue;
        }
        const int lo = t.has(kParamBits) ? std::max(2, t.minBits) : t.defaultBits;
        const int hi = t.has(kParamBits) ? std::min(8, t.maxBits) : t.defaultBits;
        for (int b = lo; b <= hi; ++b) {
            QuantSpec spec = defaultSpec(t.format);
            spec.bits = b;
            if (!validateSpec(spec, shape))
                continue;
            if (bitsPerWeight(spec, shape) > 9.0)
                continue;
            out.push_back({familyLabel(t), QString::fromStdString(specShortName(spec)), spec});
        }
    }
    return out;
}

Result<TradeoffData> sweepTensor(const Tensor& full, const std::vector<SweepSpec>& specs, std::int64_t maxElements,
                                 TaskContext& ctx, const AnalysisCalibration& calibration)
{
    const Tensor x = rowSubsampleTensor(full, maxElements);
    TradeoffData d;
    QuantOptions qo;
    qo.keepCodes = false;
    qo.keepDequant = calibration.applies();  // x̂ only feeds the layer-output error
    for (std::size_t i = 0; i < specs.size(); ++i) {
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled");
        ctx.progress(static_cast<std::int64_t>(i), static_cast<std::int64_t>(specs.size()));
        TaskContext inner;  // the sweep reports per spec; inner work only checks cancellation
        inner.isCancelled = ctx.isCancelled;
        Result<QuantResult> r = quantize(x.view(), specs[i].spec, qo, inner);
        if (!r) {
            if (r.error().code == ErrorCode::Cancelled)
                return std::move(r).error();
            continue;  // a spec that does not apply to this tensor is left out
        }
        TradeoffPoint p;
        p.family = specs[i].family;
        p.label = specs[i].label;
        p.bitsPerWeight = bitsPerWeight(specs[i].spec, full.shape);
        p.sqnrDb = r->metrics.sqnrDb;
        p.mse = r->metrics.mse;
        if (qo.keepDequant)
            p.layerError = layerErrorOf(*calibration.set, calibration.tensorIndex, x.view(), r->dequant);
        d.points.push_back(p);
    }
    d.pareto = paretoFront(d.points);
    if (x.numel() < full.numel())
        d.title = QStringLiteral("sweep on %1 of %2 values (row subsample)").arg(x.numel()).arg(full.numel());
    return d;
}

bool inModelSweep(const TensorInfo& info)
{
    return info.supported && info.logicalShape.size() >= 2;
}

namespace {
/// A tensor of the whole-model sweep, row-subsampled, and the factor that scales its sums to the whole tensor.
struct SweptTensor {
    Tensor x;
    double weight = 1.0;
};

/// Reads and subsamples a tensor of the sweep; nullopt when it is outside the sweep or unreadable.
Result<std::optional<SweptTensor>> readSwept(const Model& model, std::size_t tensorIndex, std::int64_t perTensorElements,
                                             TaskContext& ctx)
{
    if (tensorIndex >= model.tensors().size() || !inModelSweep(model.tensors()[tensorIndex]))
        return std::optional<SweptTensor>();
    Result<Tensor> t = model.readTensor(tensorIndex, ctx);
    if (!t) {
        if (t.error().code == ErrorCode::Cancelled)
            return std::move(t).error();
        return std::optional<SweptTensor>();  // an unreadable tensor is left out of the sweep
    }
    SweptTensor s;
    s.x = rowSubsampleTensor(*t, perTensorElements);
    // Scale the subsample's sums up to the whole tensor so big tensors weigh what they should.
    s.weight = double(model.tensors()[tensorIndex].numel) / double(std::max<std::int64_t>(s.x.numel(), 1));
    return std::optional<SweptTensor>(std::move(s));
}

/// One spec on a swept tensor; nullopt when the spec does not apply to it.
Result<std::optional<ModelSweepPart>> measureSwept(const SweptTensor& s, const TensorInfo& info, const SweepSpec& spec,
                                                   TaskContext& ctx, const AnalysisCalibration& calibration)
{
    QuantOptions qo;
    qo.keepCodes = false;
    qo.keepDequant = calibration.applies();  // x̂ only feeds the layer-output error
    TaskContext inner;  // the caller reports progress; inner work only checks cancellation
    inner.isCancelled = ctx.isCancelled;
    Result<QuantResult> r = quantize(s.x.view(), spec.spec, qo, inner);
    if (!r) {
        if (r.error().code == ErrorCode::Cancelled)
            return std::move(r).error();
        return std::optional<ModelSweepPart>();
    }
    ModelSweepPart part{spec.family, spec.label, spec.spec, r->metrics.sumX2 * s.weight, r->metrics.sumErr2 * s.weight,
                        bitsPerWeight(spec.spec, info.logicalShape), double(info.numel)};
    if (qo.keepDequant)
        part.layerError = layerErrorOf(*calibration.set, calibration.tensorIndex, s.x.view(), r->dequant);
    return std::optional<ModelSweepPart>(std::move(part));
}
} // namespace

Result<std::vector<ModelSweepPart>> sweepModelTensor(const Model& model, std::size_t tensorIndex,
                                                     const Granularity& intGranularity,
                                                     std::int64_t perTensorElements, TaskContext& ctx,
                                                     const CalibrationPtr& calibration)
{
    std::vector<ModelSweepPart> out;
    AnalysisCalibration calib{calibration, tensorIndex};
    if (!calib.applies())
        calib = {};
    Result<std::optional<SweptTensor>> s = readSwept(model, tensorIndex, perTensorElements, ctx);
    if (!s)
        return std::move(s).error();
    if (!*s)
        return out;
    const TensorInfo& info = model.tensors()[tensorIndex];
    const std::vector<SweepSpec> specs = sweepSpecs(info.logicalShape, intGranularity);
    for (std::size_t i = 0; i < specs.size(); ++i) {
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled");
        ctx.progress(static_cast<std::int64_t>(i), static_cast<std::int64_t>(specs.size()));
        Result<std::optional<ModelSweepPart>> part = measureSwept(**s, info, specs[i], ctx, calib);
        if (!part)
            return std::move(part).error();
        if (*part)
            out.push_back(std::move(**part));
    }
    return out;
}

Result<ModelSweepPart> measurePlanTensor(const Model& model, std::size_t tensorIndex,
                                         const std::optional<QuantSpec>& spec, std::int64_t perTensorElements,
                                         TaskContext& ctx, const CalibrationPtr& calibration)
{
    AnalysisCalibration calib{calibration, tensorIndex};
    if (!calib.applies())
        calib = {};
    Result<std::optional<SweptTensor>> s = readSwept(model, tensorIndex, perTensorElements, ctx);
    if (!s)
        return std::move(s).error();
    if (!*s)
        return makeError(ErrorCode::InvalidArgument, "not a tensor of the whole-model sweep",
                         tensorIndex < model.tensors().size() ? model.tensors()[tensorIndex].name : std::string());
    const TensorInfo& info = model.tensors()[tensorIndex];
    if (!spec) {
        // Kept as stored: no error, the stored size.
        double sumX2 = 0.0;
        for (float v : (*s)->x.data)
            if (std::isfinite(v))
                sumX2 += double(v) * double(v);
        ModelSweepPart kept{QString(), QString(), defaultSpec(Format::F32), sumX2 * (*s)->weight, 0.0,
                            info.storedBitsPerWeight, double(info.numel)};
        if (calib.set)
            kept.layerError = 0.0;  // the layer computes with its own weights
        return kept;
    }
    const SweepSpec sweepSpec{QString(), QString::fromStdString(specShortName(*spec)), *spec};
    Result<std::optional<ModelSweepPart>> part = measureSwept(**s, info, sweepSpec, ctx, calib);
    if (!part)
        return std::move(part).error();
    if (!*part)
        return makeError(ErrorCode::InvalidArgument, "the plan's spec does not apply", info.name);
    return std::move(**part);
}

void PooledPoint::add(const std::string& tensorName, const ModelSweepPart& part, bool quantized)
{
    sumX2 += part.sumX2;
    sumErr2 += part.sumErr2;
    bits += part.bitsPerWeight * part.numel;
    numel += part.numel;
    if (!std::isnan(part.layerError)) {
        layerErrorSum += part.layerError;
        ++layers;
    }
    if (quantized)
        tensors.push_back(PlanOverride{PatternKind::Exact, tensorName, part.spec});
}

TradeoffPoint PooledPoint::point(const QString& family, const QString& label) const
{
    TradeoffPoint p;
    p.family = family;
    p.label = label;
    p.bitsPerWeight = numel > 0 ? bits / numel : 0.0;
    p.sqnrDb = sumErr2 > 0 ? 10.0 * std::log10(sumX2 / sumErr2) : std::numeric_limits<double>::infinity();
    p.mse = numel > 0 ? sumErr2 / numel : 0.0;
    if (layers > 0)
        p.layerError = layerErrorSum / layers;
    return p;
}

QuantPlan PooledPoint::plan() const
{
    QuantPlan plan;
    plan.defaultSpec = defaultSpec(Format::F32);
    plan.overrides = tensors;
    return plan;
}

void ModelSweep::add(const std::string& tensorName, const std::vector<ModelSweepPart>& parts)
{
    for (const ModelSweepPart& p : parts) {
        const QString key = p.family + QLatin1Char('|') + qs(formatTraits(p.spec.format).name) +
                            QString::number(p.spec.bits);
        auto it = m_index.find(key);
        if (it == m_index.end()) {
            it = m_index.emplace(key, m_points.size()).first;
            m_points.push_back(Point{p.family, p.label, {}});
        }
        m_points[it->second].pooled.add(tensorName, p);
    }
}

TradeoffData ModelSweep::data() const
{
    TradeoffData d;
    int layers = 0;
    for (const Point& a : m_points) {
        d.points.push_back(a.pooled.point(a.family, a.label));
        layers = std::max(layers, a.pooled.layers);
    }
    d.pareto = paretoFront(d.points);
    d.title = QStringLiteral("whole model (rank ≥ 2 tensors, ≤ %1 values each)").arg(m_perTensor);
    if (layers > 0)
        d.title += QStringLiteral(" · layer-output error: mean over %1 calibrated layers").arg(layers);
    return d;
}

QuantPlan ModelSweep::planOf(std::size_t point) const
{
    return point < m_points.size() ? m_points[point].pooled.plan() : PooledPoint{}.plan();
}

Result<double> demoAccuracy(const nn::DemoModel& demo, const QuantPlan& plan, TaskContext& ctx)
{
    nn::EvalOptions options;
    options.sensitivity = false;
    Result<nn::EvalReport> r = nn::evaluate(demo, plan, nn::ActQuantConfig{}, options, ctx);
    if (!r)
        return std::move(r).error();
    return r->accuracy;
}

std::vector<SweepSpec> comparePresets()
{
    std::vector<SweepSpec> out;
    auto addInt = [&](int bits, Scheme scheme, Granularity g) {
        QuantSpec s = defaultSpec(Format::Int);
        s.bits = bits;
        s.scheme = scheme;
        s.granularity = g;
        out.push_back({QStringLiteral("INT"), QString::fromStdString(specShortName(s)), s});
    };
    addInt(8, Scheme::Symmetric, Granularity{GranularityKind::Channel, 0, 128});
    addInt(4, Scheme::Asymmetric, Granularity{GranularityKind::Channel, 0, 128});
    addInt(4, Scheme::Asymmetric, Granularity{GranularityKind::Group, 0, 128});
    addInt(4, Scheme::Symmetric, Granularity{GranularityKind::Group, 0, 32});
    addInt(3, Scheme::Asymmetric, Granularity{GranularityKind::Group, 0, 64});
    addInt(2, Scheme::Asymmetric, Granularity{GranularityKind::Group, 0, 64});
    addInt(4, Scheme::Asymmetric, Granularity{});
    for (const FormatTraits& t : allFormats()) {
        if (t.format == Format::Int || t.format == Format::F32)
            continue;
        const QuantSpec s = defaultSpec(t.format);
        out.push_back({qs(t.displayName), QString::fromStdString(specShortName(s)), s});
    }
    return out;
}

CompareData compareSpecs(const Tensor& x, const std::vector<SweepSpec>& specs, TaskContext& ctx)
{
    CompareData d;
    const FiniteRange fr = finiteRange(x.data.data(), x.numel());
    QuantOptions qo;
    qo.keepCodes = false;
    qo.histogramBins = 160;
    qo.histXRange = std::make_pair(double(fr.lo), double(fr.hi > fr.lo ? fr.hi : fr.lo + 1.0f));
    for (const SweepSpec& s : specs) {
        if (ctx.cancelled())
            break;
        CompareEntry e;
        e.label = s.label;
        e.spec = s.spec;
        TaskContext inner;
        inner.isCancelled = ctx.isCancelled;
        Result<QuantResult> r = quantize(x.view(), s.spec, qo, inner);
        if (!r) {
            e.error = QString::fromStdString(r.error().message);
        } else {
            e.histX = r->histX;
            e.histErr = r->histErr;
            e.metrics = r->metrics;
            e.bitsPerWeight = r->bitsPerWeight;
            std::int64_t seg = 0;
            float best = -1.0f;
            for (std::size_t k = 0; k < r->scales.size(); ++k)
                if (r->scales[k] > best) {
                    best = r->scales[k];
                    seg = static_cast<std::int64_t>(k);
                }
            e.levels = gridLevels(*r, seg);
        }
        d.entries.push_back(std::move(e));
    }
    return d;
}

} // namespace ql
