#pragma once
// Error view: histogram of x − x̂, the MSE split into clipping and rounding, and the landscape
// "error vs clipping threshold" (total, clipping part, rounding part) with the thresholds that
// min-max, percentile, MSE and KL pick marked, the current one highlighted.

#include "widgets/plot_data.h"

#include <QWidget>

class QLabel;
class QCheckBox;

namespace ql {

class PlotWidget;

class ErrorView : public QWidget {
    Q_OBJECT
public:
    explicit ErrorView(QWidget* parent = nullptr);

    void setData(const ErrorData& data);
    const ErrorData& data() const { return m_data; }
    void clear();
    PlotWidget* histogramPlot() const { return m_hist; }
    PlotWidget* landscapePlot() const { return m_land; }
    QString splitText() const;
    void setLogScale(bool log);

private:
    /// Rebuilds the plot items now if visible, else on the next show (hidden tabs cost nothing).
    void rebuild();
    void rebuildNow();
    void showEvent(QShowEvent* event) override;
    bool m_dirty = false;
    QString histCsv() const;
    QString landscapeCsv() const;

    ErrorData m_data;
    bool m_hasData = false;
    PlotWidget* m_hist;
    PlotWidget* m_land;
    QLabel* m_split;
    QCheckBox* m_log;
};

} // namespace ql
