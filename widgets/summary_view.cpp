#include "widgets/summary_view.h"

#include "widgets/plot_widget.h"

#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace ql {

SummaryView::SummaryView(QWidget* parent) : QWidget(parent), m_sqnr(new PlotWidget(this)), m_size(new PlotWidget(this))
{
    m_info = new QLabel(this);
    m_info->setWordWrap(true);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(m_sqnr);
    split->addWidget(m_size);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    lay->addWidget(split, 1);
    lay->addWidget(m_info);
    m_sqnr->setCsvProvider([this] {
        QString out = QStringLiteral("tensor,sqnr_db,bytes_before,bytes_after\n");
        for (const auto& l : m_data.layers)
            out += QStringLiteral("%1,%2,%3,%4\n").arg(l.name).arg(l.sqnrDb, 0, 'g', 6).arg(l.bytesBefore).arg(l.bytesAfter);
        return out;
    });
    m_size->setCsvProvider([this] {
        QString out = QStringLiteral("format,bytes_after\n");
        for (const auto& [f, b] : m_data.bytesByFormat)
            out += QStringLiteral("%1,%2\n").arg(f).arg(b);
        out += QStringLiteral("total_before,%1\ntotal_after,%2\n").arg(m_data.totalBefore).arg(m_data.totalAfter);
        return out;
    });
    connect(m_sqnr, &PlotWidget::themeChanged, this, [this] { rebuild(); });
    connect(m_sqnr, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable*, int index, QMouseEvent*) {
        emit layerClicked(index);
    });
    rebuildNow();
}

void SummaryView::setData(const SummaryData& data)
{
    m_data = data;
    rebuild();
}

void SummaryView::rebuild()
{
    if (!isVisible()) {
        m_dirty = true;
        return;
    }
    m_dirty = false;
    rebuildNow();
}

void SummaryView::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    if (m_dirty) {
        m_dirty = false;
        rebuildNow();
    }
}

void SummaryView::rebuildNow()
{
    PlotWidget* p = m_sqnr;
    p->clearPlottables();
    p->clearItems();
    p->applyTheme();
    p->xAxis->setLabel(tr("tensor (model order)"));
    p->yAxis->setLabel(tr("SQNR (dB)"));
    const int n = static_cast<int>(m_data.layers.size());
    QVector<double> x, y;
    QVector<QString> names;
    double ymax = 10.0;
    int measured = 0;
    for (int i = 0; i < n; ++i) {
        const auto& l = m_data.layers[static_cast<std::size_t>(i)];
        x << i;
        y << (std::isfinite(l.sqnrDb) ? l.sqnrDb : 0.0);
        names << l.name;
        if (std::isfinite(l.sqnrDb)) {
            ymax = std::max(ymax, l.sqnrDb);
            ++measured;
        }
    }
    auto* bars = new QCPBars(p->xAxis, p->yAxis);
    bars->setWidth(0.8);
    bars->setPen(Qt::NoPen);
    bars->setBrush(p->seriesColor(0));
    bars->setData(x, y, true);
    if (n <= 40) {
        QSharedPointer<QCPAxisTickerText> t(new QCPAxisTickerText);
        for (int i = 0; i < n; ++i) {
            QString s = names[i];
            if (s.size() > 24)
                s = QStringLiteral("…") + s.right(23);
            t->addTick(i, s);
        }
        p->xAxis->setTicker(t);
        p->xAxis->setTickLabelRotation(60);
    } else {
        p->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        p->xAxis->setTickLabelRotation(0);
    }
    p->setHomeRanges(QCPRange(-0.7, std::max(n, 1) - 0.3), QCPRange(0, ymax * 1.1));

    // Size breakdown: one bar before, one stacked bar after (by format).
    PlotWidget* s = m_size;
    s->clearPlottables();
    s->clearItems();
    s->applyTheme();
    s->yAxis->setLabel(tr("size (MiB)"));
    QSharedPointer<QCPAxisTickerText> t(new QCPAxisTickerText);
    t->addTick(0, tr("now"));
    t->addTick(1, tr("after"));
    s->xAxis->setTicker(t);
    s->legend->setVisible(!m_data.bytesByFormat.empty());
    s->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignRight | Qt::AlignTop);
    const double mib = 1024.0 * 1024.0;
    auto* before = new QCPBars(s->xAxis, s->yAxis);
    before->setName(tr("as stored"));
    before->setBrush(s->seriesColor(7));
    before->setPen(Qt::NoPen);
    before->setData(QVector<double>{0}, QVector<double>{double(m_data.totalBefore) / mib});
    QCPBars* below = nullptr;
    int c = 0;
    for (const auto& [fmt, bytes] : m_data.bytesByFormat) {
        auto* b = new QCPBars(s->xAxis, s->yAxis);
        b->setName(fmt);
        b->setBrush(s->seriesColor(c++));
        b->setPen(QPen(s->backgroundColor(), 1));
        b->setData(QVector<double>{1}, QVector<double>{double(bytes) / mib});
        if (below)
            b->moveAbove(below);
        below = b;
    }
    s->setHomeRanges(QCPRange(-0.6, 1.6), QCPRange(0, std::max(1e-6, double(m_data.totalBefore) / mib * 1.15)));
    m_info->setText(tr("%1 tensors, %2 measured · %3 → %4 (%5× smaller)")
                        .arg(n)
                        .arg(measured)
                        .arg(formatBytes(m_data.totalBefore), formatBytes(m_data.totalAfter))
                        .arg(m_data.totalAfter > 0 ? double(m_data.totalBefore) / double(m_data.totalAfter) : 0.0, 0, 'f', 2));
}

} // namespace ql
