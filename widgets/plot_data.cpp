#include "widgets/plot_data.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ql {

double tradeoffValue(const TradeoffPoint& p, TradeoffMetric metric)
{
    switch (metric) {
    case TradeoffMetric::Sqnr: return p.sqnrDb;
    case TradeoffMetric::LayerError: return 100.0 * p.layerError;
    case TradeoffMetric::Accuracy: return p.accuracy >= 0.0 ? 100.0 * p.accuracy : std::numeric_limits<double>::quiet_NaN();
    }
    return std::numeric_limits<double>::quiet_NaN();
}

bool TradeoffData::has(TradeoffMetric metric) const
{
    for (const auto& p : points)
        if (!std::isnan(tradeoffValue(p, metric)))
            return true;
    return false;
}

std::vector<int> paretoFront(const std::vector<TradeoffPoint>& points, TradeoffMetric metric)
{
    // Quality is "higher is better" for every metric: the layer-output error enters negated.
    const double sign = metric == TradeoffMetric::LayerError ? -1.0 : 1.0;
    auto quality = [metric, sign](const TradeoffPoint& p) { return sign * tradeoffValue(p, metric); };
    std::vector<int> order(points.size());
    std::iota(order.begin(), order.end(), 0);
    // Ascending bits; among equal bits the best quality first, so only it can enter the front.
    std::sort(order.begin(), order.end(), [&](int a, int b) {
        const auto& pa = points[static_cast<std::size_t>(a)];
        const auto& pb = points[static_cast<std::size_t>(b)];
        if (pa.bitsPerWeight != pb.bitsPerWeight)
            return pa.bitsPerWeight < pb.bitsPerWeight;
        return quality(pa) > quality(pb);
    });
    std::vector<int> front;
    double best = -std::numeric_limits<double>::infinity();
    for (int i : order) {
        const double q = quality(points[static_cast<std::size_t>(i)]);
        if (std::isnan(q))
            continue;
        if (q > best) {
            front.push_back(i);
            best = q;
        }
    }
    return front;
}

QString formatBytes(std::int64_t bytes)
{
    const double b = double(bytes);
    if (b < 1024.0)
        return QStringLiteral("%1 B").arg(bytes);
    if (b < 1024.0 * 1024.0)
        return QStringLiteral("%1 KiB").arg(b / 1024.0, 0, 'f', 1);
    if (b < 1024.0 * 1024.0 * 1024.0)
        return QStringLiteral("%1 MiB").arg(b / (1024.0 * 1024.0), 0, 'f', 1);
    return QStringLiteral("%1 GiB").arg(b / (1024.0 * 1024.0 * 1024.0), 0, 'f', 2);
}

QString formatDb(double db)
{
    if (std::isnan(db))
        return QStringLiteral("—");
    if (std::isinf(db))
        return db > 0 ? QStringLiteral("∞ dB") : QStringLiteral("−∞ dB");
    return QStringLiteral("%1 dB").arg(db, 0, 'f', 1);
}

QString heatmapCellText(const HeatmapData& h, int cellRow, int cellCol)
{
    if (cellRow < 0 || cellCol < 0 || cellRow >= h.rows || cellCol >= h.cols || !h.x || !h.result)
        return {};
    const std::size_t k = static_cast<std::size_t>(cellRow) * static_cast<std::size_t>(h.cols) + static_cast<std::size_t>(cellCol);
    const std::int64_t idx = h.worstIndex[k];
    if (idx < 0)
        return {};
    const float v = h.x->data[static_cast<std::size_t>(idx)];
    const float q = h.result->dequant[static_cast<std::size_t>(idx)];
    QString code = QStringLiteral("—");
    if (h.result->codes.size() == h.x->data.size())
        code = QString::number(h.result->codes[static_cast<std::size_t>(idx)]);
    const std::int64_t row = idx / std::max<std::int64_t>(h.srcCols, 1), col = idx % std::max<std::int64_t>(h.srcCols, 1);
    return QStringLiteral("element [%1, %2] (worst in this cell)\nvalue x = %3\ncode q = %4\nx̂ = %5\nerror x − x̂ = %6")
        .arg(row)
        .arg(col)
        .arg(double(v), 0, 'g', 7)
        .arg(code)
        .arg(double(q), 0, 'g', 7)
        .arg(double(v) - double(q), 0, 'g', 5);
}

} // namespace ql
