#include "widgets/tradeoff_view.h"

#include "widgets/plot_widget.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace ql {

TradeoffView::TradeoffView(QWidget* parent) : QWidget(parent), m_plot(new PlotWidget(this))
{
    m_scope = new QComboBox(this);
    m_scope->setObjectName(QStringLiteral("tradeoffScope"));
    m_scope->addItem(tr("selected tensor"));
    m_scope->addItem(tr("whole model"));
    m_metric = new QComboBox(this);
    m_metric->setObjectName(QStringLiteral("tradeoffMetric"));
    m_metric->addItem(tr("SQNR (dB)"), static_cast<int>(Metric::Sqnr));
    m_metric->addItem(tr("layer-output error"), static_cast<int>(Metric::LayerError));
    m_metric->addItem(tr("test accuracy"), static_cast<int>(Metric::Accuracy));
    m_metric->setToolTip(tr("Layer-output error needs a calibration set that feeds the tensor; "
                            "test accuracy needs a bundled demo model in whole-model scope"));
    m_info = new QLabel(this);
    m_info->setWordWrap(true);
    auto* bar = new QHBoxLayout;
    bar->addWidget(m_info, 1);
    bar->addWidget(m_scope);
    bar->addWidget(m_metric);
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    lay->addWidget(m_plot, 1);
    lay->addLayout(bar);
    m_plot->setCsvProvider([this] { return csv(); });
    connect(m_plot, &PlotWidget::themeChanged, this, [this] { rebuild(); });
    connect(m_metric, &QComboBox::currentIndexChanged, this, [this] { rebuild(); });
    connect(m_scope, &QComboBox::currentIndexChanged, this, &TradeoffView::scopeChanged);
    rebuildNow();
}

void TradeoffView::setData(const TradeoffData& data)
{
    m_data = data;
    rebuild();
}

void TradeoffView::clear()
{
    m_data = {};
    rebuild();
}

void TradeoffView::setStatusText(const QString& text)
{
    m_status = text;
    rebuild();
}

void TradeoffView::setMetric(Metric m)
{
    m_metric->setCurrentIndex(m_metric->findData(static_cast<int>(m)));
}

TradeoffView::Metric TradeoffView::metric() const
{
    return static_cast<Metric>(m_metric->currentData().toInt());
}

TradeoffView::Metric TradeoffView::shownMetric() const
{
    return m_data.has(metric()) ? metric() : Metric::Sqnr;
}

void TradeoffView::rebuild()
{
    if (!isVisible()) {
        m_dirty = true;
        return;
    }
    m_dirty = false;
    rebuildNow();
}

void TradeoffView::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    if (m_dirty) {
        m_dirty = false;
        rebuildNow();
    }
}

void TradeoffView::rebuildNow()
{
    PlotWidget* p = m_plot;
    p->clearPlottables();
    p->clearItems();
    p->applyTheme();
    const Metric shown = shownMetric();
    const bool acc = shown == Metric::Accuracy;
    const bool layer = shown == Metric::LayerError;
    // Offer only the metrics the data has values for.
    if (auto* items = qobject_cast<QStandardItemModel*>(m_metric->model()))
        for (int i = 0; i < m_metric->count(); ++i)
            items->item(i)->setEnabled(m_data.has(static_cast<Metric>(m_metric->itemData(i).toInt())));
    m_metric->setEnabled(m_data.hasAccuracy() || m_data.hasLayerError());
    p->xAxis->setLabel(tr("storage cost (bits per weight, incl. scales)"));
    p->yAxis->setLabel(acc ? tr("test accuracy (%)")
                           : layer ? tr("layer-output error ‖XWᵀ − XŴᵀ‖ / ‖XWᵀ‖ (%, log, lower is better)")
                                   : tr("SQNR (dB, higher is better)"));
    // The layer-output error spans decades (≈100 % at 1 bit to ≈0.1 % at 8): a log axis.
    p->yAxis->setScaleType(layer ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (layer)
        p->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else if (qSharedPointerDynamicCast<QCPAxisTickerLog>(p->yAxis->ticker()))
        p->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    p->legend->setVisible(!m_data.points.empty());
    // SQNR rises from bottom left to top right; accuracy saturates along the top, leaving the
    // bottom right empty; the layer-output error falls from top left to bottom right, and the
    // formats that stay poor at high bits (codebooks, pow2) fill the top right, so the bottom left
    // is the free corner. The legend goes where the points are not.
    p->axisRect()->insetLayout()->setInsetAlignment(0, acc     ? Qt::AlignRight | Qt::AlignBottom
                                                       : layer ? Qt::AlignLeft | Qt::AlignBottom
                                                               : Qt::AlignLeft | Qt::AlignTop);
    // Values a log axis cannot show (an exact 0 % error) are left out like unknown ones.
    auto yOf = [shown, layer](const TradeoffPoint& t) {
        const double y = tradeoffValue(t, shown);
        return layer && !(y > 0.0) ? std::numeric_limits<double>::quiet_NaN() : y;
    };
    std::map<QString, std::vector<const TradeoffPoint*>> series;
    for (const auto& t : m_data.points)
        series[t.family].push_back(&t);
    double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
    int color = 0;
    for (auto& [family, pts] : series) {
        std::sort(pts.begin(), pts.end(), [](auto* a, auto* b) { return a->bitsPerWeight < b->bitsPerWeight; });
        QVector<double> xs, ys;
        for (const auto* t : pts) {
            const double y = yOf(*t);
            if (!std::isfinite(y))
                continue;
            xs << t->bitsPerWeight;
            ys << y;
            xmin = std::min(xmin, t->bitsPerWeight);
            xmax = std::max(xmax, t->bitsPerWeight);
            ymin = std::min(ymin, y);
            ymax = std::max(ymax, y);
        }
        if (xs.isEmpty()) {
            ++color;  // a family keeps its colour whichever metric is shown
            continue;
        }
        QCPGraph* g = p->addGraph();
        g->setName(family);
        g->setPen(QPen(p->seriesColor(color), 1.3));
        g->setLineStyle(xs.size() > 1 ? QCPGraph::lsLine : QCPGraph::lsNone);
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, p->seriesColor(color), 6));
        g->setData(xs, ys, true);
        ++color;
        // Point labels for single-point families (fixed formats).
        for (const auto* t : pts) {
            if (pts.size() > 1)
                continue;  // multi-point families are named by the legend
            if (!std::isfinite(yOf(*t)))
                continue;
            auto* label = new QCPItemText(p);
            label->position->setCoords(t->bitsPerWeight, yOf(*t));
            label->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
            label->setPadding(QMargins(4, 0, 0, 2));
            label->setColor(p->textColor());
            label->setText(t->label);
        }
    }
    const std::vector<int> front = paretoFront(m_data.points, shown);
    if (!front.empty()) {
        QVector<double> xs, ys;
        for (int i : front) {
            xs << m_data.points[static_cast<std::size_t>(i)].bitsPerWeight;
            ys << yOf(m_data.points[static_cast<std::size_t>(i)]);
        }
        QCPGraph* g = p->addGraph();
        g->setName(tr("Pareto front"));
        QColor c = p->textColor();
        c.setAlpha(160);
        g->setPen(QPen(c, 2.0, Qt::DashLine));
        g->setLineStyle(QCPGraph::lsStepLeft);
        g->setData(xs, ys, true);
    }
    if (m_data.current && std::isfinite(yOf(*m_data.current))) {
        const auto& c = *m_data.current;
        QCPGraph* g = p->addGraph();
        // The current choice: a tensor's spec, or (named by its family) the current plan.
        g->setName(tr("%1: %2").arg(c.family.isEmpty() ? tr("current") : c.family, c.label));
        g->setLineStyle(QCPGraph::lsNone);
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssStar, p->seriesColor(3), 16));
        g->setPen(QPen(p->seriesColor(3), 2.5));
        g->setData(QVector<double>{c.bitsPerWeight}, QVector<double>{yOf(c)});
        xmin = std::min(xmin, c.bitsPerWeight);
        xmax = std::max(xmax, c.bitsPerWeight);
        ymin = std::min(ymin, yOf(c));
        ymax = std::max(ymax, yOf(c));
    }
    if (xmin > xmax) {
        xmin = 0;
        xmax = 9;
        ymin = 0;
        ymax = 50;
    }
    const double xp = (xmax - xmin) * 0.08 + 0.25, yp = (ymax - ymin) * 0.08 + 0.5;
    if (layer && ymin > 0.0)
        p->setHomeRanges(QCPRange(xmin - xp, xmax + xp), QCPRange(ymin / 1.6, ymax * 1.6));
    else
        p->setHomeRanges(QCPRange(xmin - xp, xmax + xp), QCPRange(ymin - yp, ymax + yp));
    QString info = m_data.title;
    if (!m_status.isEmpty())
        info += (info.isEmpty() ? QString() : QStringLiteral(" · ")) + m_status;
    if (!front.empty())
        info += tr(" · %1 points on the Pareto front").arg(front.size());
    if (m_data.current) {
        const TradeoffPoint& c = *m_data.current;
        const double y = tradeoffValue(c, shown);
        QString value = acc ? tr("%1 % accuracy").arg(y, 0, 'f', 1)
                            : layer ? tr("%1 % output error").arg(y, 0, 'g', 3) : formatDb(c.sqnrDb);
        info += tr(" · %1 %2: %3 bits/weight, %4")
                    .arg(c.family.isEmpty() ? tr("current") : c.family, c.label)
                    .arg(c.bitsPerWeight, 0, 'f', 2)
                    .arg(std::isnan(y) ? tr("measuring …") : value);
    }
    m_info->setText(info);
}

QString TradeoffView::csv() const
{
    QString out = QStringLiteral("family,label,bits_per_weight,sqnr_db,mse,accuracy,layer_output_error\n");
    for (const auto& t : m_data.points)
        out += QStringLiteral("%1,%2,%3,%4,%5,%6,%7\n").arg(t.family, t.label).arg(t.bitsPerWeight, 0, 'g', 6)
                   .arg(t.sqnrDb, 0, 'g', 6).arg(t.mse, 0, 'g', 6).arg(t.accuracy, 0, 'g', 6)
                   .arg(t.layerError, 0, 'g', 6);
    return out;
}

} // namespace ql
