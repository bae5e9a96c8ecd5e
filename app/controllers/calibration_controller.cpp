#include "app/controllers/calibration_controller.h"

#include "app/model_loader.h"

#include <QFileInfo>

namespace ql {

CalibrationController::CalibrationController(Document* doc, TaskRunner* runner, QObject* parent)
    : QObject(parent), m_doc(doc), m_slot(new JobSlot(runner, this))
{
    connect(doc, &Document::modelChanged, this, &CalibrationController::onModelChanged);
    onModelChanged();
}

void CalibrationController::onModelChanged()
{
    // A calibration set is bound to one model's tensors: a new model starts without one.
    m_slot->cancel();
    m_source = Source::None;
    m_demoSet = {};
    m_fileSet = {};
    m_filePath.clear();
    m_demoPath.clear();
    if (m_doc->hasModel())
        if (const auto demo = bundledDemoOf(m_doc->path().toStdString()))
            m_demoPath = QString::fromStdString(demo->calibrationPath);
    emit sourcesChanged();
}

namespace {
QString fileLabel(const QString& path)
{
    const QFileInfo fi(path);
    return fi.isDir() ? fi.fileName() + QLatin1Char('/') : fi.fileName();
}
} // namespace

QString CalibrationController::nameOf(Source source) const
{
    switch (source) {
    case Source::None: return tr("none");
    case Source::Demo: return tr("demo calibration set");
    case Source::File: return fileLabel(m_filePath);
    }
    return {};
}

QStringList CalibrationController::sourceNames() const
{
    QStringList names{nameOf(Source::None)};
    if (hasDemoSet())
        names << nameOf(Source::Demo);
    if (!m_filePath.isEmpty())
        names << nameOf(Source::File);
    return names;
}

int CalibrationController::currentIndex() const
{
    switch (m_source) {
    case Source::None: return 0;
    case Source::Demo: return 1;
    case Source::File: return hasDemoSet() ? 2 : 1;
    }
    return 0;
}

void CalibrationController::choose(int index)
{
    Source s = Source::None;
    if (index > 0 && hasDemoSet() && index == 1)
        s = Source::Demo;
    else if (index > 0 && !m_filePath.isEmpty())
        s = Source::File;
    if (s == Source::None) {
        m_slot->cancel();
        m_source = Source::None;
        m_doc->setCalibration(nullptr);
        emit sourcesChanged();
        return;
    }
    if (const Held* h = held(s); h->full)
        bind(s, *h);
    else
        load(s, s == Source::Demo ? m_demoPath : m_filePath);
}

CalibrationController::Held* CalibrationController::held(Source source)
{
    return source == Source::Demo ? &m_demoSet : source == Source::File ? &m_fileSet : nullptr;
}

bool CalibrationController::chooseDemo()
{
    if (!hasDemoSet())
        return false;
    choose(1);
    return true;
}

void CalibrationController::loadFile(const QString& path)
{
    // A folder of NAME.npy files is the NumPy form of a set; picking one of its files means the folder.
    const QFileInfo fi(path);
    const QString target = fi.suffix().compare(QLatin1String("npy"), Qt::CaseInsensitive) == 0 ? fi.absolutePath() : path;
    load(Source::File, target);
}

void CalibrationController::load(Source source, const QString& path)
{
    const ModelPtr model = m_doc->model();
    if (!model || path.isEmpty())
        return;
    const std::string p = path.toStdString();
    const std::int64_t samples = m_samples;
    const QString name = source == Source::Demo ? nameOf(Source::Demo) : fileLabel(path);
    using LoadResult = Result<Loaded>;
    m_slot->start<LoadResult>(
        [model, p, samples, name](TaskContext& ctx) -> LoadResult {
            Result<calib::CalibrationSet> set = calib::loadCalibrationSet(p, ctx);
            if (!set)
                return std::move(set).error();
            Result<std::vector<calib::LayerBinding>> bindings = calib::bindToModel(*set, *model);
            if (!bindings)
                return std::move(bindings).error();
            Loaded l;
            l.held.full = std::make_shared<const calib::CalibrationSet>(std::move(*set));
            l.held.bindings = std::move(*bindings);
            l.bound = makeBoundCalibration(*l.held.full, l.held.bindings, samples, name);
            return l;
        },
        [this, source, path](LoadResult r) {
            if (!r) {
                emit failed(tr("Calibration set %1 not loaded: %2")
                                .arg(QFileInfo(path).fileName(), QString::fromStdString(r.error().toString())));
                emit sourcesChanged();  // the picker shows the set still in use
                return;
            }
            if (source == Source::File)
                m_filePath = path;
            *held(source) = r->held;
            activate(source, r->bound);
        });
    emit sourcesChanged();
}

void CalibrationController::bind(Source source, const Held& h)
{
    const std::int64_t samples = m_samples;
    const QString name = nameOf(source);
    m_slot->start<CalibrationPtr>(
        [h, samples, name](TaskContext&) { return makeBoundCalibration(*h.full, h.bindings, samples, name); },
        [this, source](CalibrationPtr bound) { activate(source, bound); });
}

void CalibrationController::activate(Source source, const CalibrationPtr& bound)
{
    m_source = source;
    m_doc->setCalibration(bound);
    emit sourcesChanged();
    emit calibrationReady(bound->description);
}

void CalibrationController::setSampleCount(int n)
{
    n = std::max(n, 0);
    if (n == m_samples)
        return;
    m_samples = n;
    if (const Held* h = held(m_source); h && h->full)
        bind(m_source, *h);
}

int CalibrationController::sampleCount() const
{
    return m_doc->calibration() ? static_cast<int>(m_doc->calibration()->samples) : 0;
}

int CalibrationController::availableSamples() const
{
    return m_doc->calibration() ? static_cast<int>(m_doc->calibration()->available) : 0;
}

void CalibrationController::cancel()
{
    m_slot->cancel();
    emit sourcesChanged();
}

} // namespace ql
