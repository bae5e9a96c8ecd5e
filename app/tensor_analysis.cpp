#include "app/tensor_analysis.h"

#include "core/quant/format_traits.h"
#include "core/quant/landscape.h"
#include "core/quant/layout.h"

#include <QElapsedTimer>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <mutex>
#include <vector>

namespace ql {

namespace {
bool isFinite(float v)
{
    return std::fabs(v) <= FLT_MAX;
}

// Results of recent analyses, kept so the next analysis can reuse their tensor-sized buffers
// (QuantOptions::recycle) once the views have let go of them. A result is idle when the pool
// holds the only reference; nothing else can then copy it, so the check cannot race.
class ResultPool {
public:
    std::shared_ptr<QuantResult> takeIdle(std::size_t n)
    {
        std::lock_guard lock(m_mutex);
        auto best = m_held.end();
        for (auto it = m_held.begin(); it != m_held.end(); ++it)
            if (it->use_count() == 1 && (best == m_held.end() || (*it)->dequant.size() == n))
                best = it;
        if (best == m_held.end())
            return nullptr;
        auto r = std::move(*best);
        m_held.erase(best);
        return r;
    }

    void keep(const std::shared_ptr<QuantResult>& r)
    {
        std::lock_guard lock(m_mutex);
        m_held.push_back(r);
        // The views hold the current result and the compare slots their own; two spare results
        // cover an edit while the previous one is still drawn.
        while (m_held.size() > kKeep) {
            auto idle = std::find_if(m_held.begin(), m_held.end(), [](const auto& p) { return p.use_count() == 1; });
            m_held.erase(idle != m_held.end() ? idle : m_held.begin());
        }
    }

private:
    static constexpr std::size_t kKeep = 3;
    std::mutex m_mutex;
    std::vector<std::shared_ptr<QuantResult>> m_held;
};

ResultPool& resultPool()
{
    static ResultPool pool;
    return pool;
}
} // namespace

DistributionData makeDistribution(const QuantResult& r, const QString& title)
{
    DistributionData d;
    d.hist = r.histX;
    d.title = title;
    d.finite = r.metrics.finite;
    d.clipped = r.metrics.clipped;
    d.nonfinite = r.metrics.nonfinite;
    // The widest segment shows the most levels over the histogram.
    std::int64_t seg = 0;
    if (!r.scales.empty()) {
        float best = -1.0f;
        for (std::size_t s = 0; s < r.scales.size(); ++s)
            if (r.scales[s] > best) {
                best = r.scales[s];
                seg = static_cast<std::int64_t>(s);
            }
    }
    d.levels = gridLevels(r, seg);
    const std::int64_t segments = r.layout.segments;
    if (segments > 1)
        d.levelsNote = QStringLiteral("grid of segment %1 of %2, the widest").arg(seg).arg(segments);
    if (r.ranges.size() == 1) {
        d.hasClip = true;
        d.clipLo = r.ranges[0].lo;
        d.clipHi = r.ranges[0].hi;
    } else if (r.ranges.size() > 1) {
        // Many segments: shade what lies outside every segment's range (the union), since the
        // histogram is of the whole tensor.
        d.hasClip = true;
        d.clipLo = r.ranges[0].lo;
        d.clipHi = r.ranges[0].hi;
        for (const ClipRange& cr : r.ranges) {
            d.clipLo = std::min<double>(d.clipLo, cr.lo);
            d.clipHi = std::max<double>(d.clipHi, cr.hi);
        }
        d.levelsNote += QStringLiteral("; shaded: outside the union of all %1 clip ranges").arg(r.ranges.size());
    }
    if (!r.zeroPoints.empty() && static_cast<std::size_t>(seg) < r.zeroPoints.size()) {
        d.hasZeroPoint = true;
        d.zeroPointCode = r.zeroPoints[static_cast<std::size_t>(seg)];
    } else if (r.spec.format == Format::Int) {
        d.hasZeroPoint = true;
        d.zeroPointCode = 0.0;
    }
    const Metrics& m = r.metrics;
    d.metricsText = QStringLiteral("SQNR %1 · MSE %2 · RMSE %3 · max |err| %4 · cosine %5 · %6 bits/weight")
                        .arg(formatDb(m.sqnrDb))
                        .arg(m.mse, 0, 'g', 4)
                        .arg(m.rmse, 0, 'g', 4)
                        .arg(m.maxAbsError, 0, 'g', 4)
                        .arg(m.cosine, 0, 'f', 6)
                        .arg(r.bitsPerWeight, 0, 'f', 3);
    return d;
}

ChannelData makeChannelData(const TensorView& x, const QuantResult& r, int axis)
{
    ChannelData c;
    c.axis = axis;
    auto L = makeLayout(x.shape, Granularity{GranularityKind::Channel, axis, 128});
    if (!L || r.dequant.size() != static_cast<std::size_t>(x.numel()))
        return c;
    const std::int64_t n = L->channels;
    c.lo.assign(static_cast<std::size_t>(n), 0.0);
    c.hi.assign(static_cast<std::size_t>(n), 0.0);
    c.absmax.assign(static_cast<std::size_t>(n), 0.0);
    c.sqnrDb.assign(static_cast<std::size_t>(n), 0.0);
    c.mse.assign(static_cast<std::size_t>(n), 0.0);
    const float* xd = x.data;
    const float* qd = r.dequant.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t ch = 0; ch < n; ++ch) {
        float lo = FLT_MAX, hi = -FLT_MAX;
        double sx = 0.0, se = 0.0;
        std::int64_t cnt = 0;
        const std::int64_t base = L->runBase(ch);
        for (std::int64_t run = 0; run < L->nRuns; ++run) {
            const float* px = xd + base + run * L->runStride;
            const float* pq = qd + base + run * L->runStride;
            for (std::int64_t k = 0; k < L->runLength; ++k) {
                const float v = px[k];
                if (!isFinite(v))
                    continue;
                lo = std::min(lo, v);
                hi = std::max(hi, v);
                const double d = double(v) - double(pq[k]);
                sx += double(v) * double(v);
                se += d * d;
                ++cnt;
            }
        }
        const auto i = static_cast<std::size_t>(ch);
        if (cnt == 0) {
            lo = hi = 0.0f;
        }
        c.lo[i] = lo;
        c.hi[i] = hi;
        c.absmax[i] = std::max(std::fabs(double(lo)), std::fabs(double(hi)));
        c.mse[i] = cnt ? se / double(cnt) : 0.0;
        c.sqnrDb[i] = se > 0.0 ? 10.0 * std::log10(sx / se)
                               : (sx > 0.0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN());
    }
    // Clip range per channel: the union over the result's segments in that channel.
    if (!r.ranges.empty()) {
        c.clipLo.assign(static_cast<std::size_t>(n), 0.0);
        c.clipHi.assign(static_cast<std::size_t>(n), 0.0);
        const SegmentLayout& RL = r.layout;
        const bool sameAxis = RL.kind != GranularityKind::Tensor && RL.channels == n &&
                              (RL.axis == axis || RL.axis - static_cast<int>(x.shape.size()) == axis ||
                               axis - static_cast<int>(x.shape.size()) == RL.axis);
        for (std::int64_t ch = 0; ch < n; ++ch) {
            double lo = 0.0, hi = 0.0;
            if (RL.kind == GranularityKind::Tensor || !sameAxis) {
                lo = r.ranges[0].lo;
                hi = r.ranges[0].hi;
                if (!sameAxis && RL.kind != GranularityKind::Tensor) {
                    lo = std::numeric_limits<double>::quiet_NaN();
                    hi = lo;
                }
            } else {
                lo = std::numeric_limits<double>::infinity();
                hi = -lo;
                for (std::int64_t g = 0; g < RL.groupsPerChannel; ++g) {
                    const auto& cr = r.ranges[static_cast<std::size_t>(ch * RL.groupsPerChannel + g)];
                    lo = std::min(lo, double(cr.lo));
                    hi = std::max(hi, double(cr.hi));
                }
            }
            c.clipLo[static_cast<std::size_t>(ch)] = lo;
            c.clipHi[static_cast<std::size_t>(ch)] = hi;
        }
    }
    return c;
}

HeatmapData makeHeatmap(const std::shared_ptr<const Tensor>& x, const std::shared_ptr<const QuantResult>& r,
                        int maxRows, int maxCols)
{
    HeatmapData h;
    h.x = x;
    h.result = r;
    const std::int64_t n = x->numel();
    if (n == 0 || r->dequant.size() != static_cast<std::size_t>(n))
        return h;
    h.srcRows = x->shape.size() >= 2 ? x->shape[0] : 1;
    h.srcCols = n / h.srcRows;
    h.rows = static_cast<int>(std::min<std::int64_t>(h.srcRows, maxRows));
    h.cols = static_cast<int>(std::min<std::int64_t>(h.srcCols, maxCols));
    const std::size_t cells = static_cast<std::size_t>(h.rows) * static_cast<std::size_t>(h.cols);
    h.weight.assign(cells, 0.0f);
    h.absError.assign(cells, 0.0f);
    h.worstIndex.assign(cells, -1);
    const float* xd = x->data.data();
    const float* qd = r->dequant.data();
    const std::int64_t R = h.srcRows, C = h.srcCols;
    const int rows = h.rows, cols = h.cols;
    // Cell (i, j) covers source rows [i·R/rows, (i+1)·R/rows) and the same for columns.
#pragma omp parallel for schedule(dynamic, 4)
    for (int i = 0; i < rows; ++i) {
        const std::int64_t r0 = std::int64_t(i) * R / rows, r1 = std::int64_t(i + 1) * R / rows;
        for (int j = 0; j < cols; ++j) {
            const std::int64_t c0 = std::int64_t(j) * C / cols, c1 = std::int64_t(j + 1) * C / cols;
            float bestErr = -1.0f, bestAbs = -1.0f, wv = 0.0f;
            std::int64_t worst = r0 * C + c0;
            for (std::int64_t rr = r0; rr < r1; ++rr) {
                const float* px = xd + rr * C;
                const float* pq = qd + rr * C;
                for (std::int64_t cc = c0; cc < c1; ++cc) {
                    const float v = px[cc];
                    if (!isFinite(v))
                        continue;
                    const float e = std::fabs(v - pq[cc]);
                    if (e > bestErr) {
                        bestErr = e;
                        worst = rr * C + cc;
                    }
                    if (std::fabs(v) > bestAbs) {
                        bestAbs = std::fabs(v);
                        wv = v;
                    }
                }
            }
            const std::size_t k = static_cast<std::size_t>(i) * static_cast<std::size_t>(cols) + static_cast<std::size_t>(j);
            h.weight[k] = wv;
            h.absError[k] = std::max(bestErr, 0.0f);
            h.worstIndex[k] = worst;
        }
    }
    return h;
}

Result<TensorAnalysis> analyzeTensor(const std::shared_ptr<const Tensor>& tensor, const std::string& name,
                                     const QuantSpec& spec, const AnalysisOptions& options, TaskContext& ctx,
                                     const AnalysisCalibration& calibration)
{
    QElapsedTimer timer;
    timer.start();
    TensorAnalysis a;
    a.tensorName = name;
    a.spec = spec;
    QuantOptions qo;
    qo.histogramBins = options.histogramBins;
    qo.keepCodes = true;
    qo.keepDequant = true;
    const std::shared_ptr<QuantResult> spare = resultPool().takeIdle(static_cast<std::size_t>(tensor->numel()));
    qo.recycle = spare.get();
    Result<QuantResult> r = quantize(tensor->view(), spec, qo, ctx);
    if (!r)
        return std::move(r).error();
    auto result = std::make_shared<QuantResult>(std::move(*r));
    if (tensor->numel() >= (std::int64_t(1) << 20))
        resultPool().keep(result);
    a.result = result;
    const QString title = QString::fromStdString(name + "  ·  " + specShortName(spec));
    a.distribution = makeDistribution(*result, title);
    if (calibration.applies()) {
        a.calibrationId = calibration.set->id;
        a.layerError = layerErrorOf(*calibration.set, calibration.tensorIndex, tensor->view(), result->dequant);
        if (!std::isnan(a.layerError))
            a.distribution.metricsText += QStringLiteral(" · layer-output error %1 % (%2 samples)")
                                              .arg(100.0 * a.layerError, 0, 'g', 3)
                                              .arg(calibration.set->samples);
    }
    a.error.histErr = result->histErr;
    a.error.mse = result->metrics.mse;
    a.error.clipMse = result->metrics.clipMse;
    a.error.roundMse = result->metrics.roundMse;
    a.error.sqnrDb = result->metrics.sqnrDb;
    a.error.maxAbsError = result->metrics.maxAbsError;
    a.error.title = title;
    if (ctx.cancelled())
        return makeError(ErrorCode::Cancelled, "cancelled");
    if (options.landscape) {
        Result<ClipLandscape> land = computeClipLandscape(tensor->view(), spec, options.landscapeOptions, ctx);
        if (!land && land.error().code == ErrorCode::Cancelled)
            return std::move(land).error();
        if (land)
            a.error.landscape = std::move(*land);
    }
    if (ctx.cancelled())
        return makeError(ErrorCode::Cancelled, "cancelled");
    if (options.channels && !tensor->shape.empty()) {
        int axis = spec.granularity.kind == GranularityKind::Tensor ? 0 : spec.granularity.axis;
        const int rank = static_cast<int>(tensor->shape.size());
        if (axis < 0)
            axis += rank;
        if (spec.granularity.kind == GranularityKind::Group && spec.granularity.axis < 0)
            axis = 0;  // block formats group along the last axis; rows are the channels
        axis = std::clamp(axis, 0, rank - 1);
        a.channels = makeChannelData(tensor->view(), *result, axis);
        a.channels.title = title;
    }
    if (ctx.cancelled())
        return makeError(ErrorCode::Cancelled, "cancelled");
    if (options.heatmap) {
        a.heatmap = makeHeatmap(tensor, result, options.heatmapMaxRows, options.heatmapMaxCols);
        a.heatmap.title = title;
    }
    a.elapsedMs = double(timer.nsecsElapsed()) / 1e6;
    return a;
}

} // namespace ql
