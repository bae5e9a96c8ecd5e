#pragma once
// SummaryController: measures every tensor under its current spec in the background, one tensor
// per task so the views of the current tensor never wait long behind it, and feeds the tree's
// SQNR column, the model summary and the status bar progress.

#include "app/document.h"
#include "app/task_runner.h"
#include "widgets/plot_data.h"

#include <QObject>

namespace ql {

class ModelTreeModel;
class TensorController;

class SummaryController : public QObject {
    Q_OBJECT
public:
    SummaryController(Document* doc, ModelTreeModel* tree, TaskRunner* runner, QObject* parent = nullptr);

    /// Largest tensor measured in full; bigger ones are measured on a deterministic row subsample.
    void setMaxElements(std::int64_t n) { m_maxElements = n; }
    /// The tensor the views are analysing is measured by that analysis, not here, while it runs.
    void setTensorController(TensorController* t) { m_tensors = t; }
    bool isRunning() const { return m_running; }
    int done() const { return m_done; }
    int total() const { return m_total; }
    void cancel();
    /// Restarts measuring whatever is stale.
    void restart();
    /// Current summary snapshot for the Model summary view.
    SummaryData summary() const;

signals:
    void progressChanged(int done, int total);
    void finished();
    void tensorMeasured(int tensorIndex);

private:
    void next();

    Document* m_doc;
    ModelTreeModel* m_tree;
    TensorController* m_tensors = nullptr;
    JobSlot* m_slot;
    std::int64_t m_maxElements = std::int64_t(1) << 24;
    bool m_running = false;
    int m_done = 0;
    int m_total = 0;
    bool m_paused = false;
};

} // namespace ql
