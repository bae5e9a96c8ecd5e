#pragma once
// CompareController: the current tensor under up to four specs, computed in the background when
// the Compare tab is visible. A slot holds a preset or "current spec": the spec the plan gives the
// current tensor, which follows every edit.

#include "app/controllers/sweep.h"
#include "app/task_runner.h"

#include <QObject>

#include <array>
#include <optional>

namespace ql {

class TensorController;

class CompareController : public QObject {
    Q_OBJECT
public:
    CompareController(TensorController* tensors, TaskRunner* runner, QObject* parent = nullptr);

    /// Slot choice of the current tensor's own spec; presets follow from kFirstPreset.
    static constexpr int kCurrentSpec = 1;
    static constexpr int kFirstPreset = 2;

    const std::vector<SweepSpec>& presets() const { return m_presets; }
    /// Names of the choices after "(none)": "current spec", then the presets.
    QStringList presetNames() const;
    /// Choice per slot: 0 = empty, kCurrentSpec, or kFirstPreset + preset index.
    void setChosen(const std::array<int, 4>& chosen);
    std::array<int, 4> chosen() const { return m_chosen; }
    void setActive(bool active);
    const CompareData& data() const { return m_data; }
    JobSlot* slot() const { return m_slot; }

    /// "current spec (int4 asym ch)", or plain "current spec" without a current tensor.
    QString currentSpecName() const;

signals:
    void dataReady(const ql::CompareData& data);
    /// The current tensor's spec changed (its name for the "current spec" entries).
    void currentSpecNameChanged(const QString& name);

private:
    void start();
    bool usesCurrentSpec() const;

    TensorController* m_tensors;
    JobSlot* m_slot;
    std::vector<SweepSpec> m_presets;
    std::array<int, 4> m_chosen{};
    bool m_active = false;
    bool m_stale = true;
    CompareData m_data;
    std::optional<QuantSpec> m_usedCurrent;  ///< the current spec the shown data was computed with
};

} // namespace ql
