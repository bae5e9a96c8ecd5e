// quantlens-cli inspect, and stats on any model file with --tensor: the real executable through QProcess.

#include "cli_runner.h"
#include "core/io/safetensors.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace ql;

namespace {

using Run = ql::test::CliRun;

Run cli(const QStringList& args)
{
    return ql::test::runCli(args);
}

} // namespace

class TestCliInspect : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_model;

    QString file(const char* name) const { return m_dir.path() + QLatin1Char('/') + QLatin1String(name); }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_model = file("model.safetensors");
        std::vector<std::uint16_t> w(8 * 6);
        for (std::size_t i = 0; i < w.size(); ++i)
            w[i] = floatToHalf(float(int(i) - 20) / 8.0f);
        const float b[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        const float n[6] = {1, 1, 1, 1, 1, 1};
        QVERIFY(writeSafetensors(m_model.toStdString(),
                                 {{"model.layers.0.mlp.up_proj.weight", DType::F16, {8, 6}, w.data(), w.size() * 2},
                                  {"model.layers.0.mlp.up_proj.bias", DType::F32, {8}, b, sizeof b},
                                  {"model.norm.weight", DType::F32, {6}, n, sizeof n}},
                                 {{"format", "pt"}})
                    .has_value());
    }

    void json()
    {
        const Run r = cli({QStringLiteral("inspect"), m_model, QStringLiteral("--json")});
        QVERIFY2(r.code == 0, r.err.constData());
        QVERIFY(r.err.isEmpty());
        const QJsonObject o = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(o[QLatin1String("format")].toString(), QStringLiteral("safetensors"));
        QCOMPARE(o[QLatin1String("parameters")].toInteger(), 48 + 8 + 6);
        QCOMPARE(o[QLatin1String("bytes")].toInteger(), 96 + 32 + 24);
        QCOMPARE(o[QLatin1String("tensor_count")].toInt(), 3);
        QCOMPARE(o[QLatin1String("metadata")].toObject()[QLatin1String("format")].toString(), QStringLiteral("pt"));
        const QJsonArray ts = o[QLatin1String("tensors")].toArray();
        QCOMPARE(ts.size(), 3);
        const QJsonObject t0 = ts[0].toObject();
        for (const char* key : {"name", "dtype", "shape", "bytes", "layer", "role", "parameters", "logical_shape",
                                "channel_axis", "supported", "bits_per_weight"})
            QVERIFY2(t0.contains(QLatin1String(key)), key);
        QCOMPARE(t0[QLatin1String("name")].toString(), QStringLiteral("model.layers.0.mlp.up_proj.weight"));
        QCOMPARE(t0[QLatin1String("dtype")].toString(), QStringLiteral("F16"));
        QCOMPARE(t0[QLatin1String("shape")].toArray(), (QJsonArray{8, 6}));
        QCOMPARE(t0[QLatin1String("bytes")].toInt(), 96);
        QCOMPARE(t0[QLatin1String("layer")].toString(), QStringLiteral("layers.0.mlp.up_proj"));
        QCOMPARE(t0[QLatin1String("role")].toString(), QStringLiteral("weight"));
        QCOMPARE(ts[1].toObject()[QLatin1String("role")].toString(), QStringLiteral("bias"));
        QCOMPARE(ts[2].toObject()[QLatin1String("role")].toString(), QStringLiteral("norm"));
    }

    void table()
    {
        const Run r = cli({QStringLiteral("inspect"), m_model});
        QVERIFY2(r.code == 0, r.err.constData());
        QVERIFY(r.out.contains("safetensors"));
        QVERIFY(r.out.contains("model.layers.0.mlp.up_proj.weight"));
        QVERIFY(r.out.contains("[8,6]"));
    }

    void unreadable_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("name");
        QTest::newRow("garbage") << QByteArray("this is not a model at all") << QStringLiteral("x.bin");
        QTest::newRow("truncated safetensors") << QByteArray("\x40\x00\x00\x00\x00\x00\x00\x00{\"a\"", 12)
                                               << QStringLiteral("t.safetensors");
        QTest::newRow("bad gguf") << QByteArray("GGUF\x03\x00\x00\x00", 8) << QStringLiteral("b.gguf");
    }

    void unreadable()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, name);
        const QString p = file(name.toLatin1().constData());
        {
            std::ofstream f(p.toStdString(), std::ios::binary);
            f.write(bytes.constData(), bytes.size());
        }
        for (const QStringList& args : {QStringList{QStringLiteral("inspect"), p},
                                        QStringList{QStringLiteral("inspect"), p, QStringLiteral("--json")},
                                        QStringList{QStringLiteral("stats"), p}}) {
            const Run r = cli(args);
            QCOMPARE(r.code, 2);
            QVERIFY(r.out.isEmpty());
            QCOMPARE(r.err.count('\n'), 1);
            QVERIFY2(r.err.contains(name.toLatin1()), r.err.constData());
        }
        const Run missing = cli({QStringLiteral("inspect"), file("missing.safetensors")});
        QCOMPARE(missing.code, 2);
        QVERIFY(missing.err.contains("missing.safetensors"));
    }

    void statsOnAnyFile()
    {
        const Run r = cli({QStringLiteral("stats"), m_model, QStringLiteral("--tensor"),
                           QStringLiteral("model.layers.0.mlp.up_proj.weight"), QStringLiteral("--bits"),
                           QStringLiteral("4"), QStringLiteral("--json")});
        QVERIFY2(r.code == 0, r.err.constData());
        const QJsonObject o = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(o[QLatin1String("shape")].toArray(), (QJsonArray{8, 6}));
        QCOMPARE(o[QLatin1String("elements")].toInt(), 48);
        // Several tensors and no --tensor: an error that lists some names.
        const Run none = cli({QStringLiteral("stats"), m_model});
        QCOMPARE(none.code, 2);
        QVERIFY2(none.err.contains("--tensor") && none.err.contains("model.norm.weight"), none.err.constData());
        const Run wrong = cli({QStringLiteral("stats"), m_model, QStringLiteral("--tensor"), QStringLiteral("nope")});
        QCOMPARE(wrong.code, 2);
        QVERIFY2(wrong.err.contains("nope") && wrong.err.contains("up_proj"), wrong.err.constData());
        // A one-tensor file needs no --tensor.
        const QString one = file("one.safetensors");
        const float v[4] = {1, -2, 3, -4};
        QVERIFY(writeSafetensors(one.toStdString(), {{"w", DType::F32, {2, 2}, v, sizeof v}}).has_value());
        const Run single = cli({QStringLiteral("stats"), one, QStringLiteral("--json")});
        QVERIFY2(single.code == 0, single.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCliInspect)
#include "tst_cli_inspect.moc"
