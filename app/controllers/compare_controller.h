#pragma once
// CompareController: the current tensor under up to four preset specs, computed in the background
// when the Compare tab is visible.

#include "app/controllers/sweep.h"
#include "app/task_runner.h"

#include <QObject>

#include <array>

namespace ql {

class TensorController;

class CompareController : public QObject {
    Q_OBJECT
public:
    CompareController(TensorController* tensors, TaskRunner* runner, QObject* parent = nullptr);

    const std::vector<SweepSpec>& presets() const { return m_presets; }
    QStringList presetNames() const;
    /// Preset index + 1 per slot (0 = empty slot).
    void setChosen(const std::array<int, 4>& chosen);
    std::array<int, 4> chosen() const { return m_chosen; }
    void setActive(bool active);
    const CompareData& data() const { return m_data; }
    JobSlot* slot() const { return m_slot; }

signals:
    void dataReady(const ql::CompareData& data);

private:
    void start();

    TensorController* m_tensors;
    JobSlot* m_slot;
    std::vector<SweepSpec> m_presets;
    std::array<int, 4> m_chosen{};
    bool m_active = false;
    bool m_stale = true;
    CompareData m_data;
};

} // namespace ql
