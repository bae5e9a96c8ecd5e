#pragma once
// ModelTreeModel: the model's tensors as a tree (layers › tensors) with the plan's spec, sizes
// before → after and the measured error per tensor. Raw numbers go out through Role::SortKey and
// Role::Value; DisplayRole is formatting only.

#include "app/document.h"

#include <QAbstractItemModel>

#include <cmath>
#include <limits>
#include <vector>

namespace ql {

/// Measured error of one tensor under its current spec (from the background summary).
struct TensorMetrics {
    QuantSpec spec;            ///< the spec the numbers belong to
    double sqnrDb = std::numeric_limits<double>::quiet_NaN();
    double sumX2 = 0.0;
    double sumErr2 = 0.0;
    double mse = 0.0;
    double layerError = std::numeric_limits<double>::quiet_NaN();  ///< ‖XWᵀ − XŴᵀ‖/‖XWᵀ‖, calibration only
    std::uint64_t calibrationId = 0;  ///< the calibration layerError belongs to (Document::calibrationIdFor)
};

class ModelTreeModel : public QAbstractItemModel {
    Q_OBJECT
public:
    enum Column { Name, Shape, Stored, Params, Size, Spec, Sqnr, LayerError, ColumnCount };
    enum Role {
        SortKeyRole = Qt::UserRole + 1,  ///< raw value for sorting (number or name)
        ValueRole,                       ///< raw value (double / qint64 / QString)
        TensorIndexRole,                 ///< index into Model::tensors(), −1 for groups
        FullNameRole,                    ///< full tensor name, or the group path
    };

    explicit ModelTreeModel(Document* doc, QObject* parent = nullptr);

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;

    /// Index (column 0) of a tensor, invalid if unknown.
    QModelIndex indexOfTensor(std::size_t tensorIndex) const;
    /// Tensor indices under an index (itself if a tensor), in tree order.
    std::vector<std::size_t> tensorsUnder(const QModelIndex& index) const;

    void setMetrics(std::size_t tensorIndex, const TensorMetrics& m);
    void clearMetrics();
    const TensorMetrics* metrics(std::size_t tensorIndex) const;
    /// The tensor's metrics belong to its current spec and to the calibration that feeds it now.
    bool isCurrent(std::size_t tensorIndex) const;

    /// Totals over the whole model (for the status bar).
    struct Totals {
        std::int64_t params = 0;
        std::int64_t bytesBefore = 0;
        std::int64_t bytesAfter = 0;
        double bitsPerWeight = 0.0;
        std::vector<std::pair<QString, int>> countByFormat;
        std::vector<std::pair<QString, std::int64_t>> bytesByFormat;
    };
    Totals totals() const { return m_totals; }
    /// Bytes after quantization of one tensor under the plan.
    std::int64_t bytesAfter(std::size_t tensorIndex) const;

    /// SQNR colour (green ≥ 30 dB … red < 10 dB) with an alpha that reads on light and dark bases.
    static QColor sqnrColor(double db);

private:
    struct Node {
        int parent = -1;
        int row = 0;
        std::vector<int> children;
        QString name;
        QString path;
        int tensor = -1;
        // Aggregates (groups) or own values (tensors), refreshed on plan/metrics changes.
        std::int64_t params = 0;
        std::int64_t bytesBefore = 0;
        std::int64_t bytesAfter = 0;
        double sumX2 = 0.0;
        double sumErr2 = 0.0;
        int measured = 0;
        int tensorsBelow = 0;
    };
    void rebuild();
    void refreshAggregates();
    void emitAllChanged(int firstColumn, int lastColumn);
    int nodeOf(const QModelIndex& index) const;
    QVariant tensorData(const Node& n, int column, int role) const;

    Document* m_doc;
    std::vector<Node> m_nodes;  // node 0 is the invisible root
    std::vector<int> m_nodeOfTensor;
    std::vector<ResolvedSpec> m_specs;
    std::vector<TensorMetrics> m_metrics;
    std::vector<bool> m_hasMetrics;
    Totals m_totals;
};

} // namespace ql
