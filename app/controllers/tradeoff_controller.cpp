#include "app/controllers/tradeoff_controller.h"

#include "app/controllers/tensor_controller.h"
#include "core/quant/quantize.h"

#include <QTimer>

namespace ql {

namespace {
/// Specs per task of a tensor sweep: a few quantizations of ≤ 2^18 values, tens of milliseconds.
constexpr std::size_t kSpecsPerPiece = 4;
} // namespace

TradeoffController::TradeoffController(Document* doc, TensorController* tensors, TaskRunner* runner, QObject* parent)
    : QObject(parent), m_doc(doc), m_tensors(tensors), m_slot(new JobSlot(runner, this))
{
    connect(doc, &Document::modelChanged, this, [this] {
        m_demo.reset();
        m_demoFiles = m_doc->hasModel() ? bundledDemoOf(m_doc->path().toStdString()) : std::nullopt;
        invalidate();
    });
    connect(tensors, &TensorController::tensorLoaded, this, [this] {
        if (m_scope == Scope::Tensor)
            invalidate();
    });
    connect(tensors, &TensorController::analysisReady, this, [this] {
        updateCurrent();
        if (m_stale && m_active)
            start();
    });
}

void TradeoffController::setScope(Scope s)
{
    if (s == m_scope)
        return;
    m_scope = s;
    invalidate();
}

void TradeoffController::setActive(bool active)
{
    m_active = active;
    if (m_active && m_stale)
        start();
}

void TradeoffController::invalidate()
{
    ++m_run;
    m_slot->cancel();
    m_sweeping = false;
    m_stale = true;
    m_data = {};
    emit dataReady(m_data);
    if (m_active)
        start();
}

void TradeoffController::updateCurrent()
{
    auto a = m_tensors->analysis();
    if (!a || !a->result || m_scope != Scope::Tensor) {
        m_data.current.reset();
    } else {
        TradeoffPoint c;
        c.label = QString::fromStdString(specShortName(a->spec));
        c.bitsPerWeight = a->result->bitsPerWeight;
        c.sqnrDb = a->result->metrics.sqnrDb;
        c.mse = a->result->metrics.mse;
        m_data.current = c;
    }
    emit dataReady(m_data);
}

void TradeoffController::yieldThen(Step step)
{
    QTimer::singleShot(0, this, [this, step, run = m_run] {
        if (run == m_run)
            (this->*step)();
    });
}

void TradeoffController::finish(const QString& status)
{
    m_sweeping = false;
    emit statusChanged(status);
    emit sweepFinished();
}

void TradeoffController::start()
{
    ++m_run;
    m_slot->cancel();
    m_pieces = 0;
    m_granularity = m_tensors->currentSpec().spec ? m_tensors->currentSpec().spec->granularity
                                                  : m_doc->plan().defaultSpec.granularity;
    if (m_scope == Scope::Tensor) {
        m_tensorData = m_tensors->currentData();
        if (!m_tensorData)
            return;
        m_stale = false;
        m_sweeping = true;
        m_specs = sweepSpecs(m_tensorData->shape, m_granularity);
        m_nextSpec = 0;
        m_data = {};
        stepTensor();
    } else {
        m_model = m_doc->model();
        if (!m_model)
            return;
        m_stale = false;
        m_sweeping = true;
        m_modelSweep.emplace(m_modelElements);
        m_nextTensor = 0;
        m_nextPoint = 0;
        m_data = {};
        stepModel();
    }
}

void TradeoffController::stepTensor()
{
    if (m_nextSpec >= m_specs.size()) {
        finish(tr("%1 specs evaluated").arg(m_data.points.size()));
        return;
    }
    const std::size_t end = std::min(m_specs.size(), m_nextSpec + kSpecsPerPiece);
    const std::vector<SweepSpec> chunk(m_specs.begin() + static_cast<std::ptrdiff_t>(m_nextSpec),
                                       m_specs.begin() + static_cast<std::ptrdiff_t>(end));
    emit statusChanged(tr("sweeping %1/%2 specs …").arg(m_nextSpec).arg(m_specs.size()));
    const auto data = m_tensorData;
    const std::int64_t cap = m_maxElements;
    startPiece<Result<TradeoffData>>(
        [data, chunk, cap](TaskContext& ctx) { return sweepTensor(*data, chunk, cap, ctx); },
        [this, end](Result<TradeoffData> r) {
            if (!r) {
                finish(QString::fromStdString(r.error().message));
                return;
            }
            m_data.points.insert(m_data.points.end(), r->points.begin(), r->points.end());
            m_data.pareto = paretoFront(m_data.points);
            m_data.title = r->title;
            m_nextSpec = end;
            updateCurrent();
            yieldThen(&TradeoffController::stepTensor);
        });
}

void TradeoffController::stepModel()
{
    const auto& infos = m_model->tensors();
    while (m_nextTensor < infos.size() && !inModelSweep(infos[m_nextTensor]))
        ++m_nextTensor;
    if (m_nextTensor >= infos.size()) {
        if (m_demoFiles && m_modelSweep->pointCount() > 0) {
            stepAccuracy();
            return;
        }
        finish(tr("%1 specs evaluated over the model").arg(m_data.points.size()));
        return;
    }
    emit statusChanged(tr("sweeping tensor %1 of %2 …").arg(m_nextTensor + 1).arg(infos.size()));
    const ModelPtr model = m_model;
    const std::size_t ti = m_nextTensor;
    const Granularity g = m_granularity;
    const std::int64_t cap = m_modelElements;
    using PartsResult = Result<std::vector<ModelSweepPart>>;
    startPiece<PartsResult>(
        [model, ti, g, cap](TaskContext& ctx) { return sweepModelTensor(*model, ti, g, cap, ctx); },
        [this, ti](PartsResult r) {
            if (!r) {
                finish(QString::fromStdString(r.error().message));
                return;
            }
            m_modelSweep->add(m_model->tensors()[ti].name, *r);
            m_data = m_modelSweep->data();
            emit dataReady(m_data);
            m_nextTensor = ti + 1;
            yieldThen(&TradeoffController::stepModel);
        });
}

void TradeoffController::stepAccuracy()
{
    if (!m_demo) {
        emit statusChanged(tr("loading the demo's test set …"));
        const BundledDemo files = *m_demoFiles;
        using DemoResult = Result<std::shared_ptr<const nn::DemoModel>>;
        startPiece<DemoResult>(
            [files](TaskContext& ctx) -> DemoResult {
                Result<nn::DemoModel> d = nn::loadDemoModel(files.kind, files.directory, ctx);
                if (!d)
                    return std::move(d).error();
                return std::shared_ptr<const nn::DemoModel>(std::make_shared<nn::DemoModel>(std::move(*d)));
            },
            [this](DemoResult r) {
                if (!r) {
                    finish(tr("%1 specs evaluated over the model; no test accuracy: %2")
                               .arg(m_data.points.size())
                               .arg(QString::fromStdString(r.error().toString())));
                    return;
                }
                m_demo = *r;
                yieldThen(&TradeoffController::stepAccuracy);
            });
        return;
    }
    if (m_nextPoint >= m_modelSweep->pointCount()) {
        finish(tr("%1 specs evaluated over the model, with test accuracy").arg(m_data.points.size()));
        return;
    }
    emit statusChanged(tr("test accuracy %1/%2 …").arg(m_nextPoint).arg(m_modelSweep->pointCount()));
    const auto demo = m_demo;
    const std::size_t i = m_nextPoint;
    const QuantPlan plan = m_modelSweep->planOf(i);
    startPiece<Result<double>>([demo, plan](TaskContext& ctx) { return demoAccuracy(*demo, plan, ctx); },
                               [this, i](Result<double> r) {
                                   // A point whose specs the engine rejects keeps "unknown" accuracy.
                                   if (r && i < m_data.points.size())
                                       m_data.points[i].accuracy = *r;
                                   emit dataReady(m_data);
                                   m_nextPoint = i + 1;
                                   yieldThen(&TradeoffController::stepAccuracy);
                               });
}

} // namespace ql
