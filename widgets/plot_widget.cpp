#include "widgets/plot_widget.h"

#include <QApplication>
#include <QClipboard>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QSvgGenerator>

namespace ql {

PlotWidget::PlotWidget(QWidget* parent) : QCustomPlot(parent)
{
    setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    axisRect()->setRangeDrag(Qt::Horizontal | Qt::Vertical);
    axisRect()->setRangeZoom(Qt::Horizontal | Qt::Vertical);
    setContextMenuPolicy(Qt::CustomContextMenu);
    setMinimumSize(240, 160);
    setNoAntialiasingOnDrag(true);
    connect(this, &QCustomPlot::customContextMenuRequested, this, [this](const QPoint& pos) {
        QMenu* menu = createContextMenu();
        menu->setAttribute(Qt::WA_DeleteOnClose);
        menu->popup(mapToGlobal(pos));
    });
    applyTheme();
}

QMenu* PlotWidget::createContextMenu()
{
    auto* menu = new QMenu(this);
    menu->addAction(tr("Reset view"), this, &PlotWidget::resetView);
    menu->addSeparator();
    menu->addAction(tr("Save as PNG / SVG / PDF…"), this, &PlotWidget::saveAs);
    QAction* copy = menu->addAction(tr("Copy data as CSV"), this, [this] {
        QApplication::clipboard()->setText(csvData());
    });
    copy->setEnabled(static_cast<bool>(m_csv));
    return menu;
}

void PlotWidget::setHomeRanges(const QCPRange& x, const QCPRange& y)
{
    m_homeX = x;
    m_homeY = y;
    m_hasY2 = false;
    resetView();
}

void PlotWidget::setHomeRanges(const QCPRange& x, const QCPRange& y, const QCPRange& y2)
{
    m_homeX = x;
    m_homeY = y;
    m_homeY2 = y2;
    m_hasY2 = true;
    resetView();
}

void PlotWidget::resetView()
{
    xAxis->setRange(m_homeX);
    yAxis->setRange(m_homeY);
    if (m_hasY2)
        yAxis2->setRange(m_homeY2);
    requestReplot();
}

bool PlotWidget::exportTo(const QString& path, int width, int height)
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == QLatin1String("png"))
        return savePng(path, width, height, 2.0);
    if (suffix == QLatin1String("pdf"))
        return savePdf(path, width, height);
    if (suffix == QLatin1String("svg")) {
        const int w = width > 0 ? width : this->width();
        const int h = height > 0 ? height : this->height();
        QSvgGenerator gen;
        gen.setFileName(path);
        gen.setSize(QSize(w, h));
        gen.setViewBox(QRect(0, 0, w, h));
        gen.setTitle(QStringLiteral("QuantLens plot"));
        QCPPainter painter;
        if (!painter.begin(&gen))
            return false;
        toPainter(&painter, w, h);
        painter.end();
        return QFileInfo::exists(path);
    }
    return false;
}

void PlotWidget::saveAs()
{
    QString selected;
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Save plot"), QStringLiteral("plot.png"),
        tr("PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf)"), &selected);
    if (path.isEmpty())
        return;
    QString target = path;
    if (QFileInfo(target).suffix().isEmpty())
        target += selected.contains(QLatin1String("svg")) ? QStringLiteral(".svg")
                  : selected.contains(QLatin1String("pdf")) ? QStringLiteral(".pdf")
                                                            : QStringLiteral(".png");
    if (!exportTo(target))
        QMessageBox::warning(this, tr("Save plot"), tr("Could not write %1.").arg(target));
}

bool PlotWidget::isDark() const
{
    return palette().color(QPalette::Base).lightness() < 128;
}

QColor PlotWidget::textColor() const
{
    return palette().color(QPalette::Text);
}

QColor PlotWidget::backgroundColor() const
{
    return palette().color(QPalette::Base);
}

QColor PlotWidget::seriesColor(int i) const
{
    // A qualitative palette that keeps contrast on white and on near-black backgrounds.
    static const QColor light[] = {QColor(31, 119, 180), QColor(214, 39, 40),  QColor(44, 160, 44),
                                   QColor(255, 127, 14), QColor(148, 103, 189), QColor(140, 86, 75),
                                   QColor(227, 119, 194), QColor(23, 190, 207)};
    static const QColor dark[] = {QColor(100, 170, 240), QColor(255, 110, 100), QColor(110, 215, 110),
                                  QColor(255, 170, 70),  QColor(190, 150, 240), QColor(210, 160, 140),
                                  QColor(250, 150, 220), QColor(90, 220, 235)};
    const int k = ((i % 8) + 8) % 8;
    return isDark() ? dark[k] : light[k];
}

void PlotWidget::applyTheme()
{
    const QColor fg = textColor();
    const QColor bg = backgroundColor();
    QColor grid = fg;
    grid.setAlpha(40);
    QColor subGrid = fg;
    subGrid.setAlpha(18);
    setBackground(bg);
    axisRect()->setBackground(bg);
    for (QCPAxis* axis : axisRect()->axes()) {
        axis->setBasePen(QPen(fg, 1));
        axis->setTickPen(QPen(fg, 1));
        axis->setSubTickPen(QPen(fg, 1));
        axis->setTickLabelColor(fg);
        axis->setLabelColor(fg);
        axis->grid()->setPen(QPen(grid, 1, Qt::SolidLine));
        axis->grid()->setSubGridPen(QPen(subGrid, 1, Qt::DotLine));
        axis->grid()->setZeroLinePen(QPen(grid, 1));
    }
    legend->setBrush(QBrush(bg));
    legend->setBorderPen(QPen(grid));
    legend->setTextColor(fg);
}

void PlotWidget::changeEvent(QEvent* event)
{
    QCustomPlot::changeEvent(event);
    if (event->type() == QEvent::PaletteChange || event->type() == QEvent::StyleChange) {
        applyTheme();
        emit themeChanged();
        requestReplot();
    }
}

void PlotWidget::mouseDoubleClickEvent(QMouseEvent* event)
{
    QCustomPlot::mouseDoubleClickEvent(event);
    resetView();
}

} // namespace ql
