#include "app/models/tensor_filter_proxy.h"

#include "app/models/model_tree_model.h"

#include <cmath>
#include <regex>

namespace ql {

TensorFilterProxy::TensorFilterProxy(QObject* parent) : QSortFilterProxyModel(parent)
{
    setRecursiveFilteringEnabled(true);
    setSortRole(ModelTreeModel::SortKeyRole);
    setDynamicSortFilter(true);
}

void TensorFilterProxy::setPattern(const QString& pattern, PatternKind kind)
{
    m_pattern = pattern.trimmed();
    m_kind = kind;
    std::string p = m_pattern.toStdString();
    if (kind == PatternKind::Glob && p.find_first_of("*?[") == std::string::npos && !p.empty())
        p = "*" + p + "*";
    if (kind == PatternKind::Regex && !p.empty())
        p = ".*(" + p + ").*";  // search semantics: the regex may match anywhere in the name
    m_std = p;
    m_valid = static_cast<bool>(validatePattern(kind, p));
    invalidateFilter();
}

bool TensorFilterProxy::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const
{
    if (m_std.empty() || !m_valid)
        return true;
    const QModelIndex idx = sourceModel()->index(sourceRow, 0, sourceParent);
    if (idx.data(ModelTreeModel::TensorIndexRole).toInt() < 0)
        return false;  // groups stay visible through recursive filtering when a child matches
    const std::string name = idx.data(ModelTreeModel::FullNameRole).toString().toStdString();
    return patternMatches(m_kind, m_std, name);
}

bool TensorFilterProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const
{
    const QVariant a = left.data(sortRole()), b = right.data(sortRole());
    const bool an = a.typeId() == QMetaType::Double || a.typeId() == QMetaType::LongLong;
    const bool bn = b.typeId() == QMetaType::Double || b.typeId() == QMetaType::LongLong;
    if (an && bn) {
        const double x = a.toDouble(), y = b.toDouble();
        // Unknown values (NaN) sort last in ascending order.
        if (std::isnan(x) || std::isnan(y))
            return !std::isnan(x) && std::isnan(y);
        return x < y;
    }
    if (!a.isValid() || !b.isValid())
        return a.isValid() && !b.isValid();
    return QString::localeAwareCompare(a.toString(), b.toString()) < 0;
}

} // namespace ql
