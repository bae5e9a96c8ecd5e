#pragma once
// Heatmap view: |error| (max-pooled, so the worst spots stay visible) or the weights as a colour
// map of the tensor seen as [rows, rest]; hovering shows the worst element of a cell.

#include "widgets/plot_data.h"

#include <QWidget>

class QComboBox;
class QLabel;
class QCPColorMap;
class QCPColorScale;

namespace ql {

class PlotWidget;

class HeatmapView : public QWidget {
    Q_OBJECT
public:
    enum class Mode { AbsError, Weight };

    explicit HeatmapView(QWidget* parent = nullptr);
    void setData(const HeatmapData& data);
    const HeatmapData& data() const { return m_data; }
    void clear();
    void setMode(Mode mode);
    Mode mode() const;
    /// Cell under plot coordinates (x = column, y = row), or (−1, −1).
    std::pair<int, int> cellAt(double x, double y) const;
    /// The hover text for plot coordinates (empty outside the map).
    QString hoverText(double x, double y) const;
    PlotWidget* plot() const { return m_plot; }

private:
    /// Rebuilds the plot items now if visible, else on the next show (hidden tabs cost nothing).
    void rebuild();
    void rebuildNow();
    void showEvent(QShowEvent* event) override;
    bool m_dirty = false;
    QString csv() const;

    HeatmapData m_data;
    PlotWidget* m_plot;
    QComboBox* m_modeBox;
    QLabel* m_info;
    QCPColorMap* m_map = nullptr;
    QCPColorScale* m_scale = nullptr;
};

} // namespace ql
