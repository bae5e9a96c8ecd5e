#pragma once
// CompareTableModel: the metrics of the Compare view's specs, one row per spec.

#include "widgets/plot_data.h"

#include <QAbstractTableModel>

namespace ql {

class CompareTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Spec, BitsPerWeight, Sqnr, Mse, MaxAbsError, Cosine, ClipPercent, ColumnCount };
    enum Role { SortKeyRole = Qt::UserRole + 1 };

    explicit CompareTableModel(QObject* parent = nullptr);
    void setEntries(const CompareData& data);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    CompareData m_data;
};

} // namespace ql
