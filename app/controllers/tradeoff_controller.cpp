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
    : QObject(parent), m_doc(doc), m_tensors(tensors), m_slot(new JobSlot(runner, this)),
      m_planSlot(new JobSlot(runner, this))
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
    // A set that feeds the current tensor adds the layer-output error to its points.
    connect(doc, &Document::calibrationChanged, this, [this] { invalidate(); });
    // A plan edit moves the current plan's point; the sweep's points stay. Debounced: a burst of
    // edits measures once.
    connect(doc, &Document::planChanged, this, [this] {
        m_planStale = true;
        QTimer::singleShot(50, this, [this] {
            if (m_scope == Scope::Model && m_active && m_planStale)
                startPlan();
        });
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
    else if (m_active && m_planStale && m_scope == Scope::Model)
        startPlan();
}

void TradeoffController::invalidate()
{
    ++m_run;
    ++m_planRun;
    m_slot->cancel();
    m_planSlot->cancel();
    m_sweeping = false;
    m_planMeasuring = false;
    m_stale = true;
    m_planStale = true;
    m_data = {};
    emit dataReady(m_data);
    if (m_active)
        start();
}

void TradeoffController::cancel()
{
    const bool was = m_sweeping || m_planMeasuring;
    ++m_run;
    ++m_planRun;
    m_slot->cancel();
    m_planSlot->cancel();
    m_planMeasuring = false;
    if (was)
        finish(tr("cancelled — %1 points so far").arg(m_data.points.size()));
}

void TradeoffController::updateCurrent()
{
    if (m_scope != Scope::Tensor)
        return;  // the whole-model marker is the current plan's point (startPlan)
    auto a = m_tensors->analysis();
    if (!a || !a->result) {
        m_data.current.reset();
    } else {
        TradeoffPoint c;
        c.label = QString::fromStdString(specShortName(a->spec));
        c.bitsPerWeight = a->result->bitsPerWeight;
        c.sqnrDb = a->result->metrics.sqnrDb;
        c.mse = a->result->metrics.mse;
        c.layerError = a->layerError;
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
        m_calibration = {};
        if (const int t = m_tensors->currentTensor(); t >= 0)
            m_calibration = AnalysisCalibration{m_doc->calibration(), static_cast<std::size_t>(t)};
        if (!m_calibration.applies())
            m_calibration = {};
        m_data = {};
        updateCurrent();
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
        startPlan();
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
    emit progressChanged(static_cast<int>(1000 * m_nextSpec / std::max<std::size_t>(m_specs.size(), 1)));
    const auto data = m_tensorData;
    const std::int64_t cap = m_maxElements;
    const AnalysisCalibration calib = m_calibration;
    startPiece<Result<TradeoffData>>(
        [data, chunk, cap, calib](TaskContext& ctx) { return sweepTensor(*data, chunk, cap, ctx, calib); },
        [this, end](Result<TradeoffData> r) {
            if (!r) {
                finish(QString::fromStdString(r.error().message));
                return;
            }
            m_data.points.insert(m_data.points.end(), r->points.begin(), r->points.end());
            m_data.pareto = paretoFront(m_data.points);
            m_data.title = r->title;
            if (m_calibration.set)
                m_data.title += (m_data.title.isEmpty() ? QString() : QStringLiteral(" · ")) +
                                tr("layer-output error on %1 calibration samples").arg(m_calibration.set->samples);
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
    // With test accuracy to come, the tensors are the first half of the work.
    emit progressChanged(static_cast<int>((m_demoFiles ? 500 : 1000) * m_nextTensor / std::max<std::size_t>(infos.size(), 1)));
    const ModelPtr model = m_model;
    const std::size_t ti = m_nextTensor;
    const Granularity g = m_granularity;
    const std::int64_t cap = m_modelElements;
    const CalibrationPtr calib = m_doc->calibration();
    using PartsResult = Result<std::vector<ModelSweepPart>>;
    startPiece<PartsResult>(
        [model, ti, g, cap, calib](TaskContext& ctx) { return sweepModelTensor(*model, ti, g, cap, ctx, calib); },
        [this, ti](PartsResult r) {
            if (!r) {
                finish(QString::fromStdString(r.error().message));
                return;
            }
            m_modelSweep->add(m_model->tensors()[ti].name, *r);
            const std::optional<TradeoffPoint> current = m_data.current;
            m_data = m_modelSweep->data();
            m_data.current = current;
            emit dataReady(m_data);
            m_nextTensor = ti + 1;
            yieldThen(&TradeoffController::stepModel);
        });
}

bool TradeoffController::needDemo(JobSlot* slot, void (TradeoffController::*yield)(Step), Step step)
{
    if (m_demo)
        return false;
    emit statusChanged(tr("loading the demo's test set …"));
    const BundledDemo files = *m_demoFiles;
    using DemoResult = Result<std::shared_ptr<const nn::DemoModel>>;
    auto load = [files](TaskContext& ctx) -> DemoResult {
        Result<nn::DemoModel> d = nn::loadDemoModel(files.kind, files.directory, ctx);
        if (!d)
            return std::move(d).error();
        return std::shared_ptr<const nn::DemoModel>(std::make_shared<nn::DemoModel>(std::move(*d)));
    };
    auto deliver = [this, yield, step](DemoResult r) {
        if (!r) {
            m_demoFiles.reset();  // no accuracy for this model; the chains finish without it
            emit statusChanged(tr("no test accuracy: %1").arg(QString::fromStdString(r.error().toString())));
        } else {
            m_demo = *r;
        }
        (this->*yield)(step);
    };
    if (slot == m_slot)
        startPiece<DemoResult>(std::move(load), std::move(deliver));
    else
        slot->start<DemoResult>(std::move(load), std::move(deliver));
    return true;
}

void TradeoffController::stepAccuracy()
{
    if (!m_demoFiles) {
        finish(tr("%1 specs evaluated over the model; no test accuracy").arg(m_data.points.size()));
        return;
    }
    if (needDemo(m_slot, &TradeoffController::yieldThen, &TradeoffController::stepAccuracy))
        return;
    if (m_nextPoint >= m_modelSweep->pointCount()) {
        finish(tr("%1 specs evaluated over the model, with test accuracy").arg(m_data.points.size()));
        return;
    }
    emit statusChanged(tr("test accuracy %1/%2 …").arg(m_nextPoint).arg(m_modelSweep->pointCount()));
    emit progressChanged(500 + static_cast<int>(500 * m_nextPoint / std::max<std::size_t>(m_modelSweep->pointCount(), 1)));
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

void TradeoffController::yieldPlanThen(Step step)
{
    QTimer::singleShot(0, this, [this, step, run = m_planRun] {
        if (run == m_planRun)
            (this->*step)();
    });
}

void TradeoffController::startPlan()
{
    ++m_planRun;
    m_planSlot->cancel();
    m_planMeasuring = false;
    if (m_scope != Scope::Model || !m_doc->hasModel())
        return;
    m_planStale = false;
    m_planMeasuring = true;
    m_planSpecs.clear();
    for (std::size_t t = 0; t < m_doc->model()->tensors().size(); ++t)
        m_planSpecs.push_back(m_doc->specFor(t));
    m_nextPlanTensor = 0;
    m_planPooled = {};
    stepPlan();
}

void TradeoffController::stepPlan()
{
    const ModelPtr model = m_doc->model();
    const auto& infos = model->tensors();
    while (m_nextPlanTensor < infos.size() && !inModelSweep(infos[m_nextPlanTensor]))
        ++m_nextPlanTensor;
    if (m_nextPlanTensor >= infos.size()) {
        // One label for a uniform plan, a count for a mixed one.
        QStringList specs;
        for (const PlanOverride& o : m_planPooled.tensors)
            if (const QString n = QString::fromStdString(specShortName(o.spec)); !specs.contains(n))
                specs << n;
        std::size_t kept = 0;
        for (std::size_t t = 0; t < infos.size(); ++t)
            kept += inModelSweep(infos[t]) && !m_planSpecs[t].spec ? 1 : 0;
        if (kept > 0)
            specs << tr("%1 kept").arg(kept);
        const QString label = specs.size() == 1 ? specs.front() : tr("%1 specs").arg(specs.size());
        m_data.current = m_planPooled.point(tr("current plan"), label);
        emit dataReady(m_data);
        if (m_demoFiles) {
            stepPlanAccuracy();
            return;
        }
        m_planMeasuring = false;
        emit planPointReady();
        return;
    }
    const std::size_t ti = m_nextPlanTensor;
    const std::optional<QuantSpec> spec = m_planSpecs[ti].spec;
    const std::int64_t cap = m_modelElements;
    const CalibrationPtr calib = m_doc->calibration();
    m_planSlot->start<Result<ModelSweepPart>>(
        [model, ti, spec, cap, calib](TaskContext& ctx) { return measurePlanTensor(*model, ti, spec, cap, ctx, calib); },
        [this, ti, spec](Result<ModelSweepPart> r) {
            // A tensor the plan's spec cannot quantize is left out, as the sweep leaves it out.
            if (r)
                m_planPooled.add(m_doc->model()->tensors()[ti].name, *r, spec.has_value());
            m_nextPlanTensor = ti + 1;
            yieldPlanThen(&TradeoffController::stepPlan);
        });
}

void TradeoffController::stepPlanAccuracy()
{
    if (!m_demoFiles) {
        m_planMeasuring = false;
        emit planPointReady();
        return;
    }
    if (needDemo(m_planSlot, &TradeoffController::yieldPlanThen, &TradeoffController::stepPlanAccuracy))
        return;
    const auto demo = m_demo;
    const QuantPlan plan = m_planPooled.plan();
    m_planSlot->start<Result<double>>([demo, plan](TaskContext& ctx) { return demoAccuracy(*demo, plan, ctx); },
                                      [this](Result<double> r) {
                                          if (r && m_data.current)
                                              m_data.current->accuracy = *r;
                                          m_planMeasuring = false;
                                          emit dataReady(m_data);
                                          emit planPointReady();
                                      });
}

} // namespace ql
