// The bundled demo models: data split, regeneration from the seed, end-to-end accuracy under plans,
// sensitivity, and independence of the thread count.

#include "core/io/model.h"
#include "core/nn/demo.h"

#include <QtTest>

#include <omp.h>

#include <cmath>

using namespace ql;
using namespace ql::nn;

namespace {

const std::string kDemoDir = QL_SOURCE_DIR "/resources/demo";

QuantPlan intPlan(int bits, GranularityKind g)
{
    QuantPlan p;
    p.defaultSpec.bits = bits;
    p.defaultSpec.granularity.kind = g;
    p.defaultSpec.granularity.axis = 0;
    return p;
}

} // namespace

class TestNnDemo : public QObject {
    Q_OBJECT

private:
    DigitsSplit m_split;
    DemoModel m_mlp, m_cnn;

private Q_SLOTS:
    void initTestCase()
    {
        auto all = loadDigitsCsvGz(kDemoDir + "/digits.csv.gz");
        QVERIFY2(all.has_value(), all ? "" : all.error().toString().c_str());
        QCOMPARE(all->size(), std::int64_t(1797));
        m_split = splitDigits(*all);
        auto mlp = loadDemoModel(DemoKind::Mlp, kDemoDir);
        QVERIFY2(mlp.has_value(), mlp ? "" : mlp.error().toString().c_str());
        m_mlp = std::move(*mlp);
        auto cnn = loadDemoModel(DemoKind::Cnn, kDemoDir);
        QVERIFY2(cnn.has_value(), cnn ? "" : cnn.error().toString().c_str());
        m_cnn = std::move(*cnn);
    }

    void splitIsFixed()
    {
        QCOMPARE(m_split.test.size(), std::int64_t(360));
        QCOMPARE(m_split.train.size(), std::int64_t(1437));
        QCOMPARE(m_split.calibration.size(), std::int64_t(256));
        QCOMPARE(m_split.test.sourceRows.front(), std::int64_t(0));
        QCOMPARE(m_split.test.sourceRows[1], std::int64_t(5));
        QCOMPARE(m_split.calibration.sourceRows[1], std::int64_t(6));
        // First row of digits.csv.gz is a 0; pixel 2 is 5/16.
        QCOMPARE(m_split.test.labels.front(), 0);
        QCOMPARE(m_split.test.inputs(0, 2), 5.0f / 16.0f);
        // The bundled split files hold exactly these rows (F16 is exact for k/16).
        QVERIFY(m_mlp.test.inputs == m_split.test.inputs);
        QVERIFY(m_mlp.test.labels == m_split.test.labels);
        QVERIFY(m_mlp.calibration.inputs == m_split.calibration.inputs);
    }

    void csvErrorsNameTheLine()
    {
        auto r = parseDigitsCsv(std::string(64, '0'), "x.csv");
        QVERIFY(!r.has_value());
        std::string line;
        for (int i = 0; i < 64; ++i)
            line += "1,";
        auto bad = parseDigitsCsv(line + "1\n" + line + "17\n", "x.csv");
        QVERIFY(!bad.has_value());
        QVERIFY(QString::fromStdString(bad.error().toString()).contains(QLatin1String("line 2")));
        auto short1 = parseDigitsCsv("1,2,3\n", "x.csv");
        QVERIFY(!short1.has_value());
        QVERIFY(!loadDigitsCsvGz(kDemoDir + "/does-not-exist.csv.gz").has_value());
    }

    void floatAccuracy()
    {
        auto a = accuracy(m_mlp.net, m_mlp.test);
        auto b = accuracy(m_cnn.net, m_cnn.test);
        QVERIFY(a.has_value() && b.has_value());
        qInfo("float test accuracy: mlp %.4f, cnn %.4f", *a, *b);
        QVERIFY(*a >= 0.95);
        QVERIFY(*b >= 0.95);
    }

    void trainerReproducesCommittedWeights()
    {
        // Bit for bit on the build that generated the files; elsewhere (another ISA, other FMA use)
        // the stated tolerance: every weight within 2% of the layer's largest weight and the test
        // accuracy within 1 point.
        for (const DemoModel* m : {&m_mlp, &m_cnn}) {
            auto net = trainDemoModel(m->kind, m_split.train);
            QVERIFY(net.has_value());
            bool exact = true;
            for (std::size_t l = 0; l < net->layers.size(); ++l) {
                const Layer& a = net->layers[l];
                const Layer& b = m->net.layers[l];
                if (a.weight.data != b.weight.data || a.bias.data != b.bias.data)
                    exact = false;
                float amax = 0.0f, diff = 0.0f;
                for (std::size_t k = 0; k < a.weight.data.size(); ++k) {
                    amax = std::max(amax, std::fabs(b.weight.data[k]));
                    diff = std::max(diff, std::fabs(a.weight.data[k] - b.weight.data[k]));
                }
                QVERIFY2(diff <= 0.02f * amax, a.name.c_str());
            }
            if (!exact)
                qWarning("%s: retrained weights are not bit-identical here (within tolerance)", demoKindName(m->kind));
            auto acc = accuracy(*net, m->test);
            auto ref = accuracy(m->net, m->test);
            QVERIFY(std::fabs(*acc - *ref) <= 0.01);
        }
    }

    void eightBitKeepsAccuracy()
    {
        ActQuantConfig act;
        act.enabled = true;
        act.bits = 8;
        for (const DemoModel* m : {&m_mlp, &m_cnn}) {
            auto r = evaluate(*m, intPlan(8, GranularityKind::Channel), act);
            QVERIFY2(r.has_value(), r ? "" : r.error().toString().c_str());
            qInfo("%s int8 per-channel weights + int8 static activations: %.4f (float %.4f), agreement %.4f, KL %.3g",
                  r->model.c_str(), r->accuracy, r->floatAccuracy, r->agreement, r->meanKl);
            QVERIFY(r->floatAccuracy - r->accuracy <= 0.01);
            QVERIFY(r->agreement >= 0.98);
            QCOMPARE(r->calibrationSamples, std::int64_t(256));
            QCOMPARE(r->layers.size(), m->kind == DemoKind::Mlp ? std::size_t(3) : std::size_t(3));
            for (const auto& l : r->layers) {
                QVERIFY(l.quantized);
                QVERIFY(l.outputError > 0.0 && l.outputError < 0.05);
                QVERIFY(l.accuracyDrop <= 0.01);
                QCOMPARE(l.actRanges.size(), std::size_t(1));
            }
        }
    }

    void twoBitLosesAccuracy()
    {
        for (const DemoModel* m : {&m_mlp, &m_cnn}) {
            auto r = evaluate(*m, intPlan(2, GranularityKind::Tensor), {});
            QVERIFY(r.has_value());
            qInfo("%s int2 per-tensor weights: %.4f (float %.4f)", r->model.c_str(), r->accuracy, r->floatAccuracy);
            QVERIFY(r->floatAccuracy - r->accuracy >= 0.05);
            QVERIFY(r->agreement < 0.95);
            QVERIFY(r->meanKl > 0.01);
            // Sensitivity: at least one layer alone costs accuracy; none gains more than noise.
            double worst = 0.0;
            for (const auto& l : r->layers)
                worst = std::max(worst, l.accuracyDrop);
            QVERIFY(worst > 0.0);
        }
    }

    void weightsOnlyDynamicAndSkips()
    {
        QuantPlan plan = intPlan(4, GranularityKind::Channel);
        plan.skip = {"fc3.*"};
        auto r = evaluate(m_mlp, plan, {});
        QVERIFY(r.has_value());
        QVERIFY(r->layers[0].quantized);
        QVERIFY(!r->layers[2].quantized);
        QCOMPARE(r->layers[2].spec, std::string("f32"));
        QCOMPARE(r->layers[2].accuracyDrop, 0.0);
        ActQuantConfig dyn;
        dyn.enabled = true;
        dyn.dynamic = true;
        dyn.bits = 8;
        auto d = evaluate(m_cnn, intPlan(8, GranularityKind::Channel), dyn);
        QVERIFY(d.has_value());
        QVERIFY(d->floatAccuracy - d->accuracy <= 0.01);
        QVERIFY(d->layers[0].actRanges.empty());
    }

    void calibrationSubsetChangesRanges()
    {
        ActQuantConfig a;
        a.enabled = true;
        a.bits = 4;
        a.calibrationSamples = 8;
        auto few = evaluate(m_cnn, intPlan(8, GranularityKind::Channel), a, {false});
        a.calibrationSamples = 0;
        auto all = evaluate(m_cnn, intPlan(8, GranularityKind::Channel), a, {false});
        QVERIFY(few.has_value() && all.has_value());
        QCOMPARE(few->calibrationSamples, std::int64_t(8));
        bool differs = false;
        for (std::size_t i = 0; i < few->layers.size(); ++i)
            differs |= few->layers[i].actRanges[0].hi != all->layers[i].actRanges[0].hi;
        QVERIFY(differs);
        a.observer.kind = calib::ObserverKind::Percentile;
        a.observer.percentile = 99.0;
        auto pct = evaluate(m_cnn, intPlan(8, GranularityKind::Channel), a, {false});
        QVERIFY(pct.has_value());
        QVERIFY(pct->layers[1].actRanges[0].hi < all->layers[1].actRanges[0].hi);
    }

    void userCalibrationFileIsChecked()
    {
        // The bundled per-layer activation file works as a calibration set for evaluate().
        auto set = calib::loadCalibrationSet(kDemoDir + "/cnn_calibration.safetensors");
        QVERIFY2(set.has_value(), set ? "" : set.error().toString().c_str());
        ActQuantConfig a;
        a.enabled = true;
        EvalOptions eo;
        eo.calibration = &*set;
        auto r = evaluate(m_cnn, intPlan(8, GranularityKind::Channel), a, eo);
        QVERIFY(r.has_value());
        QCOMPARE(r->calibrationSamples, std::int64_t(64));
        // The MLP's file does not fit the CNN.
        auto wrong = calib::loadCalibrationSet(kDemoDir + "/mlp_calibration.safetensors");
        QVERIFY(wrong.has_value());
        eo.calibration = &*wrong;
        auto bad = evaluate(m_cnn, intPlan(8, GranularityKind::Channel), a, eo);
        QVERIFY(!bad.has_value());
        QVERIFY(QString::fromStdString(bad.error().toString()).contains(QLatin1String("fc1")));
    }

    void recordedCalibrationMatchesBundledFile()
    {
        auto rec = recordCalibrationSet(m_mlp.net, m_mlp.calibration, 64);
        auto file = calib::loadCalibrationSet(kDemoDir + "/mlp_calibration.safetensors");
        QVERIFY(rec.has_value() && file.has_value());
        for (const auto& l : rec->layers) {
            const auto* f = file->find(l.layer);
            QVERIFY(f);
            QCOMPARE(f->samples.shape, l.samples.shape);
            float diff = 0.0f;
            for (std::size_t i = 0; i < l.samples.data.size(); ++i)
                diff = std::max(diff, std::fabs(f->samples.data[i] - l.samples.data[i]));
            QVERIFY(diff <= 1e-5f);
        }
    }

    void sameResultsWithOneAndTwoThreads()
    {
        ActQuantConfig a;
        a.enabled = true;
        a.bits = 6;
        a.perChannel = true;
        a.observer.kind = calib::ObserverKind::Mse;
        const int before = omp_get_max_threads();
        omp_set_num_threads(1);
        auto one = evaluate(m_cnn, intPlan(4, GranularityKind::Channel), a);
        omp_set_num_threads(2);
        auto two = evaluate(m_cnn, intPlan(4, GranularityKind::Channel), a);
        omp_set_num_threads(before);
        QVERIFY(one.has_value() && two.has_value());
        QCOMPARE(one->accuracy, two->accuracy);
        QCOMPARE(one->meanKl, two->meanKl);
        for (std::size_t i = 0; i < one->layers.size(); ++i) {
            QCOMPARE(one->layers[i].outputError, two->layers[i].outputError);
            QCOMPARE(one->layers[i].accuracy, two->layers[i].accuracy);
            QCOMPARE(one->layers[i].actRanges.size(), two->layers[i].actRanges.size());
            for (std::size_t c = 0; c < one->layers[i].actRanges.size(); ++c)
                QCOMPARE(one->layers[i].actRanges[c].hi, two->layers[i].actRanges[c].hi);
        }
    }

    void resourcesAreFound()
    {
        auto d = findDemoResources();
        QVERIFY(d.has_value());
        QVERIFY(QFile::exists(QString::fromStdString(*d + "/mlp.safetensors")));
        qputenv("QUANTLENS_RESOURCES", QByteArray("/nonexistent-dir"));
        QVERIFY(findDemoResources().has_value());  // falls through to the next place
        qunsetenv("QUANTLENS_RESOURCES");
        auto bad = loadDemoModel(DemoKind::Mlp, "/nonexistent-dir");
        QVERIFY(!bad.has_value());
        QVERIFY(QString::fromStdString(bad.error().toString()).contains(QLatin1String("mlp.safetensors")));
    }

    void badPlansAreErrors()
    {
        QuantPlan p;
        p.defaultSpec.bits = 40;
        auto r = evaluate(m_mlp, p, {});
        QVERIFY(!r.has_value());
        QVERIFY(QString::fromStdString(r.error().toString()).contains(QLatin1String("fc1.weight")));
        ActQuantConfig a;
        a.enabled = true;
        a.bits = 1;
        QVERIFY(!evaluate(m_mlp, intPlan(8, GranularityKind::Channel), a).has_value());
    }
};

QTEST_APPLESS_MAIN(TestNnDemo)
#include "tst_nn_demo.moc"
