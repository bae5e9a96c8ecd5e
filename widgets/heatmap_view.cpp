#include "widgets/heatmap_view.h"

#include "widgets/plot_widget.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QToolTip>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace ql {

HeatmapView::HeatmapView(QWidget* parent) : QWidget(parent), m_plot(new PlotWidget(this))
{
    m_modeBox = new QComboBox(this);
    m_modeBox->setObjectName(QStringLiteral("heatmapMode"));
    m_modeBox->addItem(tr("|error| (max-pooled)"), static_cast<int>(Mode::AbsError));
    m_modeBox->addItem(tr("weights (largest |x| per cell)"), static_cast<int>(Mode::Weight));
    m_info = new QLabel(this);
    m_info->setWordWrap(true);
    auto* bar = new QHBoxLayout;
    bar->addWidget(m_info, 1);
    bar->addWidget(m_modeBox);
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    lay->addWidget(m_plot, 1);
    lay->addLayout(bar);
    m_plot->setCsvProvider([this] { return csv(); });
    m_plot->setMouseTracking(true);
    connect(m_plot, &PlotWidget::themeChanged, this, [this] { rebuild(); });
    connect(m_modeBox, &QComboBox::currentIndexChanged, this, [this] { rebuild(); });
    connect(m_plot, &QCustomPlot::mouseMove, this, [this](QMouseEvent* ev) {
        const double x = m_plot->xAxis->pixelToCoord(ev->position().x());
        const double y = m_plot->yAxis->pixelToCoord(ev->position().y());
        const QString text = hoverText(x, y);
        if (text.isEmpty())
            QToolTip::hideText();
        else
            QToolTip::showText(ev->globalPosition().toPoint(), text, m_plot);
    });
    rebuildNow();
}

void HeatmapView::setData(const HeatmapData& data)
{
    m_data = data;
    rebuild();
}

void HeatmapView::clear()
{
    m_data = {};
    rebuild();
}

void HeatmapView::setMode(Mode mode)
{
    m_modeBox->setCurrentIndex(m_modeBox->findData(static_cast<int>(mode)));
}

HeatmapView::Mode HeatmapView::mode() const
{
    return static_cast<Mode>(m_modeBox->currentData().toInt());
}

std::pair<int, int> HeatmapView::cellAt(double x, double y) const
{
    if (m_data.rows == 0 || m_data.cols == 0)
        return {-1, -1};
    // Axes are in source element units; cells cover equal spans.
    const double fr = y / double(m_data.srcRows) * m_data.rows;
    const double fc = x / double(m_data.srcCols) * m_data.cols;
    const int r = static_cast<int>(std::floor(fr)), c = static_cast<int>(std::floor(fc));
    if (r < 0 || c < 0 || r >= m_data.rows || c >= m_data.cols)
        return {-1, -1};
    return {r, c};
}

QString HeatmapView::hoverText(double x, double y) const
{
    const auto [r, c] = cellAt(x, y);
    if (r < 0)
        return {};
    return heatmapCellText(m_data, r, c);
}

void HeatmapView::rebuild()
{
    if (!isVisible()) {
        m_dirty = true;
        return;
    }
    m_dirty = false;
    rebuildNow();
}

void HeatmapView::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    if (m_dirty) {
        m_dirty = false;
        rebuildNow();
    }
}

void HeatmapView::rebuildNow()
{
    PlotWidget* p = m_plot;
    p->clearPlottables();
    p->clearItems();
    if (m_scale) {
        p->plotLayout()->remove(m_scale);
        m_scale = nullptr;
    }
    m_map = nullptr;
    p->applyTheme();
    p->xAxis->setLabel(tr("column (input index)"));
    p->yAxis->setLabel(tr("row (output channel)"));
    p->yAxis->setRangeReversed(true);
    if (m_data.rows == 0) {
        m_info->setText(tr("Select a tensor."));
        p->setHomeRanges(QCPRange(0, 1), QCPRange(0, 1));
        return;
    }
    const Mode mode = this->mode();
    m_map = new QCPColorMap(p->xAxis, p->yAxis);
    m_map->data()->setSize(m_data.cols, m_data.rows);
    // Cell centres in source element coordinates.
    const double cw = double(m_data.srcCols) / m_data.cols, rh = double(m_data.srcRows) / m_data.rows;
    m_map->data()->setRange(QCPRange(cw / 2, m_data.srcCols - cw / 2), QCPRange(rh / 2, m_data.srcRows - rh / 2));
    double vmax = 0.0;
    const auto& src = mode == Mode::AbsError ? m_data.absError : m_data.weight;
    for (int r = 0; r < m_data.rows; ++r)
        for (int c = 0; c < m_data.cols; ++c) {
            const double v = src[static_cast<std::size_t>(r) * static_cast<std::size_t>(m_data.cols) + static_cast<std::size_t>(c)];
            m_map->data()->setCell(c, r, v);
            vmax = std::max(vmax, std::fabs(v));
        }
    m_map->setInterpolate(false);
    m_scale = new QCPColorScale(p);
    p->plotLayout()->addElement(0, 1, m_scale);
    m_scale->setType(QCPAxis::atRight);
    m_map->setColorScale(m_scale);
    m_scale->axis()->setLabel(mode == Mode::AbsError ? tr("max |x − x̂| per cell") : tr("weight x"));
    m_scale->axis()->setLabelColor(p->textColor());
    m_scale->axis()->setTickLabelColor(p->textColor());
    m_scale->axis()->setBasePen(QPen(p->textColor()));
    m_scale->axis()->setTickPen(QPen(p->textColor()));
    if (mode == Mode::AbsError) {
        QCPColorGradient g(QCPColorGradient::gpHot);
        if (!p->isDark())
            g = g.inverted();
        m_map->setGradient(g);
        m_map->setDataRange(QCPRange(0.0, vmax > 0 ? vmax : 1.0));
    } else {
        m_map->setGradient(QCPColorGradient(QCPColorGradient::gpPolar));
        m_map->setDataRange(QCPRange(-(vmax > 0 ? vmax : 1.0), vmax > 0 ? vmax : 1.0));
    }
    auto* group = new QCPMarginGroup(p);
    p->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    p->setHomeRanges(QCPRange(0, double(m_data.srcCols)), QCPRange(0, double(m_data.srcRows)));
    m_info->setText(tr("%1 × %2 elements shown as %3 × %4 cells (each cell %5 × %6 elements, max-pooled) · hover for details")
                        .arg(m_data.srcRows)
                        .arg(m_data.srcCols)
                        .arg(m_data.rows)
                        .arg(m_data.cols)
                        .arg(rh, 0, 'g', 3)
                        .arg(cw, 0, 'g', 3));
}

QString HeatmapView::csv() const
{
    QString out = QStringLiteral("cell_row,cell_col,max_abs_error,weight,worst_index\n");
    for (int r = 0; r < m_data.rows; ++r)
        for (int c = 0; c < m_data.cols; ++c) {
            const std::size_t k = static_cast<std::size_t>(r) * static_cast<std::size_t>(m_data.cols) + static_cast<std::size_t>(c);
            out += QStringLiteral("%1,%2,%3,%4,%5\n").arg(r).arg(c).arg(double(m_data.absError[k]), 0, 'g', 7)
                       .arg(double(m_data.weight[k]), 0, 'g', 7).arg(m_data.worstIndex[k]);
        }
    return out;
}

} // namespace ql
