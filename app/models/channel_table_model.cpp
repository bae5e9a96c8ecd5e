#include "app/models/channel_table_model.h"

#include "app/models/model_tree_model.h"

#include <QColor>

#include <cmath>
#include <limits>

namespace ql {

ChannelTableModel::ChannelTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void ChannelTableModel::setChannels(const ChannelData& data)
{
    beginResetModel();
    m_data = data;
    endResetModel();
}

int ChannelTableModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : m_data.size();
}

int ChannelTableModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

double ChannelTableModel::value(int row, int column) const
{
    const auto i = static_cast<std::size_t>(row);
    switch (column) {
    case Channel: return row;
    case Min: return m_data.lo[i];
    case Max: return m_data.hi[i];
    case AbsMax: return m_data.absmax[i];
    case ClipLo: return i < m_data.clipLo.size() ? m_data.clipLo[i] : std::nan("");
    case ClipHi: return i < m_data.clipHi.size() ? m_data.clipHi[i] : std::nan("");
    case Sqnr: return m_data.sqnrDb[i];
    case Mse: return m_data.mse[i];
    default: return std::nan("");
    }
}

QVariant ChannelTableModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= m_data.size() || index.column() >= ColumnCount)
        return {};
    const double v = value(index.row(), index.column());
    if (role == SortKeyRole)
        return std::isnan(v) ? -std::numeric_limits<double>::infinity() : v;
    if (role == Qt::TextAlignmentRole)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::BackgroundRole && index.column() == Sqnr)
        return std::isnan(v) ? QVariant() : QVariant(ModelTreeModel::sqnrColor(v));
    if (role != Qt::DisplayRole)
        return {};
    if (index.column() == Channel)
        return index.row();
    if (index.column() == Sqnr)
        return formatDb(v);
    if (std::isnan(v))
        return QStringLiteral("—");
    return QString::number(v, 'g', 5);
}

QVariant ChannelTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char* names[] = {"channel", "min", "max", "max |x|", "clip lo", "clip hi", "SQNR", "MSE"};
    if (section < 0 || section >= ColumnCount)
        return {};
    return tr(names[section]);
}

} // namespace ql
