#include "app/controllers/summary_controller.h"

#include "app/controllers/tensor_controller.h"
#include "app/models/model_tree_model.h"
#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <QTimer>

#include <cmath>

namespace ql {

namespace {

/// Rows of x at a fixed stride so at most maxElements remain (shape [rows', rest...]).
Tensor rowSubsample(const Tensor& t, std::int64_t maxElements)
{
    if (t.numel() <= maxElements || t.shape.size() < 2)
        return t;
    const std::int64_t rows = t.shape[0], rowLen = t.numel() / rows;
    const std::int64_t keep = std::max<std::int64_t>(1, maxElements / std::max<std::int64_t>(rowLen, 1));
    const std::int64_t stride = (rows + keep - 1) / keep;
    Tensor out;
    out.shape = t.shape;
    out.shape[0] = (rows + stride - 1) / stride;
    out.data.reserve(static_cast<std::size_t>(out.shape[0] * rowLen));
    for (std::int64_t r = 0; r < rows; r += stride)
        out.data.insert(out.data.end(), t.data.begin() + r * rowLen, t.data.begin() + (r + 1) * rowLen);
    return out;
}

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
    connect(doc, &Document::planChanged, this, [this] {
        // Debounce: a burst of edits starts one pass.
        QTimer::singleShot(50, this, [this] { restart(); });
    });
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
    if (m_slot->isRunning())
        return;  // the running pass picks up stale tensors when it asks for the next one
    m_done = 0;
    m_total = 0;
    const auto& infos = m_doc->model()->tensors();
    for (std::size_t t = 0; t < infos.size(); ++t) {
        const ResolvedSpec rs = m_doc->specFor(t);
        if (!rs.spec)
            continue;
        ++m_total;
        const TensorMetrics* m = m_tree->metrics(t);
        if (m && m->spec == *rs.spec)
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
        const TensorMetrics* m = m_tree->metrics(t);
        if (m && m->spec == *rs.spec) {
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
    m_slot->start<Result<Measured>>(
        [model, pick, spec, cap](TaskContext& ctx) -> Result<Measured> {
            Result<Tensor> t = model->readTensor(static_cast<std::size_t>(pick), ctx);
            if (!t)
                return std::move(t).error();
            const Tensor x = rowSubsample(*t, cap);
            QuantOptions qo;
            qo.keepCodes = false;
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
            return m;
        },
        [this, pick, spec](Result<Measured> r) {
            if (r) {
                m_tree->setMetrics(static_cast<std::size_t>(r->tensor), r->metrics);
            } else {
                // A tensor that cannot be quantized: record it as measured-with-no-value so the
                // pass moves on; the tree shows the reason in the spec tooltip.
                TensorMetrics m;
                m.spec = spec;
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
