#include "app/controllers/compare_controller.h"

#include "app/controllers/tensor_controller.h"
#include "core/quant/format_traits.h"

#include <algorithm>

namespace ql {

CompareController::CompareController(TensorController* tensors, TaskRunner* runner, QObject* parent)
    : QObject(parent), m_tensors(tensors), m_slot(new JobSlot(runner, this)), m_presets(comparePresets())
{
    // Default slots: int4 g128, then NF4, an FP4 and Q4_K where this build has them.
    auto find = [this](const char* name) {
        for (std::size_t i = 0; i < m_presets.size(); ++i)
            if (m_presets[i].label.startsWith(QLatin1String(name)))
                return static_cast<int>(i) + kFirstPreset;
        return 0;
    };
    m_chosen = {find("int4 asym g128"), find("nf4"), find("mxfp4") ? find("mxfp4") : find("nvfp4"), find("q4_k")};
    if (m_chosen[1] == 0)
        m_chosen[1] = find("int8");
    if (m_chosen[2] == 0)
        m_chosen[2] = find("int3");
    if (m_chosen[3] == 0)
        m_chosen[3] = find("int4 asym ch");
    connect(tensors, &TensorController::tensorLoaded, this, [this] {
        m_stale = true;
        if (m_active)
            start();
    });
    // An edit of the current tensor's spec reaches the "current spec" slots with its analysis.
    connect(tensors, &TensorController::analysisReady, this, [this] {
        emit currentSpecNameChanged(currentSpecName());
        if (usesCurrentSpec() && m_tensors->currentSpec().spec != m_usedCurrent) {
            m_stale = true;
            if (m_active)
                start();
        }
    });
}

QString CompareController::currentSpecName() const
{
    const ResolvedSpec rs = m_tensors->currentSpec();
    return rs.spec ? tr("current spec (%1)").arg(QString::fromStdString(specShortName(*rs.spec))) : tr("current spec");
}

bool CompareController::usesCurrentSpec() const
{
    return std::find(m_chosen.begin(), m_chosen.end(), kCurrentSpec) != m_chosen.end();
}

QStringList CompareController::presetNames() const
{
    QStringList out{currentSpecName()};
    for (const auto& p : m_presets)
        out << p.label;
    return out;
}

void CompareController::setChosen(const std::array<int, 4>& chosen)
{
    m_chosen = chosen;
    m_stale = true;
    if (m_active)
        start();
}

void CompareController::setActive(bool active)
{
    m_active = active;
    if (m_active && m_stale)
        start();
}

void CompareController::start()
{
    auto data = m_tensors->currentData();
    if (!data)
        return;
    m_stale = false;
    std::vector<SweepSpec> specs;
    std::vector<int> slotOf;
    const ResolvedSpec current = m_tensors->currentSpec();
    m_usedCurrent = current.spec;
    for (int i = 0; i < static_cast<int>(m_chosen.size()); ++i) {
        const int c = m_chosen[static_cast<std::size_t>(i)];
        if (c == kCurrentSpec && current.spec) {
            specs.push_back({tr("current"), tr("current: %1").arg(QString::fromStdString(specShortName(*current.spec))),
                             *current.spec});
        } else if (c >= kFirstPreset && c - kFirstPreset < static_cast<int>(m_presets.size())) {
            specs.push_back(m_presets[static_cast<std::size_t>(c - kFirstPreset)]);
        } else {
            continue;  // empty, or the current tensor is kept as stored
        }
        slotOf.push_back(i);
    }
    m_slot->start<CompareData>([data, specs](TaskContext& ctx) { return compareSpecs(*data, specs, ctx); },
                               [this, slotOf](CompareData d) {
                                   for (std::size_t k = 0; k < d.entries.size() && k < slotOf.size(); ++k)
                                       d.entries[k].slot = slotOf[k];
                                   m_data = std::move(d);
                                   emit dataReady(m_data);
                               });
}

} // namespace ql
