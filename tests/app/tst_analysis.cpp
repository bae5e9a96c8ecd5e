// The analysis behind the views (distribution, error split, channels, heatmap, layer-output error)
// and the core clip-error landscape it draws; the trade-off sweeps.

#include "app/bound_calibration.h"
#include "app/controllers/sweep.h"
#include "app/tensor_analysis.h"
#include "core/base/random.h"
#include "core/quant/landscape.h"
#include "core/quant/range.h"
#include "fixture_model.h"

#include <QTest>

#include <cmath>
#include <map>

using namespace ql;

namespace {
std::shared_ptr<const Tensor> studentT(std::int64_t rows, std::int64_t cols, std::uint64_t seed)
{
    auto t = std::make_shared<Tensor>(Shape{rows, cols});
    Rng rng(seed);
    for (auto& v : t->data)
        v = float(rng.studentT(3) * 0.02);
    return t;
}
} // namespace

class TstAnalysis : public QObject {
    Q_OBJECT
private slots:
    void landscapeSplitsAndMarkers()
    {
        const auto t = studentT(128, 256, 3);
        QuantSpec s;
        s.bits = 4;
        s.range.kind = RangeKind::Mse;
        Result<ClipLandscape> L = computeClipLandscape(t->view(), s);
        QVERIFY(L.has_value());
        QCOMPARE(int(L->points.size()), 64);
        QCOMPARE(L->points.back().ratio, 1.0);
        QCOMPARE(L->samples, t->numel());  // small enough: no subsampling
        // At f = 1 nothing is clipped; the total is the sum of its parts everywhere.
        QCOMPARE(L->points.back().clipMse, 0.0);
        for (const auto& p : L->points) {
            QVERIFY(std::fabs(p.mse - (p.clipMse + p.roundMse)) <= 1e-12 * std::max(1.0, p.mse));
            QVERIFY(p.clipMse >= 0.0 && p.roundMse >= 0.0);
        }
        // Clipping error grows as the threshold shrinks; rounding error shrinks.
        QVERIFY(L->points.front().clipMse > L->points[40].clipMse);
        QVERIFY(L->points.front().roundMse < L->points.back().roundMse);
        // The per-tensor f = 1 point equals the exact integer error of the min-max range.
        IntGrid g{4, Scheme::Asymmetric, Rounding::HalfEven};
        const FiniteRange fr = finiteRange(t->data.data(), t->numel());
        const double exact = intClipError(t->data.data(), t->numel(), std::min(fr.lo, 0.0f), std::max(fr.hi, 0.0f), g) /
                             double(t->numel());
        QVERIFY(std::fabs(L->points.back().mse - exact) <= 1e-6 * exact);
        // Markers: min-max, percentile, MSE, KL; the spec's own (MSE) is current, and the MSE
        // marker is no worse than min-max on heavy tails.
        QCOMPARE(int(L->markers.size()), 4);
        QCOMPARE(L->markers[0].ratio, 1.0);
        QCOMPARE(L->currentMarker, 2);
        QCOMPARE(L->markers[2].kind, RangeKind::Mse);
        QVERIFY(L->markers[2].mse <= L->markers[0].mse);
        for (const auto& m : L->markers)
            QVERIFY(m.ratio > 0.0 && m.ratio <= 1.0);
    }

    void landscapeSubsamplesDeterministically()
    {
        const auto t = studentT(512, 1024, 5);
        QuantSpec s;
        s.bits = 3;
        s.granularity = Granularity{GranularityKind::Channel, 0, 128};
        LandscapeOptions o;
        o.maxSamples = 1 << 16;
        Result<ClipLandscape> a = computeClipLandscape(t->view(), s, o);
        Result<ClipLandscape> b = computeClipLandscape(t->view(), s, o);
        QVERIFY(a && b);
        QVERIFY(a->samples <= o.maxSamples && a->samples > 0);
        QCOMPARE(a->granularity, GranularityKind::Channel);
        for (std::size_t i = 0; i < a->points.size(); ++i)
            QCOMPARE(a->points[i].mse, b->points[i].mse);
    }

    void landscapeCancels()
    {
        const auto t = studentT(64, 64, 1);
        TaskContext ctx;
        ctx.isCancelled = [] { return true; };
        Result<ClipLandscape> L = computeClipLandscape(t->view(), QuantSpec{}, {}, ctx);
        QVERIFY(!L.has_value());
        QCOMPARE(L.error().code, ErrorCode::Cancelled);
    }

    void analysisSnapshots()
    {
        const auto t = studentT(64, 96, 9);
        QuantSpec s;
        s.bits = 4;
        Result<TensorAnalysis> a = analyzeTensor(t, "w", s, AnalysisOptions{}, TaskContext::none());
        QVERIFY(a.has_value());
        const DistributionData& d = a->distribution;
        QCOMPARE(d.hist.total(), t->numel());
        QCOMPARE(int(d.levels.size()), 16);
        QVERIFY(d.hasClip);
        const FiniteRange fr = finiteRange(t->data.data(), t->numel());
        QCOMPARE(d.clipLo, double(fr.lo));
        QCOMPARE(d.clipHi, double(fr.hi));
        QVERIFY(d.hasZeroPoint);
        // Error split adds up; histogram of errors holds every finite element.
        const ErrorData& e = a->error;
        QVERIFY(std::fabs(e.mse - (e.clipMse + e.roundMse)) <= 1e-12);
        QCOMPARE(e.histErr.total(), t->numel());
        QVERIFY(e.landscape.has_value());
        // Channels along axis 0 (per-tensor spec): 64 rows, SQNR per row.
        QCOMPARE(a->channels.size(), 64);
        // Heatmap: whole tensor fits, one element per cell, worst index is the element itself.
        QCOMPARE(a->heatmap.rows, 64);
        QCOMPARE(a->heatmap.cols, 96);
        QCOMPARE(a->heatmap.worstIndex[5 * 96 + 7], qint64(5 * 96 + 7));
        const QString hover = heatmapCellText(a->heatmap, 5, 7);
        QVERIFY(hover.contains(QStringLiteral("[5, 7]")));
        QVERIFY(hover.contains(QStringLiteral("code q = ")));
    }

    void heatmapMaxPools()
    {
        auto t = std::make_shared<Tensor>(Shape{64, 64});
        auto r = std::make_shared<QuantResult>();
        r->dequant.assign(64 * 64, 0.0f);
        t->data.assign(64 * 64, 0.0f);
        t->data[std::size_t(10 * 64 + 20)] = 5.0f;  // one big error
        const HeatmapData h = makeHeatmap(t, r, 8, 8);
        QCOMPARE(h.rows, 8);
        QCOMPARE(h.cols, 8);
        // Row 10 → cell 1, col 20 → cell 2.
        QCOMPARE(h.absError[std::size_t(1 * 8 + 2)], 5.0f);
        QCOMPARE(h.worstIndex[std::size_t(1 * 8 + 2)], qint64(10 * 64 + 20));
        QCOMPARE(h.absError[0], 0.0f);
    }

    void sweepAndPareto()
    {
        const auto t = studentT(64, 128, 11);
        const auto specs = sweepSpecs(t->shape, Granularity{GranularityKind::Channel, 0, 128});
        QVERIFY(specs.size() >= 14);
        Result<TradeoffData> d = sweepTensor(*t, specs, 1 << 20, TaskContext::none());
        QVERIFY(d.has_value());
        QVERIFY(d->points.size() >= 14);
        // More bits, less error within the INT asymmetric family.
        double last = -1e9;
        for (const auto& p : d->points)
            if (p.family == QStringLiteral("INT asymmetric")) {
                QVERIFY(p.sqnrDb > last);
                last = p.sqnrDb;
            }
        // Pareto front: ascending bits and strictly ascending SQNR.
        QVERIFY(!d->pareto.empty());
        for (std::size_t i = 1; i < d->pareto.size(); ++i) {
            const auto& a = d->points[std::size_t(d->pareto[i - 1])];
            const auto& b = d->points[std::size_t(d->pareto[i])];
            QVERIFY(a.bitsPerWeight <= b.bitsPerWeight);
            QVERIFY(a.sqnrDb < b.sqnrDb);
        }
        // Every point is dominated by or on the front.
        for (const auto& p : d->points) {
            bool covered = false;
            for (int i : d->pareto) {
                const auto& f = d->points[std::size_t(i)];
                if (f.bitsPerWeight <= p.bitsPerWeight && f.sqnrDb >= p.sqnrDb)
                    covered = true;
            }
            QVERIFY(covered);
        }
    }

    void layerErrorFollowsCalibration()
    {
        // A one-layer model "lin" with a [16, 32] weight and 12 calibration samples of 32 features.
        const ModelPtr model = std::make_shared<test::FixtureModel>(
            std::vector<test::FixtureModel::Entry>{{"lin.weight", {16, 32}, {"lin"}, 0}, {"other.weight", {8, 8}, {"other"}, 0}});
        calib::CalibrationLayer layer{"lin", Tensor({12, 32})};
        Rng rng(5);
        for (auto& v : layer.samples.data)
            v = float(rng.normal());
        Result<calib::CalibrationSet> set = calib::makeCalibrationSet({layer}, "test");
        QVERIFY(set.has_value());
        Result<std::vector<calib::LayerBinding>> bindings = calib::bindToModel(*set, *model);
        QVERIFY(bindings.has_value());
        const CalibrationPtr all = makeBoundCalibration(*set, *bindings, 0, QStringLiteral("test"));
        const CalibrationPtr four = makeBoundCalibration(*set, *bindings, 4, QStringLiteral("test"));
        QCOMPARE(all->samples, qint64(12));
        QCOMPARE(four->samples, qint64(4));
        QCOMPARE(four->available, qint64(12));
        QVERIFY(all->id != four->id);
        QVERIFY(all->bindingFor(0) != nullptr);
        QVERIFY(all->bindingFor(1) == nullptr);

        auto w = std::make_shared<const Tensor>(*model->readTensor(0, TaskContext::none()));
        QuantSpec s;
        s.bits = 3;
        AnalysisOptions o;
        o.landscape = o.heatmap = o.channels = false;
        Result<TensorAnalysis> a12 = analyzeTensor(w, "lin.weight", s, o, TaskContext::none(), {all, 0});
        Result<TensorAnalysis> a4 = analyzeTensor(w, "lin.weight", s, o, TaskContext::none(), {four, 0});
        Result<TensorAnalysis> none = analyzeTensor(w, "lin.weight", s, o, TaskContext::none());
        QVERIFY(a12 && a4 && none);
        // The number is core's ‖XWᵀ − XŴᵀ‖/‖XWᵀ‖ on the first N samples, and shows in the metrics strip.
        const calib::CalibrationSet first4 = set->firstSamples(4);
        const double want4 = *calib::layerOutputError(first4.layers[0].samples.view(), w->view(), a4->result->dequant.data());
        QCOMPARE(a4->layerError, want4);
        QCOMPARE(a4->calibrationId, four->id);
        QVERIFY(a12->layerError > 0.0 && a12->layerError < 1.0);
        QVERIFY(a12->layerError != a4->layerError);
        QVERIFY(a4->distribution.metricsText.contains(QStringLiteral("layer-output error")));
        QVERIFY(std::isnan(none->layerError));
        QCOMPARE(none->calibrationId, std::uint64_t(0));
        QVERIFY(!none->distribution.metricsText.contains(QStringLiteral("layer-output error")));
        // A tensor the set does not feed has none either.
        auto other = std::make_shared<const Tensor>(*model->readTensor(1, TaskContext::none()));
        Result<TensorAnalysis> b = analyzeTensor(other, "other.weight", s, o, TaskContext::none(), {all, 1});
        QVERIFY(b && std::isnan(b->layerError));
        // Output-channel subsample of the weight (the summary's big-tensor path): rows 0..7 only.
        Tensor half({8, 32});
        std::copy(w->data.begin(), w->data.begin() + 8 * 32, half.data.begin());
        const std::vector<float> halfHat(a12->result->dequant.begin(), a12->result->dequant.begin() + 8 * 32);
        const double sub = layerErrorOf(*all, 0, half.view(), halfHat);
        QVERIFY(std::isfinite(sub) && sub > 0.0);

        // The whole-model sweep: each part of the calibrated layer carries its layer-output error,
        // the pooled point the mean over the calibrated layers; the other tensor has none.
        const Granularity g{GranularityKind::Channel, 0, 128};
        const auto linParts = *sweepModelTensor(*model, 0, g, 1 << 16, TaskContext::none(), all);
        const auto otherParts = *sweepModelTensor(*model, 1, g, 1 << 16, TaskContext::none(), all);
        QVERIFY(!linParts.empty() && !otherParts.empty());
        for (const auto& p : otherParts)
            QVERIFY(std::isnan(p.layerError));
        std::map<int, double> intAsym;  // bits → layer error of INT asymmetric
        for (const auto& p : linParts) {
            QVERIFY2(p.layerError > 0.0 && p.layerError < 2.0, qPrintable(p.label));
            if (p.spec.format == Format::Int && p.spec.scheme == Scheme::Asymmetric)
                intAsym[p.spec.bits] = p.layerError;
            // The same number analyzeTensor reports for that spec.
            if (p.spec.format == Format::Int && p.spec.bits == 3 && p.spec.scheme == Scheme::Asymmetric) {
                Result<TensorAnalysis> same = analyzeTensor(w, "lin.weight", p.spec, o, TaskContext::none(), {all, 0});
                QVERIFY(same.has_value());
                QCOMPARE(p.layerError, same->layerError);
            }
        }
        QVERIFY(intAsym.size() >= 6);
        QVERIFY(intAsym[2] > intAsym[4] && intAsym[4] > intAsym[8]);
        ModelSweep sweep(1 << 16);
        sweep.add("lin.weight", linParts);
        sweep.add("other.weight", otherParts);
        const TradeoffData d = sweep.data();
        QCOMPARE(d.points.front().layerError, linParts.front().layerError);  // mean over one layer
        QVERIFY(d.title.contains(QStringLiteral("mean over 1 calibrated layers")));
        // The current plan's point: a kept tensor's layer computes exactly.
        QCOMPARE(measurePlanTensor(*model, 0, std::nullopt, 1 << 16, TaskContext::none(), all)->layerError, 0.0);
        QVERIFY(std::isnan(measurePlanTensor(*model, 1, std::nullopt, 1 << 16, TaskContext::none(), all)->layerError));
        QVERIFY(std::isnan(measurePlanTensor(*model, 0, s, 1 << 16, TaskContext::none())->layerError));
        PooledPoint plan;
        plan.add("lin.weight", *measurePlanTensor(*model, 0, s, 1 << 16, TaskContext::none(), all));
        plan.add("other.weight", *measurePlanTensor(*model, 1, s, 1 << 16, TaskContext::none(), all));
        QCOMPARE(plan.point(QString(), QString()).layerError, a12->layerError);
    }

    void modelSweepRunsPerTensor()
    {
        const ModelPtr model = test::makeFixtureModel();
        const Granularity g{GranularityKind::Channel, 0, 128};
        ModelSweep sweep(1 << 16);
        int swept = 0;
        for (std::size_t t = 0; t < model->tensors().size(); ++t) {
            Result<std::vector<ModelSweepPart>> parts = sweepModelTensor(*model, t, g, 1 << 16, TaskContext::none());
            QVERIFY(parts.has_value());
            QCOMPARE(parts->empty(), !inModelSweep(model->tensors()[t]));  // the 1-D norm is left out
            swept += parts->empty() ? 0 : 1;
            sweep.add(model->tensors()[t].name, *parts);
        }
        QCOMPARE(swept, 6);
        const TradeoffData d = sweep.data();
        QCOMPARE(d.points.size(), sweep.pointCount());
        QVERIFY(d.points.size() >= 14);
        QVERIFY(!d.hasAccuracy());
        QVERIFY(d.title.contains(QStringLiteral("whole model")));
        // The plan behind a point names each tensor the point pooled with the spec it got there.
        for (std::size_t i = 0; i < d.points.size(); ++i) {
            const QuantPlan plan = sweep.planOf(i);
            QCOMPARE(plan.defaultSpec.format, Format::F32);
            // INT applies to every tensor; a block format only to those whose rows its blocks divide.
            QVERIFY(!plan.overrides.empty() && plan.overrides.size() <= 6);
            if (d.points[i].family.startsWith(QStringLiteral("INT")))
                QCOMPARE(int(plan.overrides.size()), 6);
            for (const auto& o : plan.overrides) {
                QCOMPARE(o.kind, PatternKind::Exact);
                QVERIFY(model->find(o.pattern).has_value());
                QCOMPARE(o.spec.format, plan.overrides.front().spec.format);  // one point, one format and bits
                QCOMPARE(o.spec.bits, plan.overrides.front().spec.bits);
            }
        }
        // Point 0 (INT asymmetric 2 bits, the first spec of every tensor) pools the tensors' sums.
        double sx = 0, se = 0;
        for (std::size_t t = 0; t < model->tensors().size(); ++t) {
            const auto parts = *sweepModelTensor(*model, t, g, 1 << 16, TaskContext::none());
            if (parts.empty())
                continue;
            QCOMPARE(parts.front().family, d.points[0].family);
            QCOMPARE(parts.front().spec.bits, 2);
            sx += parts.front().sumX2;
            se += parts.front().sumErr2;
        }
        QVERIFY(std::fabs(d.points[0].sqnrDb - 10.0 * std::log10(sx / se)) < 1e-9);
    }

    void paretoByHand()
    {
        std::vector<TradeoffPoint> pts(4);
        pts[0].bitsPerWeight = 4; pts[0].sqnrDb = 20;
        pts[1].bitsPerWeight = 4; pts[1].sqnrDb = 22;
        pts[2].bitsPerWeight = 5; pts[2].sqnrDb = 21;  // dominated by (4, 22)
        pts[3].bitsPerWeight = 8; pts[3].sqnrDb = 40;
        QCOMPARE(paretoFront(pts), (std::vector<int>{1, 3}));
    }
};

QTEST_MAIN(TstAnalysis)
#include "tst_analysis.moc"
