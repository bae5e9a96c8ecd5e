#pragma once
// TradeoffController: the background error-vs-bits sweep of the current tensor (or the whole
// model), restarted when the tensor or the model changes, and the current choice.

#include "app/document.h"
#include "app/task_runner.h"
#include "widgets/plot_data.h"

#include <QObject>

namespace ql {

class TensorController;

class TradeoffController : public QObject {
    Q_OBJECT
public:
    enum class Scope { Tensor, Model };

    TradeoffController(Document* doc, TensorController* tensors, TaskRunner* runner, QObject* parent = nullptr);

    void setScope(Scope s);
    Scope scope() const { return m_scope; }
    /// Only sweeps while active (the Trade-off tab is visible); a pending sweep starts on activation.
    void setActive(bool active);
    const TradeoffData& data() const { return m_data; }
    JobSlot* slot() const { return m_slot; }
    void setMaxElements(std::int64_t n) { m_maxElements = n; }

signals:
    void dataReady(const ql::TradeoffData& data);
    void statusChanged(const QString& text);

private:
    void invalidate();
    void start();
    void updateCurrent();

    Document* m_doc;
    TensorController* m_tensors;
    JobSlot* m_slot;
    Scope m_scope = Scope::Tensor;
    bool m_active = false;
    bool m_stale = true;
    TradeoffData m_data;
    std::int64_t m_maxElements = std::int64_t(1) << 18;
};

} // namespace ql
