// quantlens-cli sweep through the real executable: every combination gets a row, in CSV and JSON,
// and the numbers equal the core quantize() for the same spec.

#include "cli_runner.h"
#include "core/base/random.h"
#include "core/io/npy.h"
#include "core/io/safetensors.h"
#include "core/quant/quantize.h"

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

class TestCliSweep : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_model;
    Tensor m_a;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_model = m_dir.filePath(QStringLiteral("m.safetensors"));
        m_a = randomTensor({16, 256}, Distribution::StudentT3, 3);
        const Tensor& a = m_a;
        const Tensor b = randomTensor({8, 96}, Distribution::Normal, 4);
        std::vector<SafetensorsEntry> e{{"a.weight", DType::F32, a.shape, a.data.data(), a.data.size() * 4},
                                        {"b.weight", DType::F32, b.shape, b.data.data(), b.data.size() * 4}};
        QVERIFY(writeSafetensors(m_model.toStdString(), e).has_value());
    }

    void csvHasEveryCombination()
    {
        const Run r = cli({QStringLiteral("sweep"), m_model, QStringLiteral("--bits"), QStringLiteral("2..8"),
                           QStringLiteral("--formats"), QStringLiteral("int,nf4,mxfp4"), QStringLiteral("--granularity"),
                           QStringLiteral("channel,group:128"), QStringLiteral("--csv"), QStringLiteral("--quiet")});
        QVERIFY2(r.code == 0, r.err.constData());
        const QList<QByteArray> lines = r.out.trimmed().split('\n');
        // Per tensor: int 7 bits × 2 granularities, nf4 (fixed 4 bits) × 2, mxfp4 (block) × 1 = 17.
        QCOMPARE(lines.size(), 1 + 2 * 17);
        QVERIFY(lines[0].startsWith("tensor,format,bits,granularity"));
        // b.weight: channels of 96 do not split into groups of 128 (n/a rows with the reason).
        int na = 0;
        for (const auto& l : lines)
            if (l.contains(",n/a,"))
                ++na;
        QVERIFY(na > 0);
    }

    void jsonMatchesStats()
    {
        const Run r = cli({QStringLiteral("sweep"), m_model, QStringLiteral("--bits"), QStringLiteral("4"),
                           QStringLiteral("--formats"), QStringLiteral("int"), QStringLiteral("--granularity"),
                           QStringLiteral("channel"), QStringLiteral("--json"), QStringLiteral("--quiet"),
                           QStringLiteral("--tensors"), QStringLiteral("a.*")});
        QVERIFY2(r.code == 0, r.err.constData());
        const QJsonArray rows = QJsonDocument::fromJson(r.out).array();
        QCOMPARE(rows.size(), 1);
        const QJsonObject row = rows[0].toObject();
        QCOMPARE(row.value(QStringLiteral("status")).toString(), QStringLiteral("ok"));
        // The same core call as every other view: int4 asymmetric per-channel min-max.
        QuantSpec spec;
        spec.bits = 4;
        spec.granularity = Granularity{GranularityKind::Channel, 0, 128};
        auto q = quantize(m_a.view(), spec);
        QVERIFY(q.has_value());
        QCOMPARE(row.value(QStringLiteral("metrics")).toObject().value(QStringLiteral("sqnr_db")).toDouble(),
                 q->metrics.sqnrDb);
        QCOMPARE(row.value(QStringLiteral("bits_per_weight")).toDouble(), q->bitsPerWeight);
    }

    void badUsage()
    {
        QCOMPARE(cli({QStringLiteral("sweep")}).code, 2);
        QCOMPARE(cli({QStringLiteral("sweep"), m_model, QStringLiteral("--formats"), QStringLiteral("nope")}).code, 2);
        QCOMPARE(cli({QStringLiteral("sweep"), m_model, QStringLiteral("--bits"), QStringLiteral("8..2")}).code, 2);
        QCOMPARE(cli({QStringLiteral("sweep"), m_model, QStringLiteral("--csv"), QStringLiteral("--json")}).code, 2);
        QCOMPARE(cli({QStringLiteral("sweep"), m_model, QStringLiteral("--help")}).code, 0);
    }
};

QTEST_APPLESS_MAIN(TestCliSweep)
#include "tst_cli_sweep.moc"
