#pragma once
// TensorController: the current tensor and the analysis behind its views. It reads the tensor on
// the task runner, resolves its spec from the plan, and (re)computes the analysis whenever the
// tensor or its spec changes; stale results are dropped by generation number.

#include "app/document.h"
#include "app/task_runner.h"
#include "app/tensor_analysis.h"

#include <QObject>

#include <memory>
#include <optional>

namespace ql {

class TensorController : public QObject {
    Q_OBJECT
public:
    TensorController(Document* doc, TaskRunner* runner, QObject* parent = nullptr);

    /// Selects a tensor (−1: none). Loads its data, then analyses it.
    void setCurrentTensor(int index);
    int currentTensor() const { return m_current; }
    /// Data of the current tensor once loaded (null before).
    std::shared_ptr<const Tensor> currentData() const { return m_data; }
    /// The spec the current tensor gets from the plan.
    ResolvedSpec currentSpec() const;
    /// The newest analysis (null before the first one); belongs to analysisSpec().
    std::shared_ptr<const TensorAnalysis> analysis() const { return m_analysis; }

    void setOptions(const AnalysisOptions& o) { m_options = o; }
    JobSlot* loadSlot() const { return m_load; }
    JobSlot* analysisSlot() const { return m_analyze; }
    /// True while a load or an analysis for the current state is pending.
    bool busy() const { return m_load->isRunning() || m_analyze->isRunning() || m_scheduled; }
    void cancel();

signals:
    void tensorLoaded(int index);
    void analysisReady(std::shared_ptr<const ql::TensorAnalysis> analysis);
    /// The current tensor has no analysis (skipped, unsupported, or failed): views clear.
    void analysisCleared(const QString& reason);
    void failed(const QString& message);
    void busyChanged(bool busy);

private:
    void scheduleAnalysis();
    void startAnalysis();

    Document* m_doc;
    TaskRunner* m_runner;
    JobSlot* m_load;
    JobSlot* m_analyze;
    int m_current = -1;
    std::shared_ptr<const Tensor> m_data;
    std::shared_ptr<const TensorAnalysis> m_analysis;
    std::optional<QuantSpec> m_lastSpec;
    std::uint64_t m_lastCalibrationId = 0;
    AnalysisOptions m_options;
    bool m_scheduled = false;
};

} // namespace ql
