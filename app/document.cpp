#include "app/document.h"

#include "core/quant/quantize.h"

#include <QUndoCommand>

namespace ql {

namespace {

class PlanCommand final : public QUndoCommand {
public:
    PlanCommand(Document* doc, QuantPlan before, QuantPlan after, const QString& text)
        : QUndoCommand(text), m_doc(doc), m_before(std::move(before)), m_after(std::move(after))
    {
    }
    void undo() override { m_doc->setPlanDirect(m_before); }
    void redo() override { m_doc->setPlanDirect(m_after); }

private:
    Document* m_doc;
    QuantPlan m_before;
    QuantPlan m_after;
};

/// The default spec as it applies to a tensor no override names: the channel axis follows the
/// tensor's own output-channel axis.
QuantSpec defaultSpecFor(const QuantPlan& plan, const TensorInfo& info)
{
    QuantSpec spec = plan.defaultSpec;
    const int rank = static_cast<int>(info.logicalShape.size());
    if (spec.granularity.kind != GranularityKind::Tensor && spec.granularity.axis >= 0 && info.channelAxis < rank)
        spec.granularity.axis = info.channelAxis;
    return spec;
}

} // namespace

void resetToDefault(QuantPlan& plan, const TensorInfo& info)
{
    plan.clearSpec(info.name);
    std::erase(plan.skip, globEscape(info.name));
    const bool oneD = info.logicalShape.size() < 2;
    // A 1-D tensor's default is "kept as stored", which a skip pattern already gives it.
    if (!plan.matchedByPattern(info.name) && (oneD || !plan.skippedByPattern(info.name)))
        return;
    if (oneD)
        plan.skipTensor(info.name);
    else
        plan.setSpec(info.name, defaultSpecFor(plan, info));
}

ResolvedSpec resolveSpec(const QuantPlan& plan, const TensorInfo& info)
{
    ResolvedSpec r;
    if (!info.supported) {
        r.note = QString::fromStdString(info.note.empty() ? std::string("data cannot be decoded") : info.note);
        return r;
    }
    std::optional<QuantSpec> s = plan.specFor(info.name);
    if (!s) {
        r.skipped = true;
        r.note = QStringLiteral("skipped by the plan");
        return r;
    }
    bool fromOverride = false;
    for (const auto& o : plan.overrides)
        if (patternMatches(o.kind, o.pattern, info.name))
            fromOverride = true;
    const int rank = static_cast<int>(info.logicalShape.size());
    if (!fromOverride && rank < 2) {
        // Biases and norm scales are tiny and sensitive: kept as stored unless a rule names them.
        r.skipped = true;
        r.note = QStringLiteral("1-D tensors are kept as stored by default (select it and edit to override)");
        return r;
    }
    QuantSpec spec = fromOverride ? *s : defaultSpecFor(plan, info);
    if (auto ok = validateSpec(spec, info.logicalShape); !ok) {
        const QString why = QString::fromStdString(ok.error().message);
        QuantSpec fb = spec;
        bool found = false;
        if (spec.granularity.kind == GranularityKind::Group) {
            fb.granularity.kind = GranularityKind::Channel;
            found = static_cast<bool>(validateSpec(fb, info.logicalShape));
        }
        if (!found) {
            fb.granularity = Granularity{};
            found = static_cast<bool>(validateSpec(fb, info.logicalShape));
        }
        if (!found) {
            r.note = why;
            return r;
        }
        spec = fb;
        r.fallback = true;
        r.note = why + QStringLiteral(" → using ") + QString::fromStdString(specShortName(fb));
    }
    r.spec = spec;
    return r;
}

Document::Document(QObject* parent) : QObject(parent) {}

void Document::setModel(ModelPtr model, const QString& path, const QuantPlan& plan)
{
    m_undo.clear();
    m_model = std::move(model);
    m_path = path;
    m_plan = plan;
    const bool hadCalibration = static_cast<bool>(m_calibration);
    m_calibration.reset();  // it was bound to the old model's tensors
    emit modelChanged();
    emit planChanged();
    if (hadCalibration)
        emit calibrationChanged();
}

void Document::setCalibration(CalibrationPtr calibration)
{
    if (calibration == m_calibration)
        return;
    m_calibration = std::move(calibration);
    emit calibrationChanged();
}

std::uint64_t Document::calibrationIdFor(std::size_t tensorIndex) const
{
    return m_calibration && m_calibration->bindingFor(tensorIndex) ? m_calibration->id : 0;
}

void Document::close()
{
    setModel(nullptr, QString(), m_plan);
}

void Document::changePlan(const QuantPlan& next, const QString& text)
{
    if (next == m_plan)
        return;
    m_undo.push(new PlanCommand(this, m_plan, next, text));
}

void Document::setPlanDirect(const QuantPlan& plan)
{
    if (plan == m_plan)
        return;
    m_plan = plan;
    emit planChanged();
}

ResolvedSpec Document::specFor(std::size_t tensorIndex) const
{
    if (!m_model || tensorIndex >= m_model->tensors().size())
        return {};
    return resolveSpec(m_plan, m_model->tensors()[tensorIndex]);
}

} // namespace ql
