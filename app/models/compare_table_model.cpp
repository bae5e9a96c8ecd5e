#include "app/models/compare_table_model.h"

#include <cmath>

namespace ql {

CompareTableModel::CompareTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void CompareTableModel::setEntries(const CompareData& data)
{
    beginResetModel();
    m_data = data;
    endResetModel();
}

int CompareTableModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_data.entries.size());
}

int CompareTableModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant CompareTableModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount)
        return {};
    const CompareEntry& e = m_data.entries[static_cast<std::size_t>(index.row())];
    const Metrics& m = e.metrics;
    const bool failed = !e.error.isEmpty();
    double v = 0.0;
    switch (index.column()) {
    case Spec:
        if (role == Qt::DisplayRole || role == SortKeyRole)
            return e.label;
        if (role == Qt::ToolTipRole && failed)
            return e.error;
        return {};
    case BitsPerWeight: v = e.bitsPerWeight; break;
    case Sqnr: v = m.sqnrDb; break;
    case Mse: v = m.mse; break;
    case MaxAbsError: v = m.maxAbsError; break;
    case Cosine: v = m.cosine; break;
    case ClipPercent: v = 100.0 * m.clipFraction; break;
    default: return {};
    }
    if (role == SortKeyRole)
        return failed ? std::nan("") : v;
    if (role == Qt::TextAlignmentRole)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole)
        return {};
    if (failed)
        return QStringLiteral("—");
    switch (index.column()) {
    case BitsPerWeight: return QString::number(v, 'f', 3);
    case Sqnr: return formatDb(v);
    case Cosine: return QString::number(v, 'f', 6);
    case ClipPercent: return QString::number(v, 'g', 3);
    default: return QString::number(v, 'g', 4);
    }
}

QVariant CompareTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char* names[] = {"spec", "bits/weight", "SQNR", "MSE", "max |err|", "cosine", "clipped %"};
    if (section < 0 || section >= ColumnCount)
        return {};
    return tr(names[section]);
}

} // namespace ql
