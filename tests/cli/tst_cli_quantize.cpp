// quantlens-cli quantize and config, run as a user would: the real executable through QProcess.

#include "cli_runner.h"
#include "core/base/random.h"
#include "core/export/config.h"
#include "core/export/exporter.h"
#include "core/io/model.h"
#include "core/io/safetensors.h"
#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <cstring>

using namespace ql;

namespace {

using Run = ql::test::CliRun;

Run cli(const QStringList& args)
{
    return ql::test::runCli(args);
}

Result<void> writeModel(const std::string& path, int nMatrices, std::int64_t rows, std::int64_t cols,
                        std::vector<Tensor>& keep)
{
    std::vector<SafetensorsEntry> e;
    keep.clear();
    keep.reserve(std::size_t(nMatrices) + 1);
    for (int i = 0; i < nMatrices; ++i)
        keep.push_back(randomTensor({rows, cols}, Distribution::Normal, std::uint64_t(100 + i)));
    keep.push_back(randomTensor({6, 100}, Distribution::Normal, 99));
    for (int i = 0; i < nMatrices; ++i)
        e.push_back({"layers." + std::to_string(i) + ".weight", DType::F32, keep[std::size_t(i)].shape,
                     keep[std::size_t(i)].data.data(), keep[std::size_t(i)].data.size() * 4});
    e.push_back({"odd.weight", DType::F32, keep.back().shape, keep.back().data.data(), keep.back().data.size() * 4});
    return writeSafetensors(path, e);
}

QByteArray readAll(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

} // namespace

class TestCliQuantize : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_model;
    std::vector<Tensor> m_tensors;

    QString path(const char* name) const { return m_dir.filePath(QLatin1String(name)); }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_model = path("model.safetensors");
        QVERIFY(writeModel(m_model.toStdString(), 3, 32, 256, m_tensors).has_value());
    }

    void helpForEveryCommand()
    {
        for (const char* cmd : {"quantize", "sweep", "config"}) {
            const Run r = cli({QLatin1String(cmd), QStringLiteral("--help")});
            QCOMPARE(r.code, 0);
            QVERIFY2(r.out.contains("usage: quantlens-cli"), cmd);
        }
    }

    void badUsageExitsTwo()
    {
        QCOMPARE(cli({QStringLiteral("quantize")}).code, 2);
        QCOMPARE(cli({QStringLiteral("quantize"), m_model}).code, 2);  // no -o
        QCOMPARE(cli({QStringLiteral("quantize"), m_model, QStringLiteral("-o"), path("x.onnx")}).code, 2);
        QCOMPARE(cli({QStringLiteral("quantize"), m_model, QStringLiteral("-o"), path("x.gguf"),
                      QStringLiteral("--fake-quant")})
                     .code,
                 2);
        QCOMPARE(cli({QStringLiteral("quantize"), path("missing.safetensors"), QStringLiteral("-o"), path("x.gguf")}).code, 2);
        QCOMPARE(cli({QStringLiteral("quantize"), m_model, QStringLiteral("-o"), path("x.gguf"), QStringLiteral("--bogus"),
                      QStringLiteral("1")})
                     .code,
                 2);
        const Run r = cli({QStringLiteral("quantize"), m_model, QStringLiteral("-o"), path("x.gguf"),
                           QStringLiteral("--bits"), QStringLiteral("99")});
        QCOMPARE(r.code, 2);
        QVERIFY(!r.err.isEmpty());
        QVERIFY(!QFile::exists(path("x.gguf")));
    }

    void quantizeWithSpecFlagsListsFallbacks()
    {
        const QString out = path("q.safetensors");
        const Run r = cli({QStringLiteral("quantize"), m_model, QStringLiteral("--bits"), QStringLiteral("4"),
                           QStringLiteral("--granularity"), QStringLiteral("group:64"), QStringLiteral("-o"), out,
                           QStringLiteral("--json"), QStringLiteral("--quiet")});
        QVERIFY2(r.code == 0, r.err.constData());
        const QJsonObject o = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(o.value(QStringLiteral("format")).toString(), QStringLiteral("safetensors"));
        QCOMPARE(o.value(QStringLiteral("tensors")).toArray().size(), 4);
        const QJsonArray fb = o.value(QStringLiteral("fallbacks")).toArray();
        QCOMPARE(fb.size(), 1);
        QCOMPARE(fb[0].toObject().value(QStringLiteral("name")).toString(), QStringLiteral("odd.weight"));
        QVERIFY(fb[0].toObject().value(QStringLiteral("reason")).toString().contains(QStringLiteral("per-channel")));

        // The file reads back to the in-memory dequantization.
        auto model = openModel(out.toStdString());
        QVERIFY(model.has_value());
        QuantSpec spec;
        spec.bits = 4;
        spec.granularity = Granularity{GranularityKind::Group, 0, 64};
        auto expected = quantize(m_tensors[0].view(), spec);
        QVERIFY(expected.has_value());
        auto got = readExportedTensor(**model, "layers.0.weight");
        QVERIFY(got.has_value());
        QVERIFY(std::memcmp(got->data.data(), expected->dequant.data(), expected->dequant.size() * 4) == 0);

        // The table form names the fallback too.
        const Run t = cli({QStringLiteral("quantize"), m_model, QStringLiteral("--bits"), QStringLiteral("4"),
                           QStringLiteral("--granularity"), QStringLiteral("group:64"), QStringLiteral("-o"), out,
                           QStringLiteral("--quiet")});
        QCOMPARE(t.code, 0);
        QVERIFY(t.out.contains("fallback  odd.weight"));
    }

    void quantizeWithConfigAndAllOutputs()
    {
        QuantConfig c;
        c.plan.defaultSpec = defaultSpec(Format::Q8_0);
        c.plan.overrides.push_back({PatternKind::Exact, "layers.1.weight", defaultSpec(Format::Q4_K)});
        c.plan.overrides.push_back({PatternKind::Exact, "ghost.weight", defaultSpec(Format::Q4_K)});
        const QString cfg = path("plan.json");
        QVERIFY(saveConfig(cfg.toStdString(), c).has_value());
        for (const char* name : {"c.gguf", "c.h5", "c.safetensors"}) {
            const Run r = cli({QStringLiteral("quantize"), m_model, QStringLiteral("--config"), cfg,
                               QStringLiteral("-o"), path(name), QStringLiteral("--quiet")});
            QVERIFY2(r.code == 0, r.err.constData());
            QVERIFY2(r.err.contains("ghost.weight"), r.err.constData());  // the missing-tensor warning
            QVERIFY(QFile::exists(path(name)));
        }
        const Run fake = cli({QStringLiteral("quantize"), m_model, QStringLiteral("--config"), cfg,
                              QStringLiteral("-o"), path("fake.safetensors"), QStringLiteral("--fake-quant"),
                              QStringLiteral("--quiet")});
        QCOMPARE(fake.code, 0);
        auto m = openModel(path("fake.safetensors").toStdString());
        QVERIFY(m.has_value());
        QCOMPARE((*m)->tensors().size(), std::size_t(4));
        QCOMPARE((*m)->tensors()[0].dtype.value(), DType::F32);
        // Both --config and spec flags: usage error.
        QCOMPARE(cli({QStringLiteral("quantize"), m_model, QStringLiteral("--config"), cfg, QStringLiteral("--bits"),
                      QStringLiteral("4"), QStringLiteral("-o"), path("c.gguf")})
                     .code,
                 2);
    }

    void invalidConfigNamesThePath()
    {
        const QString cfg = path("bad.json");
        QFile f(cfg);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"format_version\": 1, \"default\": {\"format\": \"int\", \"bits\": 4}, \"overides\": []}");
        f.close();
        const Run r = cli({QStringLiteral("config"), QStringLiteral("validate"), cfg});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("$.overides") && r.err.contains("unknown key"), r.err.constData());
        const Run q = cli({QStringLiteral("quantize"), m_model, QStringLiteral("--config"), cfg, QStringLiteral("-o"),
                           path("never.gguf")});
        QCOMPARE(q.code, 2);
        QVERIFY(!QFile::exists(path("never.gguf")));
    }

    void configInitValidateExportPlan()
    {
        const QString cfg = path("init.json");
        Run r = cli({QStringLiteral("config"), QStringLiteral("init"), m_model, QStringLiteral("--format"),
                     QStringLiteral("q4_k"), QStringLiteral("-o"), cfg});
        QVERIFY2(r.code == 0, r.err.constData());
        auto c = loadConfig(cfg.toStdString());
        QVERIFY(c.has_value());
        QVERIFY(c->source.has_value());
        QCOMPARE(c->plan.defaultSpec.format, Format::Q4_K);
        r = cli({QStringLiteral("config"), QStringLiteral("validate"), cfg, QStringLiteral("--model"), m_model});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains("valid config"));
        r = cli({QStringLiteral("config"), QStringLiteral("export-plan"), cfg, QStringLiteral("--model"), m_model,
                 QStringLiteral("--tool"), QStringLiteral("llama.cpp")});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains("#quantlens-note:default_q4_k"));
        r = cli({QStringLiteral("config"), QStringLiteral("export-plan"), cfg, QStringLiteral("--model"), m_model,
                 QStringLiteral("--tool"), QStringLiteral("llm-compressor"), QStringLiteral("-o"), path("recipe.yaml")});
        QCOMPARE(r.code, 0);
        QVERIFY(readAll(path("recipe.yaml")).contains("NOT TRANSLATED"));  // q4_k has no llm-compressor scheme
        QCOMPARE(cli({QStringLiteral("config"), QStringLiteral("export-plan"), cfg, QStringLiteral("--model"), m_model,
                      QStringLiteral("--tool"), QStringLiteral("onnx")})
                     .code,
                 2);
    }

    void ctrlCCancelsCleanly()
    {
        // A model big enough that the export is still running when the first progress line arrives.
        const QString big = path("big.safetensors");
        std::vector<Tensor> keep;
        QVERIFY(writeModel(big.toStdString(), 24, 512, 512, keep).has_value());
        keep.clear();
        const QString out = path("cancel.safetensors");
        const QByteArray old("the previous export");
        {
            QFile f(out);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(old);
        }
        QProcess p;
        p.start(QStringLiteral(QL_CLI_PATH), {QStringLiteral("quantize"), big, QStringLiteral("--format"),
                                              QStringLiteral("kmeans"), QStringLiteral("--bits"), QStringLiteral("4"),
                                              QStringLiteral("-o"), out});
        QVERIFY(p.waitForStarted());
        QByteArray err;
        // Wait for the first progress line on stderr, then press Ctrl+C.
        while (!err.contains("%") && p.state() == QProcess::Running) {
            p.waitForReadyRead(100);
            err += p.readAllStandardError();
        }
        QVERIFY2(p.state() == QProcess::Running, "the export finished before it could be cancelled");
        ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(60000));
        err += p.readAllStandardError();
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 1);
        QVERIFY2(err.contains("cancelled"), err.constData());
        QCOMPARE(readAll(out), old);
        const QStringList temps = QDir(m_dir.path()).entryList({QStringLiteral(".cancel*")}, QDir::Files | QDir::Hidden);
        QVERIFY2(temps.isEmpty(), qPrintable(temps.join(QLatin1Char(' '))));
    }
};

QTEST_APPLESS_MAIN(TestCliQuantize)
#include "tst_cli_quantize.moc"
