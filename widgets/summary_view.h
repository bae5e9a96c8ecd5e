#pragma once
// Model summary: per-layer SQNR bars and the size breakdown before → after by format.

#include "widgets/plot_data.h"

#include <QWidget>

class QLabel;

namespace ql {

class PlotWidget;

class SummaryView : public QWidget {
    Q_OBJECT
public:
    explicit SummaryView(QWidget* parent = nullptr);
    void setData(const SummaryData& data);
    const SummaryData& data() const { return m_data; }
    PlotWidget* sqnrPlot() const { return m_sqnr; }
    PlotWidget* sizePlot() const { return m_size; }

signals:
    /// A bar was clicked: the layer (tensor) at that position.
    void layerClicked(int layer);

private:
    /// Rebuilds the plot items now if visible, else on the next show (hidden tabs cost nothing).
    void rebuild();
    void rebuildNow();
    void showEvent(QShowEvent* event) override;
    bool m_dirty = false;

    SummaryData m_data;
    PlotWidget* m_sqnr;
    PlotWidget* m_size;
    QLabel* m_info;
};

} // namespace ql
