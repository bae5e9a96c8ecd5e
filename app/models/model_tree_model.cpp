#include "app/models/model_tree_model.h"

#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"
#include "widgets/plot_data.h"

#include <QColor>
#include <QLocale>
#include <QStringList>

#include <cmath>
#include <map>

namespace ql {

ModelTreeModel::ModelTreeModel(Document* doc, QObject* parent) : QAbstractItemModel(parent), m_doc(doc)
{
    connect(doc, &Document::modelChanged, this, [this] {
        beginResetModel();
        rebuild();
        endResetModel();
    });
    connect(doc, &Document::planChanged, this, [this] {
        refreshAggregates();
        emitAllChanged(Size, LayerError);
    });
    connect(doc, &Document::calibrationChanged, this, [this] { emitAllChanged(LayerError, LayerError); });
    beginResetModel();
    rebuild();
    endResetModel();
}

void ModelTreeModel::rebuild()
{
    m_nodes.clear();
    m_nodes.push_back(Node{});
    m_nodeOfTensor.clear();
    m_metrics.clear();
    m_hasMetrics.clear();
    const ModelPtr& model = m_doc->model();
    if (model) {
        const auto& infos = model->tensors();
        m_nodeOfTensor.assign(infos.size(), -1);
        m_metrics.assign(infos.size(), TensorMetrics{});
        m_hasMetrics.assign(infos.size(), false);
        std::map<std::pair<int, QString>, int> groups;
        for (std::size_t t = 0; t < infos.size(); ++t) {
            const TensorInfo& info = infos[t];
            const QString full = QString::fromStdString(info.name);
            QStringList path;
            QString leaf;
            if (!info.layerPath.empty()) {
                for (const auto& p : info.layerPath)
                    path << QString::fromStdString(p);
                leaf = full.section(QLatin1Char('.'), -1);
                if (leaf.isEmpty() || leaf == path.last()) {
                    leaf = path.takeLast();
                }
            } else {
                path = full.split(QLatin1Char('.'));
                leaf = path.takeLast();
            }
            int parent = 0;
            QString prefix;
            for (const QString& part : path) {
                prefix = prefix.isEmpty() ? part : prefix + QLatin1Char('.') + part;
                const auto key = std::make_pair(parent, part);
                auto it = groups.find(key);
                if (it == groups.end()) {
                    Node g;
                    g.parent = parent;
                    g.name = part;
                    g.path = prefix;
                    g.row = static_cast<int>(m_nodes[static_cast<std::size_t>(parent)].children.size());
                    m_nodes.push_back(g);
                    const int id = static_cast<int>(m_nodes.size()) - 1;
                    m_nodes[static_cast<std::size_t>(parent)].children.push_back(id);
                    it = groups.emplace(key, id).first;
                }
                parent = it->second;
            }
            Node n;
            n.parent = parent;
            n.name = leaf;
            n.path = full;
            n.tensor = static_cast<int>(t);
            n.row = static_cast<int>(m_nodes[static_cast<std::size_t>(parent)].children.size());
            m_nodes.push_back(n);
            const int id = static_cast<int>(m_nodes.size()) - 1;
            m_nodes[static_cast<std::size_t>(parent)].children.push_back(id);
            m_nodeOfTensor[t] = id;
        }
    }
    refreshAggregates();
}

std::int64_t ModelTreeModel::bytesAfter(std::size_t t) const
{
    if (!m_doc->model() || t >= m_specs.size())
        return 0;
    const TensorInfo& info = m_doc->model()->tensors()[t];
    const ResolvedSpec& rs = m_specs[t];
    if (!rs.spec)
        return info.bytes;
    return static_cast<std::int64_t>(std::ceil(bitsPerWeight(*rs.spec, info.logicalShape) * double(info.numel) / 8.0));
}

void ModelTreeModel::refreshAggregates()
{
    m_specs.clear();
    m_totals = Totals{};
    const ModelPtr& model = m_doc->model();
    if (!model)
        return;
    const auto& infos = model->tensors();
    m_specs.reserve(infos.size());
    for (const auto& info : infos)
        m_specs.push_back(resolveSpec(m_doc->plan(), info));
    for (Node& n : m_nodes) {
        n.params = n.bytesBefore = n.bytesAfter = 0;
        n.sumX2 = n.sumErr2 = 0.0;
        n.measured = n.tensorsBelow = 0;
    }
    std::map<QString, int> counts;
    std::map<QString, std::int64_t> bytesBy;
    for (std::size_t t = 0; t < infos.size(); ++t) {
        const TensorInfo& info = infos[t];
        const std::int64_t after = bytesAfter(t);
        const bool measured = m_hasMetrics[t] && m_specs[t].spec && m_metrics[t].spec == *m_specs[t].spec;
        QString fmt = m_specs[t].spec ? QString::fromUtf8(formatTraits(m_specs[t].spec->format).displayName.data(),
                                                          static_cast<qsizetype>(formatTraits(m_specs[t].spec->format).displayName.size()))
                                      : QString::fromStdString(info.storedTypeName) + QStringLiteral(" (kept)");
        if (m_specs[t].spec && formatTraits(m_specs[t].spec->format).has(kParamBits))
            fmt = QString::fromStdString(std::string(formatTraits(m_specs[t].spec->format).name)) +
                  QString::number(m_specs[t].spec->bits);
        counts[fmt] += 1;
        bytesBy[fmt] += after;
        for (int id = m_nodeOfTensor[t]; id >= 0; id = m_nodes[static_cast<std::size_t>(id)].parent) {
            Node& n = m_nodes[static_cast<std::size_t>(id)];
            n.params += info.numel;
            n.bytesBefore += info.bytes;
            n.bytesAfter += after;
            n.tensorsBelow += 1;
            if (measured) {
                n.sumX2 += m_metrics[t].sumX2;
                n.sumErr2 += m_metrics[t].sumErr2;
                n.measured += 1;
            }
            if (id == 0)
                break;
        }
    }
    const Node& root = m_nodes[0];
    m_totals.params = root.params;
    m_totals.bytesBefore = root.bytesBefore;
    m_totals.bytesAfter = root.bytesAfter;
    m_totals.bitsPerWeight = root.params > 0 ? 8.0 * double(root.bytesAfter) / double(root.params) : 0.0;
    for (const auto& [k, v] : counts)
        m_totals.countByFormat.emplace_back(k, v);
    for (const auto& [k, v] : bytesBy)
        m_totals.bytesByFormat.emplace_back(k, v);
}

void ModelTreeModel::emitAllChanged(int firstColumn, int lastColumn)
{
    for (const Node& n : m_nodes) {
        if (n.children.empty())
            continue;
        const int first = n.children.front(), last = n.children.back();
        emit dataChanged(createIndex(0, firstColumn, quintptr(first)),
                         createIndex(static_cast<int>(n.children.size()) - 1, lastColumn, quintptr(last)),
                         {Qt::DisplayRole, Qt::ToolTipRole, Qt::BackgroundRole, SortKeyRole, ValueRole});
    }
}

int ModelTreeModel::nodeOf(const QModelIndex& index) const
{
    return index.isValid() ? static_cast<int>(index.internalId()) : 0;
}

QModelIndex ModelTreeModel::index(int row, int column, const QModelIndex& parent) const
{
    if (column < 0 || column >= ColumnCount || row < 0)
        return {};
    if (parent.isValid() && parent.column() != 0)
        return {};
    const int p = nodeOf(parent);
    const auto& ch = m_nodes[static_cast<std::size_t>(p)].children;
    if (row >= static_cast<int>(ch.size()))
        return {};
    return createIndex(row, column, quintptr(ch[static_cast<std::size_t>(row)]));
}

QModelIndex ModelTreeModel::parent(const QModelIndex& child) const
{
    if (!child.isValid())
        return {};
    const int p = m_nodes[static_cast<std::size_t>(nodeOf(child))].parent;
    if (p <= 0)
        return {};
    return createIndex(m_nodes[static_cast<std::size_t>(p)].row, 0, quintptr(p));
}

int ModelTreeModel::rowCount(const QModelIndex& parent) const
{
    if (parent.isValid() && parent.column() != 0)
        return 0;
    return static_cast<int>(m_nodes[static_cast<std::size_t>(nodeOf(parent))].children.size());
}

int ModelTreeModel::columnCount(const QModelIndex&) const
{
    return ColumnCount;
}

Qt::ItemFlags ModelTreeModel::flags(const QModelIndex& index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    return Qt::ItemIsEnabled | Qt::ItemIsSelectable;
}

QVariant ModelTreeModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::ToolTipRole && section == LayerError)
        return tr("Layer-output error ‖XWᵀ − XŴᵀ‖ / ‖XWᵀ‖ on the inputs the calibration set records for "
                  "this layer (choose a set in the Spec panel)");
    if (role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Name: return tr("Name");
    case Shape: return tr("Shape");
    case Stored: return tr("Stored");
    case Params: return tr("Params");
    case Size: return tr("Size now → after");
    case Spec: return tr("Spec");
    case Sqnr: return tr("SQNR");
    case LayerError: return tr("Output error");
    default: return {};
    }
}

QColor ModelTreeModel::sqnrColor(double db)
{
    if (std::isnan(db))
        return {};
    QColor c = db >= 30.0 ? QColor(46, 160, 67) : db >= 20.0 ? QColor(200, 170, 20) : db >= 10.0 ? QColor(230, 120, 20) : QColor(210, 40, 40);
    c.setAlpha(110);
    return c;
}

QVariant ModelTreeModel::tensorData(const Node& n, int column, int role) const
{
    const auto t = static_cast<std::size_t>(n.tensor);
    const TensorInfo& info = m_doc->model()->tensors()[t];
    const ResolvedSpec& rs = m_specs[t];
    const bool measured = m_hasMetrics[t] && rs.spec && m_metrics[t].spec == *rs.spec;
    const double sqnr = measured ? m_metrics[t].sqnrDb : std::numeric_limits<double>::quiet_NaN();
    // A layer-output error shows only while the calibration it was measured with is the one in use.
    const bool calibCurrent = m_metrics[t].calibrationId != 0 && m_metrics[t].calibrationId == m_doc->calibrationIdFor(t);
    const double layerErr = measured && calibCurrent ? m_metrics[t].layerError : std::numeric_limits<double>::quiet_NaN();
    const bool raw = role == SortKeyRole || role == ValueRole;
    switch (column) {
    case Name:
        if (raw)
            return n.name;
        if (role == Qt::ToolTipRole)
            return QString::fromStdString(info.name + (info.note.empty() ? std::string() : "\n" + info.note));
        return n.name;
    case Shape:
        if (raw)
            return QVariant::fromValue<qint64>(info.numel);
        return QString::fromStdString(shapeToString(info.logicalShape));
    case Stored:
        return QString::fromStdString(info.storedTypeName);
    case Params:
        if (raw)
            return QVariant::fromValue<qint64>(info.numel);
        return QLocale().toString(qint64(info.numel));
    case Size:
        if (raw)
            return QVariant::fromValue<qint64>(n.bytesAfter);
        return QString(formatBytes(n.bytesBefore) + QStringLiteral(" → ") + formatBytes(n.bytesAfter));
    case Spec:
        if (!rs.spec) {
            if (raw)
                return QString();
            return rs.skipped ? tr("kept (%1)").arg(QString::fromStdString(info.storedTypeName)) : tr("unsupported");
        }
        if (role == Qt::ToolTipRole)
            return rs.note.isEmpty() ? QString::fromStdString(specShortName(*rs.spec)) : rs.note;
        if (role == Qt::ForegroundRole && rs.fallback)
            return QColor(230, 120, 20);
        return QString(QString::fromStdString(specShortName(*rs.spec)) + (rs.fallback ? QStringLiteral(" ⚠") : QString()));
    case Sqnr:
        if (raw)
            return sqnr;
        if (role == Qt::BackgroundRole)
            return std::isnan(sqnr) ? QVariant() : QVariant(sqnrColor(sqnr));
        return rs.spec ? (measured ? formatDb(sqnr) : tr("…")) : QString();
    case LayerError:
        if (raw)
            return layerErr;
        return std::isnan(layerErr) ? QString() : QStringLiteral("%1 %").arg(100.0 * layerErr, 0, 'g', 3);
    default: return {};
    }
}

QVariant ModelTreeModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || !m_doc->model())
        return {};
    const Node& n = m_nodes[static_cast<std::size_t>(nodeOf(index))];
    if (role == TensorIndexRole)
        return n.tensor;
    if (role == FullNameRole)
        return n.path;
    if (role == Qt::TextAlignmentRole)
        return index.column() == Params || index.column() == Sqnr || index.column() == LayerError ? QVariant(int(Qt::AlignRight | Qt::AlignVCenter)) : QVariant();
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole && role != SortKeyRole && role != ValueRole &&
        role != Qt::BackgroundRole && role != Qt::ForegroundRole)
        return {};
    if (n.tensor >= 0)
        return tensorData(n, index.column(), role);
    // Group rows: aggregates.
    const bool raw = role == SortKeyRole || role == ValueRole;
    const double sqnr = n.measured > 0 && n.sumErr2 > 0.0 ? 10.0 * std::log10(n.sumX2 / n.sumErr2)
                                                           : std::numeric_limits<double>::quiet_NaN();
    switch (index.column()) {
    case Name:
        if (role == Qt::ToolTipRole)
            return tr("%1 (%2 tensors)").arg(n.path).arg(n.tensorsBelow);
        return role == Qt::DisplayRole || raw ? QVariant(n.name) : QVariant();
    case Params:
        if (raw)
            return QVariant::fromValue<qint64>(n.params);
        return role == Qt::DisplayRole ? QVariant(QLocale().toString(qint64(n.params))) : QVariant();
    case Size:
        if (raw)
            return QVariant::fromValue<qint64>(n.bytesAfter);
        return role == Qt::DisplayRole ? QVariant(QString(formatBytes(n.bytesBefore) + QStringLiteral(" → ") + formatBytes(n.bytesAfter))) : QVariant();
    case Sqnr:
        if (raw)
            return sqnr;
        if (role == Qt::BackgroundRole)
            return std::isnan(sqnr) ? QVariant() : QVariant(sqnrColor(sqnr));
        return role == Qt::DisplayRole && n.measured > 0 ? QVariant(formatDb(sqnr)) : QVariant();
    default:
        if (raw)
            return QVariant();
        return {};
    }
}

QModelIndex ModelTreeModel::indexOfTensor(std::size_t t) const
{
    if (t >= m_nodeOfTensor.size())
        return {};
    const int id = m_nodeOfTensor[t];
    return createIndex(m_nodes[static_cast<std::size_t>(id)].row, 0, quintptr(id));
}

std::vector<std::size_t> ModelTreeModel::tensorsUnder(const QModelIndex& index) const
{
    std::vector<std::size_t> out;
    std::vector<int> stack{nodeOf(index)};
    while (!stack.empty()) {
        const int id = stack.back();
        stack.pop_back();
        const Node& n = m_nodes[static_cast<std::size_t>(id)];
        if (n.tensor >= 0)
            out.push_back(static_cast<std::size_t>(n.tensor));
        for (auto it = n.children.rbegin(); it != n.children.rend(); ++it)
            stack.push_back(*it);
    }
    return out;
}

void ModelTreeModel::setMetrics(std::size_t t, const TensorMetrics& m)
{
    if (t >= m_metrics.size())
        return;
    m_metrics[t] = m;
    m_hasMetrics[t] = true;
    refreshAggregates();
    // The tensor row and its ancestors change.
    for (int id = m_nodeOfTensor[t]; id > 0; id = m_nodes[static_cast<std::size_t>(id)].parent) {
        const Node& n = m_nodes[static_cast<std::size_t>(id)];
        emit dataChanged(createIndex(n.row, Sqnr, quintptr(id)), createIndex(n.row, LayerError, quintptr(id)),
                         {Qt::DisplayRole, Qt::BackgroundRole, SortKeyRole, ValueRole});
    }
}

void ModelTreeModel::clearMetrics()
{
    std::fill(m_hasMetrics.begin(), m_hasMetrics.end(), false);
    refreshAggregates();
    emitAllChanged(Sqnr, LayerError);
}

const TensorMetrics* ModelTreeModel::metrics(std::size_t t) const
{
    if (t >= m_metrics.size() || !m_hasMetrics[t])
        return nullptr;
    return &m_metrics[t];
}

bool ModelTreeModel::isCurrent(std::size_t t) const
{
    const TensorMetrics* m = metrics(t);
    if (!m || t >= m_specs.size() || !m_specs[t].spec || m->spec != *m_specs[t].spec)
        return false;
    return m->calibrationId == m_doc->calibrationIdFor(t);
}

} // namespace ql
