#pragma once
// PlotWidget: a QCustomPlot with the behaviour every QuantLens plot shares: wheel zoom and drag
// pan, double-click or menu "Reset view", a context menu to save PNG/SVG/PDF and copy the data as
// CSV, and colours taken from the palette so it reads in light and dark themes.

#include "widgets/qcp.h"

#include <functional>

namespace ql {

class PlotWidget : public QCustomPlot {
    Q_OBJECT
public:
    explicit PlotWidget(QWidget* parent = nullptr);

    /// The CSV text "Copy data as CSV" puts on the clipboard (header line first).
    void setCsvProvider(std::function<QString()> provider) { m_csv = std::move(provider); }
    QString csvData() const { return m_csv ? m_csv() : QString(); }

    /// Ranges "Reset view" returns to (set by the view after each rebuild).
    void setHomeRanges(const QCPRange& x, const QCPRange& y);
    void setHomeRanges(const QCPRange& x, const QCPRange& y, const QCPRange& y2);
    void resetView();

    /// Writes the plot by suffix (.png, .svg, .pdf). False on failure.
    bool exportTo(const QString& path, int width = 0, int height = 0);

    /// Styles axes, grid, legend and background from the widget palette.
    void applyTheme();
    /// Series colour i (a qualitative palette adjusted to the background lightness).
    QColor seriesColor(int i) const;
    QColor textColor() const;
    QColor backgroundColor() const;
    bool isDark() const;

    /// Coalesced replot.
    void requestReplot() { replot(QCustomPlot::rpQueuedReplot); }

    /// The context menu (built on demand; exposed for tests).
    QMenu* createContextMenu();

signals:
    /// The palette changed: views rebuild their items with the new colours.
    void themeChanged();

protected:
    void changeEvent(QEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;

private:
    void saveAs();
    std::function<QString()> m_csv;
    QCPRange m_homeX{0, 1}, m_homeY{0, 1}, m_homeY2{0, 1};
    bool m_hasY2 = false;
};

} // namespace ql
