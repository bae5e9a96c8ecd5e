#include "app/controllers/export_controller.h"

#include "core/export/config.h"
#include "core/export/exporter.h"

#include <QFileInfo>

namespace ql {

ExportController::ExportController(Document* doc, TaskRunner* runner, QObject* parent)
    : QObject(parent), m_doc(doc), m_slot(new JobSlot(runner, this))
{
}

QString ExportController::exportConfig(const QString& path) const
{
    QuantConfig c;
    c.plan = m_doc->plan();
    if (m_doc->hasModel())
        c.source = identifyModel(*m_doc->model());
    auto ok = saveConfig(path.toStdString(), c);
    return ok ? QString() : QString::fromStdString(ok.error().toString());
}

QString ExportController::importConfig(const QString& path, QStringList* warnings)
{
    auto c = loadConfig(path.toStdString());
    if (!c)
        return QString::fromStdString(c.error().toString());
    if (warnings && m_doc->hasModel())
        for (const auto& w : checkConfigAgainstModel(*c, *m_doc->model()))
            warnings->append(QString::fromStdString(w));
    m_doc->changePlan(c->plan, tr("Import config %1").arg(QFileInfo(path).fileName()));
    return {};
}

void ExportController::exportWeights(const QString& path, bool fakeQuant)
{
    if (!m_doc->hasModel()) {
        emit exportFinished(false, tr("No model is open"));
        return;
    }
    auto format = exportFormatForPath(path.toStdString(), fakeQuant);
    if (!format) {
        emit exportFinished(false, QString::fromStdString(format.error().toString()));
        return;
    }
    // Snapshots for the worker thread: the model is shared and immutable, the plan is copied.
    const ModelPtr model = m_doc->model();
    const QuantPlan plan = m_doc->plan();
    const std::string out = path.toStdString();
    ExportOptions options;
    options.format = *format;
    using R = Result<ExportReport>;
    m_slot->start<R>(
        [model, plan, out, options](TaskContext& ctx) { return exportModel(*model, plan, out, options, ctx); },
        [this](R r) {
            if (!r) {
                emit exportFinished(false, QString::fromStdString(r.error().toString()));
                return;
            }
            QString s = tr("Wrote %1 (%2 MB)").arg(QString::fromStdString(r->path)).arg(double(r->fileBytes) / 1e6, 0, 'f', 1);
            const auto fb = r->fallbacks();
            if (!fb.empty()) {
                s += tr("; %n fallback(s):", nullptr, int(fb.size()));
                for (const auto* t : fb)
                    s += QStringLiteral("\n") + QString::fromStdString(t->name + " → " + t->storedAs + ": " + t->reason);
            }
            emit exportFinished(true, s);
        });
}

void ExportController::cancel()
{
    m_slot->cancel();
}

bool ExportController::isRunning() const
{
    return m_slot->isRunning();
}

} // namespace ql
