#include "widgets/error_view.h"

#include "widgets/plot_widget.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace ql {

ErrorView::ErrorView(QWidget* parent) : QWidget(parent), m_hist(new PlotWidget(this)), m_land(new PlotWidget(this))
{
    m_split = new QLabel(this);
    m_split->setObjectName(QStringLiteral("mseSplit"));
    m_split->setWordWrap(true);
    m_split->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_log = new QCheckBox(tr("Log counts"), this);
    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(m_hist);
    splitter->addWidget(m_land);
    splitter->setStretchFactor(0, 2);
    splitter->setStretchFactor(1, 3);
    auto* bar = new QHBoxLayout;
    bar->addWidget(m_split, 1);
    bar->addWidget(m_log);
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    lay->addWidget(splitter, 1);
    lay->addLayout(bar);
    m_hist->setCsvProvider([this] { return histCsv(); });
    m_land->setCsvProvider([this] { return landscapeCsv(); });
    connect(m_hist, &PlotWidget::themeChanged, this, [this] { rebuild(); });
    connect(m_log, &QCheckBox::toggled, this, [this] { rebuild(); });
    rebuildNow();
}

void ErrorView::setData(const ErrorData& data)
{
    m_data = data;
    m_hasData = true;
    rebuild();
}

void ErrorView::clear()
{
    m_data = {};
    m_hasData = false;
    rebuild();
}

void ErrorView::setLogScale(bool log)
{
    m_log->setChecked(log);
}

QString ErrorView::splitText() const
{
    return m_split->text();
}

void ErrorView::rebuild()
{
    if (!isVisible()) {
        m_dirty = true;
        return;
    }
    m_dirty = false;
    rebuildNow();
}

void ErrorView::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    if (m_dirty) {
        m_dirty = false;
        rebuildNow();
    }
}

void ErrorView::rebuildNow()
{
    // Error histogram.
    PlotWidget* h = m_hist;
    h->clearPlottables();
    h->clearItems();
    h->applyTheme();
    const bool log = m_log->isChecked();
    h->xAxis->setLabel(tr("error e = x − dequantized x (weight units)"));
    h->yAxis->setLabel(log ? tr("count (log scale)") : tr("count (elements per bin)"));
    h->yAxis->setScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (log)
        h->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else
        h->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    const Histogram& e = m_data.histErr;
    if (m_hasData && !e.counts.empty()) {
        QVector<double> xs, ys;
        double ymax = 1.0;
        for (int i = 0; i < e.bins(); ++i) {
            const double c = double(e.counts[static_cast<std::size_t>(i)]);
            xs << e.edge(i) << e.edge(i + 1);
            ys << (log ? std::max(c, 0.5) : c) << (log ? std::max(c, 0.5) : c);
            ymax = std::max(ymax, c);
        }
        QCPGraph* g = h->addGraph();
        g->setName(tr("histogram of x − x̂"));
        g->setPen(QPen(h->seriesColor(1), 1.2));
        QColor f = h->seriesColor(1);
        f.setAlpha(70);
        g->setBrush(f);
        g->setData(xs, ys, true);
        const double pad = (e.hi - e.lo) * 0.03 + 1e-12;
        h->setHomeRanges(QCPRange(e.lo - pad, e.hi + pad), log ? QCPRange(0.5, ymax * 3) : QCPRange(0, ymax * 1.08));
    } else {
        h->setHomeRanges(QCPRange(-1, 1), log ? QCPRange(0.5, 10) : QCPRange(0, 1));
    }

    // Landscape.
    PlotWidget* l = m_land;
    l->clearPlottables();
    l->clearItems();
    l->applyTheme();
    l->xAxis->setLabel(tr("clipping threshold (fraction of the min-max range)"));
    l->yAxis->setLabel(tr("MSE (weight units², log scale)"));
    l->yAxis->setScaleType(QCPAxis::stLogarithmic);
    l->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    l->legend->setVisible(true);
    l->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignLeft | Qt::AlignBottom);
    if (m_hasData && m_data.landscape && !m_data.landscape->points.empty()) {
        const ClipLandscape& L = *m_data.landscape;
        QVector<double> x, tot, clip, rnd;
        double ymin = std::numeric_limits<double>::infinity(), ymax = 0.0;
        for (const auto& p : L.points) {
            x << p.ratio;
            // Log axis: exact zeros are drawn at a tiny floor instead of vanishing.
            tot << std::max(p.mse, 1e-30);
            clip << std::max(p.clipMse, 1e-30);
            rnd << std::max(p.roundMse, 1e-30);
            if (p.mse > 0)
                ymin = std::min(ymin, p.mse);
            for (double v : {p.mse, p.clipMse, p.roundMse})
                if (v > 0) {
                    ymax = std::max(ymax, v);
                    ymin = std::min(ymin, v);
                }
        }
        if (!std::isfinite(ymin))
            ymin = 1e-12;
        ymin = std::max(ymin, ymax * 1e-8);
        auto addCurve = [&](const QVector<double>& ys, const QString& name, int color, Qt::PenStyle style, double w) {
            QCPGraph* g = l->addGraph();
            g->setName(name);
            g->setPen(QPen(l->seriesColor(color), w, style));
            g->setData(x, ys, true);
        };
        addCurve(tot, tr("total MSE"), 0, Qt::SolidLine, 2.2);
        addCurve(clip, tr("clipping part"), 3, Qt::DashLine, 1.5);
        addCurve(rnd, tr("rounding part"), 2, Qt::DashDotLine, 1.5);
        // Markers of each range method.
        QCPGraph* marks = l->addGraph();
        marks->setName(tr("range methods"));
        marks->setLineStyle(QCPGraph::lsNone);
        marks->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, l->textColor(), l->backgroundColor(), 8));
        QVector<double> mx, my;
        for (std::size_t k = 0; k < L.markers.size(); ++k) {
            const auto& m = L.markers[k];
            const double y = std::max(m.mse, ymin);
            mx << m.ratio;
            my << y;
            const bool current = static_cast<int>(k) == L.currentMarker;
            auto* line = new QCPItemStraightLine(l);
            line->point1->setCoords(m.ratio, ymin);
            line->point2->setCoords(m.ratio, ymax);
            QColor c = current ? l->seriesColor(4) : l->textColor();
            if (!current)
                c.setAlpha(90);
            line->setPen(QPen(c, current ? 2.0 : 1.0, current ? Qt::SolidLine : Qt::DotLine));
            auto* text = new QCPItemText(l);
            text->position->setTypeX(QCPItemPosition::ptPlotCoords);
            text->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
            text->position->setCoords(m.ratio, 0.03 + 0.07 * double(k));
            // Labels near the right edge sit left of their line so they stay inside the plot.
            const bool right = m.ratio > 0.55;
            text->setPositionAlignment((right ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignTop);
            text->setPadding(right ? QMargins(0, 0, 4, 0) : QMargins(4, 0, 0, 0));
            text->setBrush(QBrush(l->backgroundColor()));
            text->setColor(current ? l->seriesColor(4) : l->textColor());
            QFont f = text->font();
            f.setBold(current);
            text->setFont(f);
            text->setText(QStringLiteral("%1%2 (%3)").arg(QString::fromStdString(m.label), current ? tr(" ◀ current") : QString())
                              .arg(m.ratio, 0, 'f', 3));
        }
        marks->setData(mx, my);
        l->setHomeRanges(QCPRange(0.0, 1.04), QCPRange(ymin * 0.5, ymax * 2.0));
        if (!L.integerGrid) {
            auto* note = new QCPItemText(l);
            note->position->setType(QCPItemPosition::ptAxisRectRatio);
            note->position->setCoords(0.02, 0.98);
            note->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
            note->setColor(l->textColor());
            note->setText(tr("this format has no clip range: landscape of a symmetric %1-bit integer grid").arg(L.bits));
        }
    } else {
        l->setHomeRanges(QCPRange(0, 1.04), QCPRange(1e-6, 1));
    }

    if (!m_hasData) {
        m_split->setText(tr("Select a tensor."));
    } else {
        const double total = std::max(m_data.mse, 1e-300);
        QString s = tr("MSE %1 = clipping %2 (%3 %) + rounding %4 (%5 %) · SQNR %6 · max |err| %7")
                        .arg(m_data.mse, 0, 'g', 4)
                        .arg(m_data.clipMse, 0, 'g', 4)
                        .arg(100.0 * m_data.clipMse / total, 0, 'f', 1)
                        .arg(m_data.roundMse, 0, 'g', 4)
                        .arg(100.0 * m_data.roundMse / total, 0, 'f', 1)
                        .arg(formatDb(m_data.sqnrDb))
                        .arg(m_data.maxAbsError, 0, 'g', 4);
        if (m_data.landscape)
            s += tr("\nlandscape on %1 of %2 values").arg(m_data.landscape->samples).arg(m_data.landscape->elements);
        m_split->setText(s);
    }
    h->requestReplot();
    l->requestReplot();
}

QString ErrorView::histCsv() const
{
    QString out = QStringLiteral("bin_lo,bin_hi,count\n");
    const Histogram& h = m_data.histErr;
    for (int i = 0; i < h.bins(); ++i)
        out += QStringLiteral("%1,%2,%3\n").arg(h.edge(i), 0, 'g', 9).arg(h.edge(i + 1), 0, 'g', 9).arg(h.counts[static_cast<std::size_t>(i)]);
    return out;
}

QString ErrorView::landscapeCsv() const
{
    QString out = QStringLiteral("ratio,threshold,mse,clip_mse,round_mse\n");
    if (!m_data.landscape)
        return out;
    for (const auto& p : m_data.landscape->points)
        out += QStringLiteral("%1,%2,%3,%4,%5\n").arg(p.ratio, 0, 'g', 9).arg(p.threshold, 0, 'g', 9).arg(p.mse, 0, 'g', 9)
                   .arg(p.clipMse, 0, 'g', 9).arg(p.roundMse, 0, 'g', 9);
    out += QStringLiteral("\nmethod,ratio,threshold,mse,clip_mse,round_mse\n");
    for (const auto& m : m_data.landscape->markers)
        out += QStringLiteral("%1,%2,%3,%4,%5,%6\n").arg(QString::fromStdString(m.label)).arg(m.ratio, 0, 'g', 9)
                   .arg(m.threshold, 0, 'g', 9).arg(m.mse, 0, 'g', 9).arg(m.clipMse, 0, 'g', 9).arg(m.roundMse, 0, 'g', 9);
    return out;
}

} // namespace ql
