#pragma once
// Trade-off view: error (SQNR or layer-output error) or test accuracy vs bits per weight, one
// series per format family, the Pareto front highlighted and the current choice marked.

#include "widgets/plot_data.h"

#include <QWidget>

class QComboBox;
class QLabel;

namespace ql {

class PlotWidget;

class TradeoffView : public QWidget {
    Q_OBJECT
public:
    using Metric = TradeoffMetric;

    explicit TradeoffView(QWidget* parent = nullptr);
    void setData(const TradeoffData& data);
    const TradeoffData& data() const { return m_data; }
    void clear();
    /// Marks the running/finished state ("sweeping 12/30 …").
    void setStatusText(const QString& text);
    /// Chooses the y axis; a metric the data has no values for shows SQNR instead.
    void setMetric(Metric m);
    Metric metric() const;
    /// The metric the chart shows now (the chosen one, or SQNR when the data lacks it).
    Metric shownMetric() const;
    QComboBox* metricBox() const { return m_metric; }
    /// Scope chooser: 0 = selected tensor, 1 = whole model.
    QComboBox* scopeBox() const { return m_scope; }
    PlotWidget* plot() const { return m_plot; }

signals:
    void scopeChanged(int scope);

private:
    /// Rebuilds the plot items now if visible, else on the next show (hidden tabs cost nothing).
    void rebuild();
    void rebuildNow();
    void showEvent(QShowEvent* event) override;
    bool m_dirty = false;
    QString csv() const;

    TradeoffData m_data;
    PlotWidget* m_plot;
    QComboBox* m_scope;
    QComboBox* m_metric;
    QLabel* m_info;
    QString m_status;
};

} // namespace ql
