// Calibration sets: observers against hand-computed ranges, the layer-output error, and clear
// errors (naming the layer) for malformed or mismatched calibration files.

#include "core/calib/calibration.h"
#include "core/io/npy.h"
#include "core/io/safetensors.h"
#include "core/nn/demo.h"
#include "core/quant/range.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <hdf5.h>

#include <cmath>
#include <limits>

using namespace ql;
using namespace ql::calib;

namespace {

const std::string kDemoDir = QL_SOURCE_DIR "/resources/demo";

CalibrationLayer denseLayer()
{
    // 4 samples × 2 features.
    return {"fc", Tensor({4, 2}, {0, 10, 1, -2, 2, 4, -3, 6})};
}

ObserverOptions opts(ObserverKind k, bool perChannel = false)
{
    ObserverOptions o;
    o.observer.kind = k;
    o.perChannel = perChannel;
    return o;
}

bool near(float a, double b, double tol = 1e-5) { return std::fabs(double(a) - b) <= tol; }

Result<void> writeFile(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors)
{
    std::vector<SafetensorsEntry> e;
    for (const auto& [name, t] : tensors)
        e.push_back({name, DType::F32, t.shape, t.data.data(), t.data.size() * 4});
    return writeSafetensors(path, e);
}

QString errorText(const Error& e) { return QString::fromStdString(e.toString()); }

} // namespace

class TestCalibObservers : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

    std::string path(const char* name) { return m_dir.filePath(QLatin1String(name)).toStdString(); }

private Q_SLOTS:
    void minMax()
    {
        const LayerRanges t = observeLayer(denseLayer(), opts(ObserverKind::MinMax));
        QCOMPARE(t.ranges.size(), std::size_t(1));
        QCOMPARE(t.ranges[0].lo, -3.0f);
        QCOMPARE(t.ranges[0].hi, 10.0f);
        QCOMPARE(t.samples, std::int64_t(4));
        const LayerRanges c = observeLayer(denseLayer(), opts(ObserverKind::MinMax, true));
        QCOMPARE(c.ranges.size(), std::size_t(2));
        QCOMPARE(c.ranges[0].lo, -3.0f);
        QCOMPARE(c.ranges[0].hi, 2.0f);
        QCOMPARE(c.ranges[1].lo, -2.0f);
        QCOMPARE(c.ranges[1].hi, 10.0f);
    }

    void movingAverage()
    {
        // Sample minima 0, −2, 2, −3 and maxima 10, 1, 4, 6; c = 0.01:
        // lo: 0 → −0.02 → 0.0002 → −0.029802;  hi: 10 → 9.91 → 9.8509 → 9.812391.
        const LayerRanges t = observeLayer(denseLayer(), opts(ObserverKind::Ema));
        QVERIFY(near(t.ranges[0].lo, -0.029802));
        QVERIFY(near(t.ranges[0].hi, 9.812391));
        // Per channel: channel 1 sees 10, −2, 4, 6 → lo 10 → 9.88 → 9.8212 → 9.782988 (min = max per sample).
        const LayerRanges c = observeLayer(denseLayer(), opts(ObserverKind::Ema, true));
        QVERIFY(near(c.ranges[1].lo, 9.782988));
        QVERIFY(near(c.ranges[1].hi, 9.782988));
    }

    void percentile()
    {
        // Sorted values −3 −2 0 1 2 4 6 10; p = 75 two-sided: q(0.25) = −2 + 0.75·2 = −0.5,
        // q(0.75) = 4 + 0.25·2 = 4.5 (linear interpolation).
        ObserverOptions o = opts(ObserverKind::Percentile);
        o.observer.percentile = 75.0;
        const LayerRanges t = observeLayer(denseLayer(), o);
        QVERIFY(near(t.ranges[0].lo, -0.5));
        QVERIFY(near(t.ranges[0].hi, 4.5));
    }

    void mseAndKlUseTheRangeMethods()
    {
        // A larger set with an outlier: MSE and KL clip it; both equal chooseRange on the same values.
        std::vector<float> v(4000);
        for (std::size_t i = 0; i < v.size(); ++i)
            v[i] = float(std::sin(double(i) * 0.37) * (i % 7 == 0 ? 0.5 : 1.0));
        v[17] = 40.0f;
        CalibrationLayer l{"x", Tensor({1000, 4}, v)};
        std::vector<float> work(v.size());
        for (ObserverKind k : {ObserverKind::Mse, ObserverKind::Kl}) {
            ObserverOptions o = opts(k);
            o.bits = 4;
            const LayerRanges r = observeLayer(l, o);
            RangeMethod m;
            m.kind = k == ObserverKind::Mse ? RangeKind::Mse : RangeKind::Kl;
            const ClipRange ref = chooseRange(v.data(), std::int64_t(v.size()), m, IntGrid{4, Scheme::Asymmetric}, work.data());
            QCOMPARE(r.ranges[0].lo, ref.lo);
            QCOMPARE(r.ranges[0].hi, ref.hi);
            QVERIFY(r.ranges[0].hi < 40.0f);
            QCOMPARE(r.minMax.hi, 40.0f);
        }
    }

    void convPerChannelGathersEverySample()
    {
        // [2 samples, 2 channels, 1, 2]: channel 0 values {1, 2, 5, −6}, channel 1 {3, 4, 7, 8}.
        CalibrationLayer l{"conv", Tensor({2, 2, 1, 2}, {1, 2, 3, 4, 5, -6, 7, 8})};
        QCOMPARE(l.channels(), std::int64_t(2));
        QCOMPARE(l.features(), std::int64_t(4));
        const LayerRanges c = observeLayer(l, opts(ObserverKind::MinMax, true));
        QCOMPARE(c.ranges[0].lo, -6.0f);
        QCOMPARE(c.ranges[0].hi, 5.0f);
        QCOMPARE(c.ranges[1].lo, 3.0f);
        QCOMPARE(c.ranges[1].hi, 8.0f);
    }

    void observerNames()
    {
        for (const char* s : {"minmax", "ema", "mse", "kl", "percentile:99.99", "percentile:99.9"}) {
            auto o = parseObserver(s);
            QVERIFY2(o.has_value(), s);
            QCOMPARE(QString::fromStdString(observerName(*o)), QString::fromLatin1(s));
        }
        QCOMPARE(parseObserver("percentile")->percentile, 99.99);
        QVERIFY(!parseObserver("percentile:0").has_value());
        QVERIFY(!parseObserver("percentile:101").has_value());
        QVERIFY(!parseObserver("max").has_value());
    }

    void layerOutputErrorDense()
    {
        // X = I₂, W = [1 2], Ŵ = [1 1]: ‖[0 1]‖ / ‖[1 2]‖ = 1/√5.
        const Tensor x({2, 2}, {1, 0, 0, 1});
        const Tensor w({1, 2}, {1, 2});
        const float wq[2] = {1, 1};
        auto e = layerOutputError(x.view(), w.view(), wq);
        QVERIFY(e.has_value());
        QVERIFY(std::fabs(*e - 1.0 / std::sqrt(5.0)) < 1e-7);
        // The same weight stored [in, out] (Keras).
        const Tensor wt({2, 1}, {1, 2});
        auto et = layerOutputError(x.view(), wt.view(), wq, true);
        QVERIFY(et.has_value());
        QCOMPARE(*et, *e);
        QCOMPARE(*layerOutputError(x.view(), w.view(), w.data.data()), 0.0);
        const Tensor x3({2, 3}, {1, 0, 0, 0, 1, 0});
        QVERIFY(!layerOutputError(x3.view(), w.view(), wq).has_value());
    }

    void layerOutputErrorConvMatchesDirectConvolution()
    {
        // Compare with the engine's convolution: ‖conv(X, W) − conv(X, Ŵ)‖ / ‖conv(X, W)‖ (no bias).
        auto net = nn::buildNetwork({2, 4, 4}, {{nn::LayerKind::Conv2D, "c", 3}});
        QVERIFY(net.has_value());
        nn::initParameters(*net, 5);
        nn::Network q = *net;
        for (float& v : q.layers[0].weight.data)
            v = std::round(v * 4.0f) / 4.0f;
        Tensor x({3, 2, 4, 4});
        for (std::size_t i = 0; i < x.data.size(); ++i)
            x.data[i] = float(std::cos(double(i) * 1.3));
        const ConstMatrixMap xm(x.data.data(), 3, 32);
        auto y = nn::forward(*net, xm);
        auto yq = nn::forward(q, xm);
        QVERIFY(y.has_value() && yq.has_value());
        const double ref = double((*y - *yq).norm()) / double(y->norm());
        auto e = layerOutputError(x.view(), net->layers[0].weight.view(), q.layers[0].weight.data.data());
        QVERIFY(e.has_value());
        QVERIFY(std::fabs(*e - ref) < 1e-5 * ref);
        const Tensor w5({3, 2, 5, 5});
        QCOMPARE(layerOutputError(x.view(), w5.view(), w5.data.data()).error().code, ErrorCode::Unsupported);
    }

    void wrongLayerNameIsNamed()
    {
        QVERIFY(m_dir.isValid());
        const std::string p = path("wrong_name.safetensors");
        QVERIFY(writeFile(p, {{"fc1", Tensor({4, 64})}, {"fc9", Tensor({4, 128})}}).has_value());
        auto set = loadCalibrationSet(p);
        QVERIFY(set.has_value());
        const nn::Network net = nn::demoArchitecture(nn::DemoKind::Mlp);
        auto r = checkAgainstNetwork(*set, net, false);
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::NotFound);
        QVERIFY(errorText(r.error()).contains(QLatin1String("'fc9'")));
        QVERIFY(errorText(r.error()).contains(QLatin1String("fc1, fc2, fc3")));
        // Against the model file: same.
        auto model = openModel(kDemoDir + "/mlp.safetensors");
        QVERIFY(model.has_value());
        auto b = bindToModel(*set, **model);
        QVERIFY(!b.has_value());
        QVERIFY(errorText(b.error()).contains(QLatin1String("'fc9'")));
    }

    void wrongFeatureCountIsNamed()
    {
        const std::string p = path("wrong_features.safetensors");
        QVERIFY(writeFile(p, {{"fc2", Tensor({4, 127})}}).has_value());
        auto set = loadCalibrationSet(p);
        QVERIFY(set.has_value());
        auto r = checkAgainstNetwork(*set, nn::demoArchitecture(nn::DemoKind::Mlp), false);
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::ShapeMismatch);
        QVERIFY(errorText(r.error()).contains(QLatin1String("'fc2'")));
        QVERIFY(errorText(r.error()).contains(QLatin1String("128")));
        auto model = openModel(kDemoDir + "/mlp.safetensors");
        auto b = bindToModel(*set, **model);
        QVERIFY(!b.has_value());
        QVERIFY(errorText(b.error()).contains(QLatin1String("'fc2'")));
        QVERIFY(errorText(b.error()).contains(QLatin1String("127")));
        // A conv layer given dense samples, and a missing layer when all are required.
        const std::string p2 = path("conv_flat.safetensors");
        QVERIFY(writeFile(p2, {{"conv2", Tensor({4, 128})}}).has_value());
        auto set2 = loadCalibrationSet(p2);
        auto r2 = checkAgainstNetwork(*set2, nn::demoArchitecture(nn::DemoKind::Cnn), false);
        QVERIFY(!r2.has_value());
        QVERIFY(errorText(r2.error()).contains(QLatin1String("'conv2'")));
        auto r3 = checkAgainstNetwork(*set2, nn::demoArchitecture(nn::DemoKind::Cnn), true);
        QVERIFY(!r3.has_value());
    }

    void nonFiniteSamplesAreNamed()
    {
        Tensor t({3, 64});
        t.data[70] = std::numeric_limits<float>::quiet_NaN();
        const std::string p = path("nan.safetensors");
        QVERIFY(writeFile(p, {{"fc1", t}}).has_value());
        auto set = loadCalibrationSet(p);
        QVERIFY(!set.has_value());
        QCOMPARE(set.error().code, ErrorCode::NonFinite);
        QVERIFY(errorText(set.error()).contains(QLatin1String("'fc1'")));
        QVERIFY(errorText(set.error()).contains(QLatin1String("sample 1")));
        t.data[70] = std::numeric_limits<float>::infinity();
        auto mem = makeCalibrationSet({{"fc1", t}}, "memory");
        QVERIFY(!mem.has_value());
        QVERIFY(errorText(mem.error()).contains(QLatin1String("Inf")));
    }

    void malformedShapesAndFiles()
    {
        auto r1 = makeCalibrationSet({{"fc1", Tensor({64}, std::vector<float>(64))}}, "memory");
        QVERIFY(!r1.has_value());
        QVERIFY(errorText(r1.error()).contains(QLatin1String("'fc1'")));
        auto r2 = makeCalibrationSet({{"fc1", Tensor({0, 64}, {})}}, "memory");
        QVERIFY(!r2.has_value());
        auto r3 = makeCalibrationSet({}, "memory");
        QVERIFY(!r3.has_value());
        const std::string p = path("garbage.safetensors");
        QFile f(QString::fromStdString(p));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ", 24);
        f.close();
        auto r4 = loadCalibrationSet(p);
        QVERIFY(!r4.has_value());
        QVERIFY(!loadCalibrationSet(path("missing.safetensors")).has_value());
    }

    void folderOfNpyAndHdf5LoadLikeSafetensors()
    {
        auto ref = loadCalibrationSet(kDemoDir + "/mlp_calibration.safetensors");
        QVERIFY(ref.has_value());
        const QString folder = m_dir.filePath(QStringLiteral("npy_folder"));
        QVERIFY(QDir().mkpath(folder));
        const std::string h5 = path("calib.h5");
        const hid_t f = H5Fcreate(h5.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        QVERIFY(f >= 0);
        for (const auto& l : ref->layers) {
            QVERIFY(writeNpy((folder + QLatin1Char('/') + QString::fromStdString(l.layer) + QStringLiteral(".npy")).toStdString(),
                             l.samples.view())
                        .has_value());
            const hsize_t dims[2] = {hsize_t(l.samples.shape[0]), hsize_t(l.samples.shape[1])};
            const hid_t space = H5Screate_simple(2, dims, nullptr);
            const hid_t ds = H5Dcreate2(f, l.layer.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            QVERIFY(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, l.samples.data.data()) >= 0);
            H5Dclose(ds);
            H5Sclose(space);
        }
        H5Fclose(f);
        for (const std::string& p : {folder.toStdString(), h5}) {
            auto set = loadCalibrationSet(p);
            QVERIFY2(set.has_value(), set ? p.c_str() : set.error().toString().c_str());
            QCOMPARE(set->layers.size(), ref->layers.size());
            for (const auto& l : ref->layers) {
                const CalibrationLayer* got = set->find(l.layer);
                QVERIFY2(got, l.layer.c_str());
                QCOMPARE(got->samples.shape, l.samples.shape);
                QVERIFY(got->samples.data == l.samples.data);
            }
        }
        QVERIFY(!loadCalibrationSet(m_dir.filePath(QStringLiteral("nothing")).toStdString()).has_value());
        QVERIFY(QDir().mkpath(m_dir.filePath(QStringLiteral("empty"))));
        QVERIFY(!loadCalibrationSet(m_dir.filePath(QStringLiteral("empty")).toStdString()).has_value());
    }

    void firstSamplesAndRanges()
    {
        auto set = loadCalibrationSet(kDemoDir + "/mlp_calibration.safetensors");
        QVERIFY(set.has_value());
        QCOMPARE(set->layers.size(), std::size_t(3));
        QCOMPARE(set->find("fc2")->samples.shape, (Shape{64, 128}));
        const CalibrationSet few = set->firstSamples(4);
        QCOMPARE(few.find("fc2")->sampleCount(), std::int64_t(4));
        auto a = observeRanges(*set, opts(ObserverKind::MinMax));
        auto b = observeRanges(few, opts(ObserverKind::MinMax));
        QVERIFY(a.has_value() && b.has_value());
        QVERIFY((*b)[1].ranges[0].hi <= (*a)[1].ranges[0].hi);
        QCOMPARE((*a)[1].ranges[0].lo, 0.0f);  // after ReLU
    }
};

QTEST_APPLESS_MAIN(TestCalibObservers)
#include "tst_calib_observers.moc"
