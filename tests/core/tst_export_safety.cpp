// Export safety: a failed or cancelled export leaves the previous file byte-identical and no
// temporary file behind; the input model is never overwritten; fallbacks are listed, never silent;
// the GGUF header follows the specification.

#include "core/base/random.h"
#include "core/export/exporter.h"
#include "core/io/gguf.h"
#include "core/io/model.h"
#include "core/io/safetensors.h"
#include "core/quant/format_traits.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <cstring>

using namespace ql;

namespace {

QByteArray readAll(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return f.readAll();
}

void writeFile(const QString& path, const QByteArray& data)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(data);
}

} // namespace

class TestExportSafety : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::string m_modelPath;
    ModelPtr m_model;
    std::vector<Tensor> m_tensors;

    QStringList leftovers() const
    {
        // Temporary files are hidden ".name.tmp-..." files in the target directory.
        return QDir(m_dir.path()).entryList({QStringLiteral(".*tmp*")}, QDir::Files | QDir::Hidden);
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_modelPath = m_dir.filePath(QStringLiteral("src.safetensors")).toStdString();
        std::vector<SafetensorsEntry> e;
        const char* names[] = {"blk.0.w", "blk.1.w", "blk.2.w", "blk.3.w", "norm", "odd"};
        const Shape shapes[] = {{32, 256}, {32, 256}, {32, 256}, {32, 256}, {256}, {8, 100}};
        for (int i = 0; i < 6; ++i)
            m_tensors.push_back(randomTensor(shapes[i], Distribution::Normal, std::uint64_t(40 + i)));
        for (int i = 0; i < 6; ++i)
            e.push_back({names[i], DType::F32, shapes[i], m_tensors[i].data.data(), m_tensors[i].data.size() * 4});
        QVERIFY(writeSafetensors(m_modelPath, e).has_value());
        auto m = openModel(m_modelPath);
        QVERIFY(m.has_value());
        m_model = *m;
    }

    void cancelKeepsPreviousFile_data()
    {
        QTest::addColumn<QString>("ext");
        QTest::newRow("safetensors") << QStringLiteral(".safetensors");
        QTest::newRow("gguf") << QStringLiteral(".gguf");
        QTest::newRow("hdf5") << QStringLiteral(".h5");
    }

    void cancelKeepsPreviousFile()
    {
        QFETCH(QString, ext);
        const QString out = m_dir.filePath(QStringLiteral("previous") + ext);
        const QByteArray old("previous content that must survive");
        writeFile(out, old);
        QuantPlan plan;
        plan.defaultSpec = ext == QStringLiteral(".gguf") ? defaultSpec(Format::Q8_0) : QuantSpec{};
        ExportOptions opt;
        opt.format = *exportFormatForPath(out.toStdString(), false);
        // Cancel once the first tensor is done (progress past zero).
        bool started = false;
        TaskContext ctx;
        ctx.reportProgress = [&](std::int64_t done, std::int64_t) { started = started || done > 0; };
        ctx.isCancelled = [&] { return started; };
        auto r = exportModel(*m_model, plan, out.toStdString(), opt, ctx);
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::Cancelled);
        QCOMPARE(readAll(out), old);
        QVERIFY2(leftovers().isEmpty(), qPrintable(leftovers().join(QLatin1Char(' '))));
    }

    void failureKeepsPreviousFile()
    {
        // The target is a directory: the final rename fails after all data was written.
        const QString target = m_dir.filePath(QStringLiteral("adir.safetensors"));
        QVERIFY(QDir().mkpath(target));
        QVERIFY(QFile::copy(QString::fromStdString(m_modelPath), target + QStringLiteral("/inside")));
        auto r = exportModel(*m_model, QuantPlan{}, target.toStdString(), ExportOptions{});
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::Io);
        QVERIFY(QFileInfo(target).isDir());
        QVERIFY(leftovers().isEmpty());
        // A directory that does not exist.
        const std::string nowhere = m_dir.filePath(QStringLiteral("no/such/dir/out.gguf")).toStdString();
        ExportOptions g;
        g.format = ExportFormat::Gguf;
        r = exportModel(*m_model, QuantPlan{}, nowhere, g);
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::Io);
    }

    void neverOverwritesInput()
    {
        const QByteArray before = readAll(QString::fromStdString(m_modelPath));
        auto r = exportModel(*m_model, QuantPlan{}, m_modelPath, ExportOptions{});
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::InvalidArgument);
        QCOMPARE(readAll(QString::fromStdString(m_modelPath)), before);
    }

    void fallbacksAreListed()
    {
        QuantPlan plan;
        plan.defaultSpec.format = Format::Int;
        plan.defaultSpec.bits = 4;
        plan.defaultSpec.granularity = Granularity{GranularityKind::Group, 0, 64};
        auto planned = planExport(*m_model, plan, ExportFormat::Safetensors);
        QVERIFY(planned.has_value());
        std::map<std::string, const TensorExport*> by;
        for (const auto& t : *planned)
            by[t.name] = &t;
        // 100 is not a multiple of 64: per-channel instead, listed with the reason.
        QVERIFY(by["odd"]->fallback);
        QVERIFY(by["odd"]->used.has_value());
        QCOMPARE(by["odd"]->used->granularity.kind, GranularityKind::Channel);
        QVERIFY2(by["odd"]->reason.find("per-channel") != std::string::npos, by["odd"]->reason.c_str());
        QVERIFY(!by["blk.0.w"]->fallback);
        QCOMPARE(by["blk.0.w"]->scheme, StorageScheme::Affine);

        if (findFormatTraits(Format::Q4_K)) {
            QuantPlan g;
            g.defaultSpec = defaultSpec(Format::Q4_K);
            auto gp = planExport(*m_model, g, ExportFormat::Gguf);
            QVERIFY(gp.has_value());
            std::map<std::string, const TensorExport*> gb;
            for (const auto& t : *gp)
                gb[t.name] = &t;
            QVERIFY(gb["odd"]->fallback);
            QCOMPARE(QString::fromStdString(gb["odd"]->storedAs), QStringLiteral("F16"));
            QVERIFY(!gb["norm"]->fallback);  // 1-D tensors are kept as stored by default
            QVERIFY(!gb["norm"]->used.has_value());
            QCOMPARE(QString::fromStdString(gb["norm"]->storedAs), QStringLiteral("F32"));
            QCOMPARE(gb["blk.0.w"]->scheme, StorageScheme::Blocks);
            // And the export report lists the same fallbacks.
            const std::string out = m_dir.filePath(QStringLiteral("fb.gguf")).toStdString();
            ExportOptions opt;
            opt.format = ExportFormat::Gguf;
            auto r = exportModel(*m_model, g, out, opt);
            QVERIFY2(r.has_value(), r ? "" : r.error().toString().c_str());
            QCOMPARE(r->fallbacks().size(), std::size_t(1));
            // An override naming the norm asks for it: GGUF still keeps 1-D tensors in float, listed.
            QuantPlan g2 = g;
            g2.overrides.push_back({PatternKind::Exact, "norm", defaultSpec(Format::Q4_K)});
            auto gp2 = planExport(*m_model, g2, ExportFormat::Gguf);
            QVERIFY(gp2.has_value());
            for (const auto& t : *gp2)
                if (t.name == "norm")
                    QVERIFY(t.fallback);
        }
        // An int4 plan has no GGUF type: every matrix falls back to F16, each listed.
        auto ip = planExport(*m_model, plan, ExportFormat::Gguf);
        QVERIFY(ip.has_value());
        for (const auto& t : *ip)
            QVERIFY2(t.fallback == (t.shape.size() == 2), t.name.c_str());
    }

    void ggufHeaderFollowsTheSpec()
    {
        QuantPlan plan;
        plan.defaultSpec.format = Format::F16;
        if (findFormatTraits(Format::Q8_0))
            plan.defaultSpec = defaultSpec(Format::Q8_0);
        const std::string out = m_dir.filePath(QStringLiteral("h.gguf")).toStdString();
        ExportOptions opt;
        opt.format = ExportFormat::Gguf;
        opt.modelName = "tiny";
        auto r = exportModel(*m_model, plan, out, opt);
        QVERIFY2(r.has_value(), r ? "" : r.error().toString().c_str());
        const QByteArray bytes = readAll(QString::fromStdString(out));
        QVERIFY(bytes.startsWith("GGUF"));
        std::uint32_t version = 0;
        std::memcpy(&version, bytes.constData() + 4, 4);
        QCOMPARE(version, 3u);
        auto g = parseGguf(reinterpret_cast<const std::uint8_t*>(bytes.constData()), std::uint64_t(bytes.size()));
        QVERIFY2(g.has_value(), g ? "" : g.error().toString().c_str());
        QCOMPARE(g->alignment, std::uint64_t(32));
        QCOMPARE(g->dataOffset % 32, std::uint64_t(0));
        QVERIFY(g->find("general.alignment"));
        QCOMPARE(QString::fromStdString(g->find("general.name")->value.str), QStringLiteral("tiny"));
        QVERIFY(g->find("quantlens.plan"));
        QVERIFY(g->find("general.quantized_by"));
        QCOMPARE(g->tensors.size(), m_model->tensors().size());
        for (const auto& t : g->tensors) {
            QCOMPARE(t.offset % 32, std::uint64_t(0));
            if (t.name == "blk.0.w") {
                // ne[0] is the row length.
                QCOMPARE(t.ne.size(), std::size_t(2));
                QCOMPARE(t.ne[0], std::uint64_t(256));
                QCOMPARE(t.ne[1], std::uint64_t(32));
            }
        }

        // Re-exporting the GGUF keeps every metadata key (and its value) of the source.
        auto src = openModel(out);
        QVERIFY(src.has_value());
        const std::string again = m_dir.filePath(QStringLiteral("h2.gguf")).toStdString();
        QuantPlan keep;
        keep.skip = {"*"};
        auto r2 = exportModel(**src, keep, again, opt);
        QVERIFY2(r2.has_value(), r2 ? "" : r2.error().toString().c_str());
        const QByteArray b2 = readAll(QString::fromStdString(again));
        auto g2 = parseGguf(reinterpret_cast<const std::uint8_t*>(b2.constData()), std::uint64_t(b2.size()));
        QVERIFY(g2.has_value());
        for (const auto& kv : g->metadata) {
            const auto* k2 = g2->find(kv.key);
            QVERIFY2(k2, kv.key.c_str());
            if (kv.key != "quantlens.plan")
                QCOMPARE(QString::fromStdString(k2->value.toString()), QString::fromStdString(kv.value.toString()));
        }
        // Skipped tensors keep their stored type and bytes.
        for (std::size_t i = 0; i < g->tensors.size(); ++i) {
            QCOMPARE(g2->tensors[i].type, g->tensors[i].type);
            QCOMPARE(QByteArray(b2.constData() + g2->dataOffset + g2->tensors[i].offset, int(g2->tensors[i].bytes)),
                     QByteArray(bytes.constData() + g->dataOffset + g->tensors[i].offset, int(g->tensors[i].bytes)));
        }
    }
};

QTEST_APPLESS_MAIN(TestExportSafety)
#include "tst_export_safety.moc"
