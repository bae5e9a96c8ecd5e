#include "widgets/channels_view.h"

#include "widgets/plot_widget.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ql {

ChannelsView::ChannelsView(QWidget* parent) : QWidget(parent), m_plot(new PlotWidget(this))
{
    m_orderBox = new QComboBox(this);
    m_orderBox->setObjectName(QStringLiteral("channelOrder"));
    m_orderBox->addItem(tr("by channel index"), static_cast<int>(Order::Index));
    m_orderBox->addItem(tr("by range (max |x|)"), static_cast<int>(Order::Range));
    m_orderBox->addItem(tr("by SQNR"), static_cast<int>(Order::Sqnr));
    m_info = new QLabel(this);
    m_info->setWordWrap(true);
    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("channelTable"));
    m_table->setSortingEnabled(true);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->verticalHeader()->setVisible(false);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    auto* top = new QWidget(this);
    auto* tl = new QVBoxLayout(top);
    tl->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    bar->addWidget(m_info, 1);
    bar->addWidget(new QLabel(tr("Order:"), this));
    bar->addWidget(m_orderBox);
    tl->addWidget(m_plot, 1);
    tl->addLayout(bar);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(top);
    split->addWidget(m_table);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    lay->addWidget(split);
    m_plot->setCsvProvider([this] { return csv(); });
    connect(m_plot, &PlotWidget::themeChanged, this, [this] { rebuild(); });
    connect(m_orderBox, &QComboBox::currentIndexChanged, this, [this] { rebuild(); });
    rebuildNow();
}

void ChannelsView::setTableModel(QAbstractItemModel* model)
{
    auto* proxy = new QSortFilterProxyModel(this);
    proxy->setSourceModel(model);
    proxy->setSortRole(Qt::UserRole + 1);
    m_table->setModel(proxy);
}

void ChannelsView::setData(const ChannelData& data)
{
    m_data = data;
    rebuild();
}

void ChannelsView::clear()
{
    m_data = {};
    rebuild();
}

void ChannelsView::setOrder(Order order)
{
    m_orderBox->setCurrentIndex(m_orderBox->findData(static_cast<int>(order)));
}

void ChannelsView::rebuild()
{
    if (!isVisible()) {
        m_dirty = true;
        return;
    }
    m_dirty = false;
    rebuildNow();
}

void ChannelsView::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    if (m_dirty) {
        m_dirty = false;
        rebuildNow();
    }
}

void ChannelsView::rebuildNow()
{
    PlotWidget* p = m_plot;
    p->clearPlottables();
    p->clearItems();
    p->applyTheme();
    const int n = m_data.size();
    const auto order = static_cast<Order>(m_orderBox->currentData().toInt());
    m_order.resize(static_cast<std::size_t>(n));
    std::iota(m_order.begin(), m_order.end(), 0);
    if (order == Order::Range)
        std::stable_sort(m_order.begin(), m_order.end(), [this](int a, int b) {
            return m_data.absmax[static_cast<std::size_t>(a)] > m_data.absmax[static_cast<std::size_t>(b)];
        });
    else if (order == Order::Sqnr)
        std::stable_sort(m_order.begin(), m_order.end(), [this](int a, int b) {
            const double x = m_data.sqnrDb[static_cast<std::size_t>(a)], y = m_data.sqnrDb[static_cast<std::size_t>(b)];
            if (std::isnan(x) || std::isnan(y))
                return !std::isnan(x) && std::isnan(y);
            return x < y;
        });
    p->xAxis->setLabel(order == Order::Index ? tr("channel index (axis %1)").arg(m_data.axis)
                                             : tr("channel rank (sorted %1)").arg(m_orderBox->currentText()));
    p->yAxis->setLabel(tr("weight value (min … max per channel)"));
    p->yAxis2->setVisible(true);
    p->yAxis2->setLabel(tr("SQNR per channel (dB)"));
    p->applyTheme();
    p->legend->setVisible(n > 0);
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignRight | Qt::AlignBottom);
    if (n == 0) {
        m_info->setText(tr("Select a tensor with at least one axis."));
        p->setHomeRanges(QCPRange(0, 1), QCPRange(-1, 1), QCPRange(0, 60));
        return;
    }
    QVector<double> x(n), lo(n), hi(n), cl(n), ch(n), sq(n);
    double ymin = 0, ymax = 0, smin = 1e300, smax = -1e300;
    for (int i = 0; i < n; ++i) {
        const auto c = static_cast<std::size_t>(m_order[static_cast<std::size_t>(i)]);
        x[i] = i;
        lo[i] = m_data.lo[c];
        hi[i] = m_data.hi[c];
        ymin = std::min(ymin, lo[i]);
        ymax = std::max(ymax, hi[i]);
        cl[i] = c < m_data.clipLo.size() ? m_data.clipLo[c] : qQNaN();
        ch[i] = c < m_data.clipHi.size() ? m_data.clipHi[c] : qQNaN();
        const double s = m_data.sqnrDb[c];
        sq[i] = std::isfinite(s) ? s : qQNaN();
        if (std::isfinite(s)) {
            smin = std::min(smin, s);
            smax = std::max(smax, s);
        }
    }
    const QCPGraph::LineStyle style = n > 64 ? QCPGraph::lsStepCenter : QCPGraph::lsNone;
    auto addRange = [&](const QVector<double>& ys, const QString& name, int color) {
        QCPGraph* g = p->addGraph();
        g->setName(name);
        g->setLineStyle(style);
        g->setPen(QPen(p->seriesColor(color), 1.2));
        if (n <= 64)
            g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
        g->setData(x, ys, true);
        return g;
    };
    QCPGraph* gmax = addRange(hi, tr("max"), 0);
    QCPGraph* gmin = addRange(lo, tr("min"), 0);
    gmin->removeFromLegend();
    QColor fill = p->seriesColor(0);
    fill.setAlpha(50);
    gmax->setBrush(fill);
    gmax->setChannelFillGraph(gmin);
    gmax->setName(tr("min … max"));
    if (!m_data.clipLo.empty()) {
        QCPGraph* a = p->addGraph();
        a->setName(tr("clip range"));
        a->setLineStyle(QCPGraph::lsStepCenter);
        a->setPen(QPen(p->seriesColor(3), 1.0, Qt::DashLine));
        a->setData(x, cl, true);
        QCPGraph* b = p->addGraph();
        b->setLineStyle(QCPGraph::lsStepCenter);
        b->setPen(QPen(p->seriesColor(3), 1.0, Qt::DashLine));
        b->setData(x, ch, true);
        b->removeFromLegend();
    }
    QCPGraph* s = p->addGraph(p->xAxis, p->yAxis2);
    s->setName(tr("SQNR (right axis)"));
    s->setLineStyle(n > 64 ? QCPGraph::lsLine : QCPGraph::lsNone);
    s->setScatterStyle(QCPScatterStyle(n > 64 ? QCPScatterStyle::ssNone : QCPScatterStyle::ssCross, 6));
    s->setPen(QPen(p->seriesColor(4), 1.2));
    s->setData(x, sq, true);
    if (smin > smax) {
        smin = 0;
        smax = 60;
    }
    const double pad = (ymax - ymin) * 0.05 + 1e-12;
    p->setHomeRanges(QCPRange(-0.5, n - 0.5), QCPRange(ymin - pad, ymax + pad),
                     QCPRange(smin - 1.0, smax + 1.0));
    auto worst = std::min_element(m_data.sqnrDb.begin(), m_data.sqnrDb.end());
    m_info->setText(tr("%1 channels along axis %2 · worst channel %3 at %4 · widest max |x| %5")
                        .arg(n)
                        .arg(m_data.axis)
                        .arg(worst - m_data.sqnrDb.begin())
                        .arg(formatDb(*worst))
                        .arg(*std::max_element(m_data.absmax.begin(), m_data.absmax.end()), 0, 'g', 4));
}

QString ChannelsView::csv() const
{
    QString out = QStringLiteral("channel,min,max,absmax,clip_lo,clip_hi,sqnr_db,mse\n");
    for (int c = 0; c < m_data.size(); ++c) {
        const auto i = static_cast<std::size_t>(c);
        out += QStringLiteral("%1,%2,%3,%4,%5,%6,%7,%8\n")
                   .arg(c)
                   .arg(m_data.lo[i], 0, 'g', 9)
                   .arg(m_data.hi[i], 0, 'g', 9)
                   .arg(m_data.absmax[i], 0, 'g', 9)
                   .arg(i < m_data.clipLo.size() ? m_data.clipLo[i] : qQNaN(), 0, 'g', 9)
                   .arg(i < m_data.clipHi.size() ? m_data.clipHi[i] : qQNaN(), 0, 'g', 9)
                   .arg(m_data.sqnrDb[i], 0, 'g', 6)
                   .arg(m_data.mse[i], 0, 'g', 9);
    }
    return out;
}

} // namespace ql
