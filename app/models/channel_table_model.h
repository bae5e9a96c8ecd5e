#pragma once
// ChannelTableModel: per-channel statistics of the current tensor as a sortable table.

#include "widgets/plot_data.h"

#include <QAbstractTableModel>

namespace ql {

class ChannelTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Channel, Min, Max, AbsMax, ClipLo, ClipHi, Sqnr, Mse, ColumnCount };
    enum Role { SortKeyRole = Qt::UserRole + 1 };

    explicit ChannelTableModel(QObject* parent = nullptr);
    /// New snapshot: resets the model.
    void setChannels(const ChannelData& data);
    const ChannelData& channels() const { return m_data; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    double value(int row, int column) const;
    ChannelData m_data;
};

} // namespace ql
