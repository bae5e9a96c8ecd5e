// Export → read back with the model readers → dequantize equals the in-memory dequantization, for
// every format of the traits table, every granularity it allows, and every export type.

#include "core/base/random.h"
#include "core/export/exporter.h"
#include "core/io/model.h"
#include "core/io/safetensors.h"
#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cstring>

using namespace ql;

Q_DECLARE_METATYPE(ql::QuantSpec)
Q_DECLARE_METATYPE(ql::ExportFormat)

namespace {

std::vector<std::uint16_t> toHalf(const Tensor& t)
{
    std::vector<std::uint16_t> h(t.data.size());
    for (std::size_t i = 0; i < h.size(); ++i)
        h[i] = floatToHalf(t.data[i]);
    return h;
}

/// A small model: F32 and F16 matrices, a 1-D norm, a matrix whose rows fit no block size, an
/// integer tensor. Rows of 256 fit every block format.
struct SmallModel {
    Tensor a = randomTensor({16, 256}, Distribution::Normal, 11);
    Tensor b = randomTensor({8, 512}, Distribution::StudentT3, 12);
    Tensor norm = randomTensor({256}, Distribution::Normal, 13);
    Tensor odd = randomTensor({6, 100}, Distribution::Normal, 14);
    std::vector<std::uint16_t> bHalf = toHalf(b);
    std::vector<std::int32_t> ids{1, 2, 3, 4, 5, 6, 7, 8};

    Result<void> write(const std::string& path) const
    {
        std::vector<SafetensorsEntry> e;
        e.push_back({"layers.0.weight", DType::F32, a.shape, a.data.data(), a.data.size() * 4});
        e.push_back({"layers.1.weight", DType::F16, b.shape, bHalf.data(), bHalf.size() * 2});
        e.push_back({"norm.weight", DType::F32, norm.shape, norm.data.data(), norm.data.size() * 4});
        e.push_back({"odd.weight", DType::F32, odd.shape, odd.data.data(), odd.data.size() * 4});
        e.push_back({"ids", DType::I32, Shape{8}, ids.data(), ids.size() * 4});
        return writeSafetensors(path, e);
    }
};

bool bitsEqual(const std::vector<float>& x, const std::vector<float>& y, QString& why)
{
    if (x.size() != y.size()) {
        why = QStringLiteral("size %1 vs %2").arg(x.size()).arg(y.size());
        return false;
    }
    for (std::size_t i = 0; i < x.size(); ++i)
        if (std::memcmp(&x[i], &y[i], 4) != 0 && !(std::isnan(x[i]) && std::isnan(y[i]))) {
            why = QStringLiteral("element %1: %2 vs %3").arg(i).arg(double(x[i]), 0, 'g', 9).arg(double(y[i]), 0, 'g', 9);
            return false;
        }
    return true;
}

} // namespace

class TestExportRoundtrip : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::string m_modelPath;
    ModelPtr m_model;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_modelPath = m_dir.filePath(QStringLiteral("small.safetensors")).toStdString();
        SmallModel m;
        QVERIFY(m.write(m_modelPath).has_value());
        auto model = openModel(m_modelPath);
        QVERIFY2(model.has_value(), model ? "" : model.error().toString().c_str());
        m_model = *model;
    }

    void roundTrip_data()
    {
        QTest::addColumn<QuantSpec>("spec");
        QTest::addColumn<ExportFormat>("format");
        const ExportFormat targets[] = {ExportFormat::Safetensors, ExportFormat::FakeQuantSafetensors,
                                        ExportFormat::Hdf5, ExportFormat::Gguf};
        for (const auto& t : allFormats()) {
            if (t.format == Format::F32)
                continue;
            std::vector<QuantSpec> specs;
            const QuantSpec base = defaultSpec(t.format);
            if (t.blockSize > 0) {
                specs.push_back(base);
            } else {
                for (GranularityKind k : {GranularityKind::Tensor, GranularityKind::Channel, GranularityKind::Group}) {
                    if (!t.allows(k))
                        continue;
                    QuantSpec s = base;
                    s.granularity = Granularity{k, 0, 64};
                    specs.push_back(s);
                }
                if (t.has(kParamScheme)) {
                    QuantSpec s = base;
                    s.scheme = Scheme::Symmetric;
                    s.granularity = Granularity{GranularityKind::Group, 0, 32};
                    specs.push_back(s);
                }
                if (t.minBits < t.maxBits) {
                    for (int b : {t.minBits, 3, 5}) {
                        if (b < t.minBits || b > t.maxBits)
                            continue;
                        QuantSpec s = base;
                        s.bits = b;
                        specs.push_back(s);
                    }
                }
            }
            for (const auto& s : specs)
                for (ExportFormat f : targets) {
                    if (f == ExportFormat::Gguf && t.ggufType < 0)
                        continue;
                    const std::string name = specShortName(s) + " → " + exportFormatName(f);
                    QTest::newRow(name.c_str()) << s << f;
                }
        }
    }

    void roundTrip()
    {
        QFETCH(QuantSpec, spec);
        QFETCH(ExportFormat, format);
        QuantPlan plan;
        plan.defaultSpec = spec;
        const char* ext = format == ExportFormat::Gguf ? ".gguf" : format == ExportFormat::Hdf5 ? ".h5" : ".safetensors";
        const std::string out = m_dir.filePath(QStringLiteral("rt")).toStdString() + ext;
        ExportOptions opt;
        opt.format = format;
        auto report = exportModel(*m_model, plan, out, opt);
        QVERIFY2(report.has_value(), report ? "" : report.error().toString().c_str());
        QCOMPARE(report->tensors.size(), m_model->tensors().size());

        auto back = openModel(out);
        QVERIFY2(back.has_value(), back ? "" : back.error().toString().c_str());
        const auto names = exportedTensorNames(**back);
        QCOMPARE(names.size(), m_model->tensors().size());
        for (std::size_t i = 0; i < m_model->tensors().size(); ++i) {
            const TensorInfo& info = m_model->tensors()[i];
            const TensorExport& te = report->tensors[i];
            QCOMPARE(QString::fromStdString(names[i]), QString::fromStdString(info.name));
            auto x = m_model->readTensor(i);
            QVERIFY(x.has_value());
            std::vector<float> expected;
            if (te.used) {
                auto r = quantize(x->view(), *te.used);
                QVERIFY2(r.has_value(), r ? "" : r.error().toString().c_str());
                expected = r->dequant;
            } else {
                expected = x->data;
            }
            if (format == ExportFormat::FakeQuantSafetensors && info.dtype == DType::F16)
                for (auto& v : expected)
                    v = halfToFloat(floatToHalf(v));
            Result<Tensor> got = format == ExportFormat::Gguf
                                     ? (*back)->readTensor(*(*back)->find(info.name))
                                     : readExportedTensor(**back, info.name);
            QVERIFY2(got.has_value(), got ? "" : got.error().toString().c_str());
            QCOMPARE(got->shape, info.logicalShape);
            QString why;
            QVERIFY2(bitsEqual(got->data, expected, why),
                     qPrintable(QString::fromStdString(info.name + " (" + te.storedAs + "): ") + why));
        }
    }

    void packingIsLittleEndianBitStream()
    {
        // 4-bit codes 1, 2, 3 → low nibble first: 0x21, 0x03.
        const std::int32_t c4[] = {1, 2, 3};
        std::uint8_t b4[2] = {0xff, 0xff};
        packCodes(c4, 3, 4, b4);
        QCOMPARE(int(b4[0]), 0x21);
        QCOMPARE(int(b4[1]), 0x03);
        // 3-bit codes 1..5: stream bits 001 010 011 100 101 (LSB first) → 0xD1, 0x58.
        const std::int32_t c3[] = {1, 2, 3, 4, 5};
        std::uint8_t b3[2] = {};
        QCOMPARE(packedBytes(5, 3), std::uint64_t(2));
        packCodes(c3, 5, 3, b3);
        QCOMPARE(int(b3[0]), 0xD1);
        QCOMPARE(int(b3[1]), 0x58);
        // Signed codes are b-bit two's complement and sign-extend back.
        const std::int32_t s[] = {-1, -8, 7, 0, -3};
        std::uint8_t bs[3] = {};
        packCodes(s, 5, 4, bs);
        std::int32_t back[5] = {};
        unpackCodes(bs, 5, 4, true, back);
        for (int i = 0; i < 5; ++i)
            QCOMPARE(back[i], s[i]);
    }

    void packingRoundTripsEveryWidth()
    {
        Rng rng(5);
        for (int bits = 1; bits <= 8; ++bits) {
            for (bool sgn : {false, true}) {
                const std::int64_t n = 1001;
                std::vector<std::int32_t> codes(n);
                for (auto& c : codes) {
                    const std::int32_t u = std::int32_t(rng.next() % (1ull << bits));
                    c = sgn && bits > 1 ? u - (1 << (bits - 1)) : u;
                }
                std::vector<std::uint8_t> bytes(packedBytes(n, bits));
                packCodes(codes.data(), n, bits, bytes.data());
                std::vector<std::int32_t> back(n);
                unpackCodes(bytes.data(), n, bits, sgn && bits > 1, back.data());
                QVERIFY2(back == codes, qPrintable(QStringLiteral("bits %1 signed %2").arg(bits).arg(sgn)));
            }
        }
    }
};

QTEST_APPLESS_MAIN(TestExportRoundtrip)
#include "tst_export_roundtrip.moc"
