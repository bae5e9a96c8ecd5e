#include "widgets/distribution_view.h"

#include "widgets/plot_widget.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace ql {

DistributionView::DistributionView(QWidget* parent) : QWidget(parent), m_plot(new PlotWidget(this))
{
    m_log = new QCheckBox(tr("Log counts"), this);
    m_log->setObjectName(QStringLiteral("logCounts"));
    m_info = new QLabel(this);
    m_info->setObjectName(QStringLiteral("metricsStrip"));
    m_info->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_info->setWordWrap(true);
    auto* bar = new QHBoxLayout;
    bar->addWidget(m_info, 1);
    bar->addWidget(m_log);
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    lay->addWidget(m_plot, 1);
    lay->addLayout(bar);
    m_plot->setCsvProvider([this] { return csv(); });
    connect(m_log, &QCheckBox::toggled, this, [this] { rebuild(); });
    connect(m_plot, &PlotWidget::themeChanged, this, [this] { rebuild(); });
    rebuildNow();
}

void DistributionView::setData(const DistributionData& data)
{
    m_data = data;
    m_hasData = true;
    rebuild();
}

void DistributionView::clear()
{
    m_data = {};
    m_hasData = false;
    rebuild();
}

void DistributionView::setLogScale(bool log)
{
    m_log->setChecked(log);
}

bool DistributionView::logScale() const
{
    return m_log->isChecked();
}

QString DistributionView::infoText() const
{
    return m_info->text();
}

void DistributionView::rebuild()
{
    if (!isVisible()) {
        m_dirty = true;
        return;
    }
    m_dirty = false;
    rebuildNow();
}

void DistributionView::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    if (m_dirty) {
        m_dirty = false;
        rebuildNow();
    }
}

void DistributionView::rebuildNow()
{
    PlotWidget* p = m_plot;
    p->clearGraphs();
    p->clearItems();
    p->clearPlottables();
    p->applyTheme();
    const bool log = m_log->isChecked();
    p->xAxis->setLabel(tr("weight value x"));
    p->yAxis->setLabel(log ? tr("count (log scale)") : tr("count (elements per bin)"));
    if (log) {
        p->yAxis->setScaleType(QCPAxis::stLogarithmic);
        p->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    } else {
        p->yAxis->setScaleType(QCPAxis::stLinear);
        p->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    }
    m_drawnLevels = 0;
    if (!m_hasData || m_data.hist.counts.empty()) {
        m_info->setText(m_hasData ? tr("No finite values.") : tr("Open a model and select a tensor."));
        p->setHomeRanges(QCPRange(-1, 1), log ? QCPRange(0.5, 10) : QCPRange(0, 1));
        return;
    }
    const Histogram& h = m_data.hist;
    const double floorCount = log ? 0.5 : 0.0;

    // Histogram as a filled step curve (one vertex pair per bin).
    QVector<double> xs, ys;
    xs.reserve(h.bins() * 2 + 2);
    ys.reserve(h.bins() * 2 + 2);
    double ymax = 1.0;
    for (int i = 0; i < h.bins(); ++i) {
        const double c = double(h.counts[static_cast<std::size_t>(i)]);
        const double v = log ? std::max(c, floorCount) : c;
        xs << h.edge(i) << h.edge(i + 1);
        ys << v << v;
        ymax = std::max(ymax, c);
    }
    QCPGraph* hist = p->addGraph();
    hist->setName(tr("histogram of x"));
    const QColor c0 = p->seriesColor(0);
    hist->setPen(QPen(c0, 1.2));
    QColor fill = c0;
    fill.setAlpha(70);
    hist->setBrush(fill);
    hist->setData(xs, ys, true);
    const double ytop = log ? ymax * 3.0 : ymax * 1.08;
    const double ybottom = log ? floorCount : 0.0;

    // Quantization levels: one graph with NaN breaks between vertical segments.
    if (!m_data.levels.empty()) {
        const std::size_t n = m_data.levels.size();
        const std::size_t step = std::max<std::size_t>(1, (n + kMaxDrawnLevels - 1) / kMaxDrawnLevels);
        QVector<double> lx, ly;
        for (std::size_t i = 0; i < n; i += step) {
            const double l = m_data.levels[i];
            lx << l << l << l;
            ly << ybottom << ytop << qQNaN();
            ++m_drawnLevels;
        }
        QCPGraph* lv = p->addGraph();
        lv->setName(step > 1 ? tr("levels (every %1th)").arg(step) : tr("quantization levels"));
        QColor lc = p->seriesColor(1);
        lc.setAlpha(150);
        lv->setPen(QPen(lc, 1));
        lv->setLineStyle(QCPGraph::lsLine);
        lv->setAdaptiveSampling(false);
        lv->setData(lx, ly, true);
    }

    // Clipped tails shaded.
    double xlo = h.lo, xhi = h.hi;
    if (m_data.hasClip) {
        xlo = std::min(xlo, m_data.clipLo);
        xhi = std::max(xhi, m_data.clipHi);
    }
    const double pad = (xhi - xlo) * 0.03 + 1e-12;
    if (m_data.hasClip) {
        QColor shade = p->seriesColor(3);
        shade.setAlpha(60);
        const double far = (xhi - xlo) * 1000.0 + 1.0;
        auto addRect = [&](double a, double b) {
            auto* r = new QCPItemRect(p);
            r->topLeft->setCoords(a, ytop * (log ? 1e6 : 100.0));
            r->bottomRight->setCoords(b, log ? 1e-6 : -ytop * 100.0);
            r->setPen(Qt::NoPen);
            r->setBrush(shade);
            r->setLayer(QStringLiteral("background"));
        };
        addRect(m_data.clipLo - far, m_data.clipLo);
        addRect(m_data.clipHi, m_data.clipHi + far);
        for (double edge : {m_data.clipLo, m_data.clipHi}) {
            auto* line = new QCPItemStraightLine(p);
            line->point1->setCoords(edge, 0.0);
            line->point2->setCoords(edge, 1.0);
            line->setPen(QPen(p->seriesColor(3), 1.5, Qt::DashLine));
        }
    }
    if (m_data.hasZeroPoint) {
        auto* z = new QCPItemStraightLine(p);
        z->point1->setCoords(0.0, 0.0);
        z->point2->setCoords(0.0, 1.0);
        z->setPen(QPen(p->seriesColor(2), 2.0));
        auto* label = new QCPItemText(p);
        label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
        label->position->setCoords(0.0, 0.97);
        label->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
        label->setPadding(QMargins(4, 0, 0, 0));
        label->setColor(p->seriesColor(2));
        label->setText(tr("zero point (code %1)").arg(m_data.zeroPointCode, 0, 'f', 0));
    }
    if (!m_data.title.isEmpty()) {
        auto* t = new QCPItemText(p);
        t->position->setType(QCPItemPosition::ptAxisRectRatio);
        t->position->setCoords(0.99, 0.02);
        t->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
        t->setColor(p->textColor());
        t->setText(m_data.title);
    }
    p->legend->setVisible(true);
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignLeft | Qt::AlignTop);
    p->setHomeRanges(QCPRange(xlo - pad, xhi + pad), QCPRange(ybottom, ytop));

    const double fin = double(std::max<std::int64_t>(m_data.finite, 1));
    QString info = m_data.metricsText;
    info += QStringLiteral("\n") +
            tr("clipped: %1 (%2 %) · non-finite: %3 · levels: %4%5")
                .arg(m_data.clipped)
                .arg(100.0 * double(m_data.clipped) / fin, 0, 'g', 3)
                .arg(m_data.nonfinite)
                .arg(m_data.levels.size())
                .arg(m_data.levelsNote.isEmpty() ? QString() : QStringLiteral(" (") + m_data.levelsNote + QStringLiteral(")"));
    m_info->setText(info);
}

QString DistributionView::csv() const
{
    QString out = QStringLiteral("bin_lo,bin_hi,count\n");
    const Histogram& h = m_data.hist;
    for (int i = 0; i < h.bins(); ++i)
        out += QStringLiteral("%1,%2,%3\n").arg(h.edge(i), 0, 'g', 9).arg(h.edge(i + 1), 0, 'g', 9).arg(h.counts[static_cast<std::size_t>(i)]);
    if (!m_data.levels.empty()) {
        out += QStringLiteral("\nlevel\n");
        for (double l : m_data.levels)
            out += QString::number(l, 'g', 9) + QLatin1Char('\n');
    }
    if (m_data.hasClip)
        out += QStringLiteral("\nclip_lo,clip_hi\n%1,%2\n").arg(m_data.clipLo, 0, 'g', 9).arg(m_data.clipHi, 0, 'g', 9);
    return out;
}

} // namespace ql
