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
                                 TaskContext& ctx)
{
    const Tensor x = rowSubsampleTensor(full, maxElements);
    TradeoffData d;
    QuantOptions qo;
    qo.keepCodes = false;
    qo.keepDequant = false;
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

Result<std::vector<ModelSweepPart>> sweepModelTensor(const Model& model, std::size_t tensorIndex,
                                                     const Granularity& intGranularity,
                                                     std::int64_t perTensorElements, TaskContext& ctx)
{
    std::vector<ModelSweepPart> out;
    if (tensorIndex >= model.tensors().size() || !inModelSweep(model.tensors()[tensorIndex]))
        return out;
    const TensorInfo& info = model.tensors()[tensorIndex];
    Result<Tensor> t = model.readTensor(tensorIndex, ctx);
    if (!t) {
        if (t.error().code == ErrorCode::Cancelled)
            return std::move(t).error();
        return out;  // an unreadable tensor is left out of the sweep
    }
    const Tensor x = rowSubsampleTensor(*t, perTensorElements);
    // Scale the subsample's sums up to the whole tensor so big tensors weigh what they should.
    const double w = double(info.numel) / double(std::max<std::int64_t>(x.numel(), 1));
    QuantOptions qo;
    qo.keepCodes = false;
    qo.keepDequant = false;
    const std::vector<SweepSpec> specs = sweepSpecs(info.logicalShape, intGranularity);
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const SweepSpec& s = specs[i];
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled");
        ctx.progress(static_cast<std::int64_t>(i), static_cast<std::int64_t>(specs.size()));
        TaskContext inner;
        inner.isCancelled = ctx.isCancelled;
        Result<QuantResult> r = quantize(x.view(), s.spec, qo, inner);
        if (!r) {
            if (r.error().code == ErrorCode::Cancelled)
                return std::move(r).error();
            continue;
        }
        out.push_back({s.family, s.label, s.spec, r->metrics.sumX2 * w, r->metrics.sumErr2 * w,
                       bitsPerWeight(s.spec, info.logicalShape), double(info.numel)});
    }
    return out;
}

void ModelSweep::add(const std::string& tensorName, const std::vector<ModelSweepPart>& parts)
{
    for (const ModelSweepPart& p : parts) {
        const QString key = p.family + QLatin1Char('|') + qs(formatTraits(p.spec.format).name) +
                            QString::number(p.spec.bits);
        auto it = m_index.find(key);
        if (it == m_index.end()) {
            it = m_index.emplace(key, m_points.size()).first;
            m_points.push_back(Point{p.family, p.label, 0, 0, 0, 0, {}});
        }
        Point& pt = m_points[it->second];
        pt.sx += p.sumX2;
        pt.se += p.sumErr2;
        pt.bits += p.bitsPerWeight * p.numel;
        pt.n += p.numel;
        pt.tensors.push_back(PlanOverride{PatternKind::Exact, tensorName, p.spec});
    }
}

TradeoffData ModelSweep::data() const
{
    TradeoffData d;
    for (const Point& a : m_points) {
        TradeoffPoint p;
        p.family = a.family;
        p.label = a.label;
        p.bitsPerWeight = a.n > 0 ? a.bits / a.n : 0.0;
        p.sqnrDb = a.se > 0 ? 10.0 * std::log10(a.sx / a.se) : std::numeric_limits<double>::infinity();
        p.mse = a.n > 0 ? a.se / a.n : 0.0;
        d.points.push_back(p);
    }
    d.pareto = paretoFront(d.points);
    d.title = QStringLiteral("whole model (rank ≥ 2 tensors, ≤ %1 values each)").arg(m_perTensor);
    return d;
}

QuantPlan ModelSweep::planOf(std::size_t point) const
{
    QuantPlan plan;
    plan.defaultSpec = defaultSpec(Format::F32);
    if (point < m_points.size())
        plan.overrides = m_points[point].tensors;
    return plan;
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
