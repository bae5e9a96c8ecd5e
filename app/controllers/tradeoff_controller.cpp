#include "app/controllers/tradeoff_controller.h"

#include "app/controllers/sweep.h"
#include "app/controllers/tensor_controller.h"
#include "core/quant/quantize.h"

namespace ql {

TradeoffController::TradeoffController(Document* doc, TensorController* tensors, TaskRunner* runner, QObject* parent)
    : QObject(parent), m_doc(doc), m_tensors(tensors), m_slot(new JobSlot(runner, this))
{
    connect(doc, &Document::modelChanged, this, &TradeoffController::invalidate);
    connect(tensors, &TensorController::tensorLoaded, this, [this] {
        if (m_scope == Scope::Tensor)
            invalidate();
    });
    connect(tensors, &TensorController::analysisReady, this, [this] {
        updateCurrent();
        if (m_stale && m_active)
            start();
    });
    connect(m_slot, &JobSlot::progress, this, [this](int permille) {
        emit statusChanged(tr("sweeping … %1 %").arg(permille / 10));
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
    m_slot->cancel();
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

void TradeoffController::start()
{
    const Granularity g = m_tensors->currentSpec().spec ? m_tensors->currentSpec().spec->granularity
                                                        : m_doc->plan().defaultSpec.granularity;
    if (m_scope == Scope::Tensor) {
        auto data = m_tensors->currentData();
        if (!data)
            return;
        m_stale = false;
        const auto specs = sweepSpecs(data->shape, g);
        const std::int64_t cap = m_maxElements;
        emit statusChanged(tr("sweeping %1 specs …").arg(specs.size()));
        m_slot->start<Result<TradeoffData>>(
            [data, specs, cap](TaskContext& ctx) { return sweepTensor(*data, specs, cap, ctx); },
            [this](Result<TradeoffData> r) {
                if (!r) {
                    emit statusChanged(QString::fromStdString(r.error().message));
                    return;
                }
                m_data = *r;
                updateCurrent();
                emit statusChanged(tr("%1 specs evaluated").arg(m_data.points.size()));
            });
    } else {
        const ModelPtr model = m_doc->model();
        if (!model)
            return;
        m_stale = false;
        emit statusChanged(tr("sweeping the whole model …"));
        m_slot->start<Result<TradeoffData>>(
            [model, g](TaskContext& ctx) { return sweepModel(*model, g, std::int64_t(1) << 16, ctx); },
            [this](Result<TradeoffData> r) {
                if (!r) {
                    emit statusChanged(QString::fromStdString(r.error().message));
                    return;
                }
                m_data = *r;
                emit dataReady(m_data);
                emit statusChanged(tr("%1 specs evaluated over the model").arg(m_data.points.size()));
            });
    }
}

} // namespace ql
