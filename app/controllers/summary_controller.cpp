#include "app/controllers/summary_controller.h"

#include "app/controllers/sweep.h"
#include "app/controllers/tensor_controller.h"
#include "app/models/model_tree_model.h"
#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <QTimer>

#include <cmath>

namespace ql {

namespace {

struct Measured {
    int tensor = -1;
    TensorMetrics metrics;
};

} // namespace

SummaryController::SummaryController(Document* doc, ModelTreeModel* tree, TaskRunner* runner, QObject* parent)
    : QObject(parent), m_doc(doc), m_tree(tree), m_slot(new JobSlot(runner, this))
{
    connect(doc, &Document::modelChanged, this, [this] {
        cancel();
        restart();
    });
    // Debounce: a burst of edits starts one pass. A new calibration set re-measures the tensors it feeds.
    for (auto signal : {&Document::planChanged, &Document::calibrationChanged})
        connect(doc, signal, this, [this] { QTimer::singleShot(50, this, [this] { restart(); }); });
}

void SummaryController::cancel()
{
    m_slot->cancel();
    if (m_running) {
        m_running = false;
        emit progressChanged(m_done, m_total);
        emit finished();
    }
}

void SummaryController::restart()
{
    if (!m_doc->hasModel())
        return;
    // A pass in progress (a task running, or the next one about to be picked) rescans every tensor
    // when it picks the next one, so it takes up whatever went stale; starting a second chain of
    // tasks here would only have the two cancel each other.
    if (m_running)
        return;
    m_done = 0;
    m_total = 0;
    const auto& infos = m_doc->model()->tensors();
    for (std::size_t t = 0; t < infos.size(); ++t) {
        const ResolvedSpec rs = m_doc->specFor(t);
        if (!rs.spec)
            continue;
        ++m_total;
        if (m_tree->isCurrent(t))
            ++m_done;
    }
    if (m_done >= m_total)
        return;
    m_running = true;
    emit progressChanged(m_done, m_total);
    next();
}

void SummaryController::next()
{
    if (!m_doc->hasModel()) {
        m_running = false;
        return;
    }
    const auto& infos = m_doc->model()->tensors();
    int pick = -1;
    QuantSpec spec;
    int done = 0, total = 0;
    for (std::size_t t = 0; t < infos.size(); ++t) {
        const ResolvedSpec rs = m_doc->specFor(t);
        if (!rs.spec)
            continue;
        ++total;
        if (m_tree->isCurrent(t)) {
            ++done;
            continue;
        }
        if (m_tensors && m_tensors->busy() && m_tensors->currentTensor() == static_cast<int>(t))
            continue;  // its analysis is running and will supply the metrics
        if (pick < 0) {
            pick = static_cast<int>(t);
            spec = *rs.spec;
        }
    }
    m_done = done;
    m_total = total;
    emit progressChanged(m_done, m_total);
    if (pick < 0) {
        m_running = false;
        emit finished();
        return;
    }
    const ModelPtr model = m_doc->model();
    const std::int64_t cap = m_maxElements;
    const std::uint64_t calibId = m_doc->calibrationIdFor(static_cast<std::size_t>(pick));
    const CalibrationPtr calib = calibId != 0 ? m_doc->calibration() : nullptr;
    m_slot->start<Result<Measured>>(
        [model, pick, spec, cap, calib](TaskContext& ctx) -> Result<Measured> {
            Result<Tensor> t = model->readTensor(static_cast<std::size_t>(pick), ctx);
            if (!t)
                return std::move(t).error();
            const Tensor x = rowSubsampleTensor(*t, cap);
            QuantOptions qo;
            qo.keepCodes = false;
            qo.keepDequant = static_cast<bool>(calib);  // x̂ only feeds the layer-output error
            Result<QuantResult> r = quantize(x.view(), spec, qo, ctx);
            if (!r)
                return std::move(r).error();
            Measured m;
            m.tensor = pick;
            m.metrics.spec = spec;
            m.metrics.sqnrDb = r->metrics.sqnrDb;
            m.metrics.sumX2 = r->metrics.sumX2;
            m.metrics.sumErr2 = r->metrics.sumErr2;
            m.metrics.mse = r->metrics.mse;
            if (calib) {
                // A row subsample keeps whole output channels of an [out, in] weight, which the
                // error is a mean over; other layouts give NaN rather than a wrong number.
                m.metrics.calibrationId = calib->id;
                m.metrics.layerError = layerErrorOf(*calib, static_cast<std::size_t>(pick), x.view(), r->dequant);
            }
            return m;
        },
        [this, pick, spec, calibId](Result<Measured> r) {
            if (r) {
                m_tree->setMetrics(static_cast<std::size_t>(r->tensor), r->metrics);
            } else {
                // A tensor that cannot be quantized: record it as measured-with-no-value so the
                // pass moves on; the tree shows the reason in the spec tooltip.
                TensorMetrics m;
                m.spec = spec;
                m.calibrationId = calibId;
                m_tree->setMetrics(static_cast<std::size_t>(pick), m);
            }
            emit tensorMeasured(pick);
            // Yield to other queued jobs (the current tensor's views) before the next tensor.
            QTimer::singleShot(0, this, [this] { next(); });
        });
}

SummaryData SummaryController::summary() const
{
    SummaryData s;
    if (!m_doc->hasModel())
        return s;
    const auto& infos = m_doc->model()->tensors();
    for (std::size_t t = 0; t < infos.size(); ++t) {
        SummaryLayer l;
        l.name = QString::fromStdString(infos[t].name);
        const TensorMetrics* m = m_tree->metrics(t);
        const ResolvedSpec rs = m_doc->specFor(t);
        l.sqnrDb = m && rs.spec && m->spec == *rs.spec ? m->sqnrDb : std::nan("");
        l.bytesBefore = infos[t].bytes;
        l.bytesAfter = m_tree->bytesAfter(t);
        s.layers.push_back(l);
    }
    const auto totals = m_tree->totals();
    s.totalBefore = totals.bytesBefore;
    s.totalAfter = totals.bytesAfter;
    s.bytesByFormat = totals.bytesByFormat;
    return s;
}

} // namespace ql
