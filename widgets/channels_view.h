#pragma once
// Channels view: per-channel min/max (with the clip range) and per-channel SQNR, orderable by
// index, range or SQNR, above a sortable table (an item model set by the app).

#include "widgets/plot_data.h"

#include <QWidget>

class QAbstractItemModel;
class QComboBox;
class QLabel;
class QTableView;

namespace ql {

class PlotWidget;

class ChannelsView : public QWidget {
    Q_OBJECT
public:
    enum class Order { Index, Range, Sqnr };

    explicit ChannelsView(QWidget* parent = nullptr);

    void setData(const ChannelData& data);
    const ChannelData& data() const { return m_data; }
    void clear();
    void setTableModel(QAbstractItemModel* model);
    void setOrder(Order order);
    /// Channel indices in plot order.
    const std::vector<int>& plotOrder() const { return m_order; }
    PlotWidget* plot() const { return m_plot; }
    QTableView* table() const { return m_table; }

private:
    /// Rebuilds the plot items now if visible, else on the next show (hidden tabs cost nothing).
    void rebuild();
    void rebuildNow();
    void showEvent(QShowEvent* event) override;
    bool m_dirty = false;
    QString csv() const;

    ChannelData m_data;
    std::vector<int> m_order;
    PlotWidget* m_plot;
    QComboBox* m_orderBox;
    QTableView* m_table;
    QLabel* m_info;
};

} // namespace ql
