#include "app/controllers/tensor_controller.h"

#include <QTimer>

namespace ql {

using AnalysisPtr = std::shared_ptr<const TensorAnalysis>;
using TensorResult = Result<std::shared_ptr<const Tensor>>;
using AnalysisResult = Result<AnalysisPtr>;

TensorController::TensorController(Document* doc, TaskRunner* runner, QObject* parent)
    : QObject(parent), m_doc(doc), m_runner(runner), m_load(new JobSlot(runner, this)), m_analyze(new JobSlot(runner, this))
{
    connect(doc, &Document::modelChanged, this, [this] {
        m_load->cancel();
        m_analyze->cancel();
        m_current = -1;
        m_data.reset();
        m_analysis.reset();
        m_lastSpec.reset();
        emit analysisCleared(QString());
    });
    connect(doc, &Document::planChanged, this, [this] {
        if (m_current >= 0 && m_data)
            scheduleAnalysis();
    });
    // A new calibration set (or sample count) changes the layer-output error of the analysis.
    connect(doc, &Document::calibrationChanged, this, [this] {
        if (m_current >= 0 && m_data)
            scheduleAnalysis();
    });
    for (JobSlot* s : {m_load, m_analyze}) {
        connect(s, &JobSlot::started, this, [this] { emit busyChanged(true); });
        connect(s, &JobSlot::idle, this, [this] { emit busyChanged(busy()); });
    }
}

ResolvedSpec TensorController::currentSpec() const
{
    if (m_current < 0)
        return {};
    return m_doc->specFor(static_cast<std::size_t>(m_current));
}

void TensorController::cancel()
{
    m_load->cancel();
    m_analyze->cancel();
    m_scheduled = false;
    emit busyChanged(false);
}

void TensorController::setCurrentTensor(int index)
{
    if (index == m_current)
        return;
    m_current = index;
    m_data.reset();
    m_analysis.reset();
    m_lastSpec.reset();
    m_analyze->cancel();
    const ModelPtr model = m_doc->model();
    if (index < 0 || !model || static_cast<std::size_t>(index) >= model->tensors().size()) {
        m_load->cancel();
        emit analysisCleared(QString());
        return;
    }
    if (!model->tensors()[static_cast<std::size_t>(index)].supported) {
        m_load->cancel();
        emit analysisCleared(tr("This tensor's stored type cannot be decoded: %1")
                                 .arg(QString::fromStdString(model->tensors()[static_cast<std::size_t>(index)].note)));
        return;
    }
    m_load->start<TensorResult>(
        [model, index](TaskContext& ctx) -> TensorResult {
            Result<Tensor> t = model->readTensor(static_cast<std::size_t>(index), ctx);
            if (!t)
                return std::move(t).error();
            return std::shared_ptr<const Tensor>(std::make_shared<Tensor>(std::move(*t)));
        },
        [this, index](TensorResult r) {
            if (!r) {
                emit failed(QString::fromStdString(r.error().toString()));
                emit analysisCleared(QString::fromStdString(r.error().toString()));
                return;
            }
            m_data = *r;
            emit tensorLoaded(index);
            startAnalysis();
        });
}

void TensorController::scheduleAnalysis()
{
    if (m_scheduled)
        return;
    m_scheduled = true;
    // Coalesce bursts of plan edits (a dragged slider) into one recomputation.
    QTimer::singleShot(0, this, [this] {
        m_scheduled = false;
        startAnalysis();
    });
}

void TensorController::startAnalysis()
{
    if (m_current < 0 || !m_data)
        return;
    const ResolvedSpec rs = currentSpec();
    if (!rs.spec) {
        m_analyze->cancel();
        m_analysis.reset();
        m_lastSpec.reset();
        emit analysisCleared(rs.note.isEmpty() ? tr("Kept as stored (skipped by the plan).") : rs.note);
        return;
    }
    const auto index = static_cast<std::size_t>(m_current);
    const std::uint64_t calibId = m_doc->calibrationIdFor(index);
    if (m_lastSpec && *m_lastSpec == *rs.spec && m_lastCalibrationId == calibId && (m_analysis || m_analyze->isRunning()))
        return;
    m_lastSpec = rs.spec;
    m_lastCalibrationId = calibId;
    const auto tensor = m_data;
    const std::string name = m_doc->model()->tensors()[index].name;
    const QuantSpec spec = *rs.spec;
    const AnalysisOptions opt = m_options;
    const AnalysisCalibration calib{calibId != 0 ? m_doc->calibration() : nullptr, index};
    m_analyze->start<AnalysisResult>(
        [tensor, name, spec, opt, calib](TaskContext& ctx) -> AnalysisResult {
            Result<TensorAnalysis> a = analyzeTensor(tensor, name, spec, opt, ctx, calib);
            if (!a)
                return std::move(a).error();
            return AnalysisPtr(std::make_shared<TensorAnalysis>(std::move(*a)));
        },
        [this](AnalysisResult r) {
            if (!r) {
                m_lastSpec.reset();
                if (r.error().code != ErrorCode::Cancelled) {
                    emit failed(QString::fromStdString(r.error().toString()));
                    emit analysisCleared(QString::fromStdString(r.error().toString()));
                }
                return;
            }
            m_analysis = *r;
            emit analysisReady(m_analysis);
        });
}

} // namespace ql
