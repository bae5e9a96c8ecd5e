#pragma once
// Filters the model tree by tensor name (glob or regex) and sorts on raw SortKey values.

#include "core/quant/plan.h"

#include <QSortFilterProxyModel>

namespace ql {

class TensorFilterProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit TensorFilterProxy(QObject* parent = nullptr);

    /// Glob ("*mlp*"; a glob without wildcards matches as a substring) or regex (searched).
    void setPattern(const QString& pattern, PatternKind kind);
    QString pattern() const { return m_pattern; }
    PatternKind patternKind() const { return m_kind; }
    /// False when the regex does not compile (nothing is filtered then).
    bool patternValid() const { return m_valid; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

private:
    QString m_pattern;
    std::string m_std;
    PatternKind m_kind = PatternKind::Glob;
    bool m_valid = true;
};

} // namespace ql
