// quantlens-cli evaluate and calibrate, run as a user would: the real executable through QProcess.

#include "cli_runner.h"
#include "core/io/safetensors.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <limits>

using namespace ql;

namespace {

using Run = ql::test::CliRun;

Run cli(const QStringList& args)
{
    return ql::test::runCli(args);
}

QString demo(const char* file) { return QStringLiteral(QL_SOURCE_DIR "/resources/demo/") + QLatin1String(file); }

} // namespace

class TestCliEvaluate : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

private Q_SLOTS:
    void evaluateJson()
    {
        const Run r = cli({QStringLiteral("evaluate"), QStringLiteral("--demo"), QStringLiteral("cnn"),
                           QStringLiteral("--bits"), QStringLiteral("8"), QStringLiteral("--act-bits"),
                           QStringLiteral("8"), QStringLiteral("--act-observer"), QStringLiteral("percentile:99.99"),
                           QStringLiteral("--json")});
        QVERIFY2(r.code == 0, r.err.constData());
        const QJsonObject o = QJsonDocument::fromJson(r.out).object();
        for (const char* key : {"float_accuracy", "accuracy", "agreement", "mean_kl", "layers", "spec", "activations"})
            QVERIFY2(o.contains(QLatin1String(key)), key);
        const double f = o[QLatin1String("float_accuracy")].toDouble();
        const double a = o[QLatin1String("accuracy")].toDouble();
        QVERIFY(f >= 0.95 && f <= 1.0);
        QVERIFY(f - a <= 0.01);
        QVERIFY(o[QLatin1String("agreement")].toDouble() >= 0.98);
        const QJsonArray layers = o[QLatin1String("layers")].toArray();
        QCOMPARE(layers.size(), 3);
        QCOMPARE(layers[0].toObject()[QLatin1String("layer")].toString(), QStringLiteral("conv1"));
        for (const char* key : {"accuracy", "accuracy_drop", "output_error", "weight_sqnr_db", "spec"})
            QVERIFY2(layers[1].toObject().contains(QLatin1String(key)), key);
        QCOMPARE(o[QLatin1String("activations")].toObject()[QLatin1String("observer")].toString(),
                 QStringLiteral("percentile:99.99"));
    }

    void evaluateTwoBitDrops()
    {
        const Run r = cli({QStringLiteral("evaluate"), QStringLiteral("--demo"), QStringLiteral("mlp"),
                           QStringLiteral("--bits"), QStringLiteral("2"), QStringLiteral("--granularity"),
                           QStringLiteral("tensor"), QStringLiteral("--json")});
        QCOMPARE(r.code, 0);
        const QJsonObject o = QJsonDocument::fromJson(r.out).object();
        QVERIFY(o[QLatin1String("float_accuracy")].toDouble() - o[QLatin1String("accuracy")].toDouble() >= 0.05);
        const Run t = cli({QStringLiteral("evaluate"), QStringLiteral("--demo"), QStringLiteral("mlp"),
                           QStringLiteral("--act-bits"), QStringLiteral("8"), QStringLiteral("--dynamic")});
        QCOMPARE(t.code, 0);
        QVERIFY(t.out.contains("float accuracy"));
        QVERIFY(t.out.contains("dynamic"));
    }

    void evaluateBadUsage()
    {
        QCOMPARE(cli({QStringLiteral("evaluate")}).code, 2);
        QCOMPARE(cli({QStringLiteral("evaluate"), QStringLiteral("--demo"), QStringLiteral("rnn")}).code, 2);
        QCOMPARE(cli({QStringLiteral("evaluate"), QStringLiteral("--demo"), QStringLiteral("mlp"),
                      QStringLiteral("--act-bits"), QStringLiteral("1")})
                     .code,
                 2);
        QCOMPARE(cli({QStringLiteral("evaluate"), QStringLiteral("--demo"), QStringLiteral("mlp"),
                      QStringLiteral("--dynamic")})
                     .code,
                 2);
        const Run r = cli({QStringLiteral("evaluate"), QStringLiteral("--demo"), QStringLiteral("cnn"),
                           QStringLiteral("--act-bits"), QStringLiteral("8"), QStringLiteral("--calib"),
                           demo("mlp_calibration.safetensors")});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("fc1"));
        QCOMPARE(r.err.count('\n'), 1);
    }

    void evaluateWithConfig()
    {
        QVERIFY(m_dir.isValid());
        const QString cfg = m_dir.filePath(QStringLiteral("plan.json"));
        QFile f(cfg);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(R"({"format_version": 1,
                    "default": {"format": "int", "bits": 8, "granularity": {"kind": "channel", "axis": 0}},
                    "overrides": [{"match": "exact", "pattern": "fc1.weight",
                                   "spec": {"format": "int", "bits": 2, "granularity": {"kind": "tensor"}}}]})");
        f.close();
        const Run r = cli({QStringLiteral("evaluate"), QStringLiteral("--demo"), QStringLiteral("mlp"),
                           QStringLiteral("--config"), cfg, QStringLiteral("--json")});
        QVERIFY2(r.code == 0, r.err.constData());
        const QJsonArray layers = QJsonDocument::fromJson(r.out).object()[QLatin1String("layers")].toArray();
        QVERIFY(layers[0].toObject()[QLatin1String("spec")].toString().startsWith(QLatin1String("int2")));
        QVERIFY(layers[1].toObject()[QLatin1String("spec")].toString().startsWith(QLatin1String("int8")));
        QVERIFY(layers[0].toObject()[QLatin1String("accuracy_drop")].toDouble() >
                layers[1].toObject()[QLatin1String("accuracy_drop")].toDouble());
        QCOMPARE(cli({QStringLiteral("evaluate"), QStringLiteral("--demo"), QStringLiteral("mlp"), QStringLiteral("--config"),
                      cfg, QStringLiteral("--bits"), QStringLiteral("4")})
                     .code,
                 2);
    }

    void calibrateJson()
    {
        const Run r = cli({QStringLiteral("calibrate"), demo("cnn.safetensors"), demo("cnn_calibration.safetensors"),
                           QStringLiteral("--observer"), QStringLiteral("ema"), QStringLiteral("--per-channel"),
                           QStringLiteral("--json")});
        QVERIFY2(r.code == 0, r.err.constData());
        const QJsonObject o = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(o[QLatin1String("observer")].toString(), QStringLiteral("ema"));
        const QJsonArray layers = o[QLatin1String("layers")].toArray();
        QCOMPARE(layers.size(), 3);
        const QJsonObject conv2 = layers[1].toObject();
        QCOMPARE(conv2[QLatin1String("layer")].toString(), QStringLiteral("conv2"));
        QCOMPARE(conv2[QLatin1String("tensor")].toString(), QStringLiteral("conv2.weight"));
        QCOMPARE(conv2[QLatin1String("ranges")].toArray().size(), 8);  // one per input channel
        QCOMPARE(conv2[QLatin1String("samples")].toInt(), 64);
        const double err = conv2[QLatin1String("output_error")].toDouble();
        QVERIFY(err > 0.0 && err < 0.05);
        // Each EMA range lies inside the channel's min-max.
        const QJsonArray r0 = conv2[QLatin1String("ranges")].toArray()[0].toArray();
        QVERIFY(r0[0].toDouble() >= conv2[QLatin1String("min")].toDouble());
        QVERIFY(r0[1].toDouble() <= conv2[QLatin1String("max")].toDouble());
        // Table form, and a coarser weight spec gives a larger layer-output error.
        const Run t = cli({QStringLiteral("calibrate"), demo("mlp.safetensors"), demo("mlp_calibration.safetensors"),
                           QStringLiteral("--bits"), QStringLiteral("3"), QStringLiteral("--json")});
        QCOMPARE(t.code, 0);
        const QJsonObject o3 = QJsonDocument::fromJson(t.out).object();
        QVERIFY(o3[QLatin1String("layers")].toArray()[0].toObject()[QLatin1String("output_error")].toDouble() > 0.05);
    }

    void calibrateErrorsNameTheLayer()
    {
        QVERIFY(m_dir.isValid());
        const std::string bad = m_dir.filePath(QStringLiteral("bad.safetensors")).toStdString();
        std::vector<float> v(3 * 100, 0.5f);
        SafetensorsEntry e{"fc2", DType::F32, Shape{3, 100}, v.data(), v.size() * 4};
        QVERIFY(writeSafetensors(bad, {e}).has_value());
        const Run r = cli({QStringLiteral("calibrate"), demo("mlp.safetensors"), QString::fromStdString(bad)});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("fc2"));
        QVERIFY(r.err.contains("100"));

        const std::string nan = m_dir.filePath(QStringLiteral("nan.safetensors")).toStdString();
        std::vector<float> w(2 * 64, 0.25f);
        w[65] = std::numeric_limits<float>::quiet_NaN();
        SafetensorsEntry n{"fc1", DType::F32, Shape{2, 64}, w.data(), w.size() * 4};
        QVERIFY(writeSafetensors(nan, {n}).has_value());
        const Run rn = cli({QStringLiteral("calibrate"), demo("mlp.safetensors"), QString::fromStdString(nan)});
        QCOMPARE(rn.code, 2);
        QVERIFY(rn.err.contains("fc1"));
        QVERIFY(rn.err.contains("NaN"));

        const Run rw = cli({QStringLiteral("calibrate"), demo("cnn.safetensors"), demo("mlp_calibration.safetensors")});
        QCOMPARE(rw.code, 2);
        QVERIFY(rw.err.contains("fc1"));
        QCOMPARE(cli({QStringLiteral("calibrate"), demo("mlp.safetensors")}).code, 2);
        QCOMPARE(cli({QStringLiteral("calibrate"), demo("mlp.safetensors"), demo("mlp_calibration.safetensors"),
                      QStringLiteral("--observer"), QStringLiteral("median")})
                     .code,
                 2);
    }
};

QTEST_APPLESS_MAIN(TestCliEvaluate)
#include "tst_cli_evaluate.moc"
