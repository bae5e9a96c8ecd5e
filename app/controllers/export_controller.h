#pragma once
// ExportController: File > Export Config / Import Config (undoable) / Export quantized weights.
// A thin layer over core/export: the document's plan goes to saveConfig/exportModel, an imported
// config becomes one undoable plan change. The weight export runs on the TaskRunner and can be
// cancelled; the partial file is removed by the core and a previous file stays intact.

#include "app/document.h"
#include "app/task_runner.h"

#include <QObject>
#include <QString>
#include <QStringList>

namespace ql {

class ExportController : public QObject {
    Q_OBJECT
public:
    ExportController(Document* doc, TaskRunner* runner, QObject* parent = nullptr);

    /// Writes the document's plan and the model's identity as a config file. Returns an error text
    /// (empty on success).
    QString exportConfig(const QString& path) const;
    /// Loads and validates a config and applies its plan as one undoable change. Returns an error
    /// text (empty on success); `warnings` receives the checks against the open model.
    QString importConfig(const QString& path, QStringList* warnings);
    /// Exports the weights in the background; ends with exportFinished.
    void exportWeights(const QString& path, bool fakeQuant);
    void cancel();
    bool isRunning() const;
    JobSlot* slot() const { return m_slot; }

signals:
    /// `ok`: the file was written; `summary` says where, how big, and lists fallbacks or the error.
    void exportFinished(bool ok, const QString& summary);

private:
    Document* m_doc;
    JobSlot* m_slot;
};

} // namespace ql
