#pragma once
// Distribution view: histogram of x (linear or log counts), the quantization levels drawn over it,
// the clipped tails shaded, the zero point marked, and a metrics strip.

#include "widgets/plot_data.h"

#include <QWidget>

class QCheckBox;
class QLabel;

namespace ql {

class PlotWidget;

class DistributionView : public QWidget {
    Q_OBJECT
public:
    explicit DistributionView(QWidget* parent = nullptr);

    void setData(const DistributionData& data);
    const DistributionData& data() const { return m_data; }
    void clear();

    void setLogScale(bool log);
    bool logScale() const;
    PlotWidget* plot() const { return m_plot; }
    /// Levels actually drawn (at most kMaxDrawnLevels, evenly thinned beyond).
    int drawnLevels() const { return m_drawnLevels; }
    QString infoText() const;

    static constexpr int kMaxDrawnLevels = 512;

private:
    /// Rebuilds the plot items now if visible, else on the next show (hidden tabs cost nothing).
    void rebuild();
    void rebuildNow();
    void showEvent(QShowEvent* event) override;
    bool m_dirty = false;
    QString csv() const;

    DistributionData m_data;
    bool m_hasData = false;
    int m_drawnLevels = 0;
    PlotWidget* m_plot;
    QCheckBox* m_log;
    QLabel* m_info;
};

} // namespace ql
