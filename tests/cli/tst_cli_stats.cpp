// quantlens-cli stats and formats, run as a user would: the real executable through QProcess.

#include "cli_runner.h"
#include "core/base/random.h"
#include "core/io/npy.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

using namespace ql;

namespace {

using Run = ql::test::CliRun;

Run cli(const QStringList& args)
{
    return ql::test::runCli(args);
}

} // namespace

class TestCliStats : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_worked, m_heavy;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_worked = m_dir.filePath(QStringLiteral("worked.npy"));
        const Tensor w({4, 4}, {3.14159265f, -2.71828183f, 1.41421356f, -0.57735027f, 0.86602540f, 2.23606798f,
                                -1.73205081f, 0.31622777f, -1.61803399f, 0.70710678f, 2.44948974f, -0.44721360f,
                                1.25992105f, -3.16227766f, 0.52359878f, 1.77245385f});
        QVERIFY(writeNpy(m_worked.toStdString(), w.view()).has_value());
        m_heavy = m_dir.filePath(QStringLiteral("heavy.npy"));
        QVERIFY(writeNpy(m_heavy.toStdString(), randomTensor({256, 512}, Distribution::StudentT3, 1).view()).has_value());
    }

    void jsonHasTheStableKeys()
    {
        const Run r = cli({QStringLiteral("stats"), m_worked, QStringLiteral("--bits"), QStringLiteral("8"),
                           QStringLiteral("--granularity"), QStringLiteral("tensor"), QStringLiteral("--json")});
        QCOMPARE(r.code, 0);
        const QJsonObject o = QJsonDocument::fromJson(r.out).object();
        for (const char* key : {"sqnr_db", "mse", "rmse", "max_abs_error", "cosine", "clip_fraction", "clip_mse",
                                "round_mse", "bits_per_weight", "nonfinite", "elements"})
            QVERIFY2(o.contains(QLatin1String(key)), key);
        QCOMPARE(o.value(QStringLiteral("elements")).toInt(), 16);
        QCOMPARE(o.value(QStringLiteral("bits_per_weight")).toDouble(), 8.0 + 40.0 / 16.0);
        QVERIFY(o.value(QStringLiteral("max_abs_error")).toDouble() <= 6.30387031 / 255 / 2 + 1e-6);
        QCOMPARE(o.value(QStringLiteral("clip_fraction")).toDouble(), 0.0);
    }

    void tableOutputAndDefaults()
    {
        const Run r = cli({QStringLiteral("stats"), m_heavy});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains("SQNR"));
        QVERIFY(r.out.contains("int8 asym ch0 minmax"));  // the documented default spec
    }

    void rangeMethodsReachTheCore()
    {
        auto sqnr = [&](const QString& range) {
            const Run r = cli({QStringLiteral("stats"), m_heavy, QStringLiteral("--bits"), QStringLiteral("4"),
                               QStringLiteral("--symmetric"), QStringLiteral("--granularity"), QStringLiteral("channel:0"),
                               QStringLiteral("--range"), range, QStringLiteral("--json")});
            return QJsonDocument::fromJson(r.out).object().value(QStringLiteral("sqnr_db")).toDouble();
        };
        const double mm = sqnr(QStringLiteral("minmax"));
        QVERIFY(sqnr(QStringLiteral("mse")) > mm);
        QVERIFY(sqnr(QStringLiteral("percentile:99.9")) != mm);
    }

    void badUsageExitsTwo_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("needle");
        const QString f = QStringLiteral("PLACEHOLDER");
        QTest::addRow("no file") << QStringList{QStringLiteral("stats")} << QStringLiteral("FILE");
        QTest::addRow("bad bits") << QStringList{QStringLiteral("stats"), f, QStringLiteral("--bits"), QStringLiteral("x")}
                                  << QStringLiteral("--bits");
        QTest::addRow("bits out of range") << QStringList{QStringLiteral("stats"), f, QStringLiteral("--bits"), QStringLiteral("17")}
                                           << QStringLiteral("bits");
        QTest::addRow("bad group") << QStringList{QStringLiteral("stats"), f, QStringLiteral("--granularity"), QStringLiteral("group:7")}
                                   << QStringLiteral("group size 7");
        QTest::addRow("bad range") << QStringList{QStringLiteral("stats"), f, QStringLiteral("--range"), QStringLiteral("best")}
                                   << QStringLiteral("range");
        QTest::addRow("bad percentile") << QStringList{QStringLiteral("stats"), f, QStringLiteral("--range"), QStringLiteral("percentile:0")}
                                        << QStringLiteral("percentile");
        QTest::addRow("unknown option") << QStringList{QStringLiteral("stats"), f, QStringLiteral("--frobnicate"), QStringLiteral("1")}
                                        << QStringLiteral("--frobnicate");
        QTest::addRow("unknown format") << QStringList{QStringLiteral("stats"), f, QStringLiteral("--format"), QStringLiteral("int3000")}
                                        << QStringLiteral("int3000");
        QTest::addRow("missing file") << QStringList{QStringLiteral("stats"), QStringLiteral("/nonexistent/x.npy")}
                                      << QStringLiteral("/nonexistent/x.npy");
        QTest::addRow("unknown command") << QStringList{QStringLiteral("frobnicate")} << QStringLiteral("frobnicate");
    }
    void badUsageExitsTwo()
    {
        QFETCH(QStringList, args);
        QFETCH(QString, needle);
        args.replaceInStrings(QStringLiteral("PLACEHOLDER"), m_heavy);
        const Run r = cli(args);
        QCOMPARE(r.code, 2);
        QVERIFY(r.out.isEmpty());
        QCOMPARE(r.err.count('\n'), 1);  // exactly one line
        QVERIFY2(QString::fromUtf8(r.err).contains(needle), r.err.constData());
    }

    void truncatedFileNamesTheFile()
    {
        const QString bad = m_dir.filePath(QStringLiteral("truncated.npy"));
        QFile src(m_heavy), dst(bad);
        QVERIFY(src.open(QIODevice::ReadOnly) && dst.open(QIODevice::WriteOnly));
        dst.write(src.read(200));
        dst.close();
        const Run r = cli({QStringLiteral("stats"), bad});
        QCOMPARE(r.code, 2);
        QVERIFY(QString::fromUtf8(r.err).contains(bad));
    }

    void formatsListsTheTable()
    {
        const Run r = cli({QStringLiteral("formats"), QStringLiteral("--json")});
        QCOMPARE(r.code, 0);
        const QJsonArray a = QJsonDocument::fromJson(r.out).array();
        QVERIFY(!a.isEmpty());
        bool hasInt = false;
        for (const auto& v : a)
            hasInt |= v.toObject().value(QStringLiteral("name")).toString() == QStringLiteral("int");
        QVERIFY(hasInt);
        for (const auto& v : a) {
            const QJsonObject o = v.toObject();
            const QString name = o.value(QStringLiteral("name")).toString();
            QVERIFY2(o.value(QStringLiteral("granularities")).isArray(), qPrintable(name));
            QVERIFY2(o.value(QStringLiteral("parameters")).isArray(), qPrintable(name));
            if (name == QStringLiteral("int")) {
                const QJsonArray p = o.value(QStringLiteral("parameters")).toArray();
                for (const char* want : {"bits", "scheme", "granularity", "group_size", "range", "scale_storage"})
                    QVERIFY2(p.contains(QLatin1String(want)), want);
                QCOMPARE(o.value(QStringLiteral("granularities")).toArray().size(), 3);
            }
            if (name == QStringLiteral("q4_k"))
                QCOMPARE(o.value(QStringLiteral("bits_per_weight_4096x4096")).toDouble(), 4.5);
        }
        const Run table = cli({QStringLiteral("formats")});
        QCOMPARE(table.code, 0);
        QVERIFY(table.out.contains("parameters"));
        QVERIFY(table.out.contains("group_size"));
        QCOMPARE(cli({QStringLiteral("--help")}).code, 0);
        QCOMPARE(cli({QStringLiteral("stats"), QStringLiteral("--help")}).code, 0);
    }

    void statsRunsEveryFormat()
    {
        // Every row of the format table, at its default spec, through `stats --format NAME`.
        const Run list = cli({QStringLiteral("formats"), QStringLiteral("--json")});
        QCOMPARE(list.code, 0);
        const QJsonArray a = QJsonDocument::fromJson(list.out).array();
        QVERIFY(a.size() >= 20);
        const QHash<QString, double> exactBpw{{QStringLiteral("q8_0"), 8.5}, {QStringLiteral("q4_0"), 4.5},
                                              {QStringLiteral("q4_k"), 4.5}, {QStringLiteral("q6_k"), 6.5625},
                                              {QStringLiteral("q2_k"), 2.625}, {QStringLiteral("mxfp4"), 4.25},
                                              {QStringLiteral("fp16"), 16.0}};
        for (const auto& v : a) {
            const QString name = v.toObject().value(QStringLiteral("name")).toString();
            const Run r = cli({QStringLiteral("stats"), m_heavy, QStringLiteral("--format"), name, QStringLiteral("--json")});
            QVERIFY2(r.code == 0, qPrintable(name + QStringLiteral(": ") + QString::fromUtf8(r.err)));
            const QJsonObject o = QJsonDocument::fromJson(r.out).object();
            QCOMPARE(o.value(QStringLiteral("elements")).toInt(), 256 * 512);
            const QJsonValue sqnr = o.value(QStringLiteral("sqnr_db"));
            // Lossless rows report null; every lossy one keeps more signal than it loses.
            QVERIFY2(sqnr.isNull() || sqnr.toDouble() > 0.5, qPrintable(name));
            QVERIFY2(o.value(QStringLiteral("bits_per_weight")).toDouble() > 0.9, qPrintable(name));
            if (exactBpw.contains(name))
                QVERIFY2(qAbs(o.value(QStringLiteral("bits_per_weight")).toDouble() - exactBpw.value(name)) < 1e-9,
                         qPrintable(name));
        }
    }
};

QTEST_GUILESS_MAIN(TestCliStats)
#include "tst_cli_stats.moc"
