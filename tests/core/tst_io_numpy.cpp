// NumPy readers: .npy versions 1-3, both byte orders, C and Fortran order, every numeric dtype;
// .npz archives with stored and deflated members (written here with libzip); malformed files.

#include "core/io/model.h"
#include "core/io/npy.h"

#include <QtTest/QtTest>

#include <zip.h>

#include <cmath>
#include <cstring>
#include <fstream>

using namespace ql;

namespace {

std::vector<std::uint8_t> npyBytes(int version, const std::string& descr, bool fortran, const Shape& shape,
                                   const std::vector<std::uint8_t>& data)
{
    std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': (";
    for (std::size_t i = 0; i < shape.size(); ++i)
        dict += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
    dict += "), }";
    const std::size_t prefix = version == 1 ? 10 : 12;
    while ((prefix + dict.size() + 1) % 64)
        dict += ' ';
    dict += '\n';
    std::vector<std::uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', std::uint8_t(version), 0};
    const std::size_t n = dict.size();
    out.push_back(std::uint8_t(n));
    out.push_back(std::uint8_t(n >> 8));
    if (version != 1) {
        out.push_back(std::uint8_t(n >> 16));
        out.push_back(std::uint8_t(n >> 24));
    }
    out.insert(out.end(), dict.begin(), dict.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

void writeAll(const std::string& path, const std::vector<std::uint8_t>& bytes)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint8_t> readAll(const std::string& path)
{
    std::ifstream f(path, std::ios::binary);
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f), {});
}

struct Member {
    std::string name;
    std::vector<std::uint8_t> bytes;
    bool deflate;
};

bool writeZip(const std::string& path, const std::vector<Member>& members)
{
    int err = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!z)
        return false;
    for (const auto& m : members) {
        zip_source_t* s = zip_source_buffer(z, m.bytes.data(), m.bytes.size(), 0);
        const zip_int64_t idx = zip_file_add(z, m.name.c_str(), s, ZIP_FL_ENC_UTF_8);
        if (idx < 0)
            return false;
        zip_set_file_compression(z, zip_uint64_t(idx), m.deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
    }
    return zip_close(z) == 0;
}

struct DtypeCase {
    const char* code;
    DType type;
};
const DtypeCase kCases[] = {{"f8", DType::F64}, {"f4", DType::F32}, {"f2", DType::F16}, {"i8", DType::I64},
                            {"i4", DType::I32}, {"i2", DType::I16}, {"i1", DType::I8},  {"u1", DType::U8},
                            {"b1", DType::Bool}};

} // namespace

class TestIoNumpy : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::string path(const std::string& name) const { return m_dir.path().toStdString() + "/" + name; }

private slots:
    void npy_data()
    {
        QTest::addColumn<int>("version");
        QTest::addColumn<int>("caseIndex");
        QTest::addColumn<bool>("bigEndian");
        QTest::addColumn<bool>("fortran");
        for (int v = 1; v <= 3; ++v)
            for (int c = 0; c < int(std::size(kCases)); ++c)
                for (bool be : {false, true})
                    for (bool f : {false, true}) {
                        if (be && dtypeSize(kCases[c].type) == 1)
                            continue;
                        std::string name = "v";
                        name.append(std::to_string(v)).append(" ").append(kCases[c].code);
                        name.append(be ? " BE" : " LE").append(f ? " F" : " C");
                        QTest::newRow(name.c_str()) << v << c << be << f;
                    }
    }

    void npy()
    {
        QFETCH(int, version);
        QFETCH(int, caseIndex);
        QFETCH(bool, bigEndian);
        QFETCH(bool, fortran);
        const DType d = kCases[caseIndex].type;
        const std::size_t es = dtypeSize(d);
        const Shape shape{2, 3, 4};
        const std::size_t n = 24;
        // Little-endian element bytes in C order, values chosen valid for every type.
        std::vector<std::uint8_t> le(n * es);
        for (std::size_t i = 0; i < le.size(); ++i)
            le[i] = d == DType::Bool ? std::uint8_t((i / es) % 3 == 0) : std::uint8_t((i * 53 + 3) & 0x7F);
        std::vector<float> expect(n);
        convertToFloat(d, le.data(), n, expect.data());
        // Storage order: Fortran puts element (i, j, k) at i + 2 j + 6 k.
        std::vector<std::uint8_t> stored(le.size());
        for (std::size_t c = 0; c < n; ++c) {
            const std::size_t i = c / 12, j = (c / 4) % 3, k = c % 4;
            const std::size_t s = fortran ? i + 2 * j + 6 * k : c;
            for (std::size_t b = 0; b < es; ++b)
                stored[s * es + b] = le[c * es + (bigEndian ? es - 1 - b : b)];
        }
        const std::string descr = std::string(es == 1 ? "|" : (bigEndian ? ">" : "<")) + kCases[caseIndex].code;
        const std::string p = path("x.npy");
        writeAll(p, npyBytes(version, descr, fortran, shape, stored));
        auto m = openModel(p);
        QVERIFY2(m.has_value(), m ? "" : m.error().toString().c_str());
        QCOMPARE((*m)->format(), FileFormat::Npy);
        QCOMPARE((*m)->tensors().size(), 1u);
        const TensorInfo& t = (*m)->tensors()[0];
        QCOMPARE(t.name, std::string("x"));
        QCOMPARE(t.shape, shape);
        QCOMPARE(t.dtype.value(), d);
        QCOMPARE(t.bytes, std::int64_t(n * es));
        auto x = (*m)->readTensor(0);
        QVERIFY(x.has_value());
        QCOMPARE(x->data, expect);
        std::vector<float> part(9);
        QVERIFY((*m)->readElements(0, 5, 9, part.data()).has_value());
        QCOMPARE(part, std::vector<float>(expect.begin() + 5, expect.begin() + 14));
        // The same bytes inside an .npz, stored and deflated.
        const std::string z = path("x.npz");
        QVERIFY(writeZip(z, {{"a.npy", readAll(p), false}, {"sub/b.npy", readAll(p), true}}));
        auto mz = openModel(z);
        QVERIFY2(mz.has_value(), mz ? "" : mz.error().toString().c_str());
        QCOMPARE((*mz)->format(), FileFormat::Npz);
        QCOMPARE((*mz)->tensors().size(), 2u);
        QCOMPARE((*mz)->tensors()[1].name, std::string("sub/b"));
        for (std::size_t i = 0; i < 2; ++i) {
            auto y = (*mz)->readTensor(i);
            QVERIFY2(y.has_value(), y ? "" : y.error().toString().c_str());
            QCOMPARE(y->data, expect);
            QCOMPARE(y->shape, shape);
        }
    }

    void npzLargeDeflatedMember()
    {
        // More than one streaming chunk.
        std::vector<std::uint8_t> data(3'000'000 * 4);
        for (std::size_t i = 0; i < 3'000'000; ++i) {
            const float v = float(int(i % 1000) - 500);
            std::memcpy(data.data() + 4 * i, &v, 4);
        }
        const std::string z = path("big.npz");
        QVERIFY(writeZip(z, {{"w.npy", npyBytes(1, "<f4", false, {3000, 1000}, data), true}, {"readme.txt", {'h', 'i'}, false}}));
        auto m = openModel(z);
        QVERIFY(m.has_value());
        QCOMPARE((*m)->tensors().size(), 1u);  // the text member is skipped
        auto x = (*m)->readTensor(0);
        QVERIFY(x.has_value());
        for (std::size_t i = 0; i < 3'000'000; i += 4999)
            QCOMPARE(x->data[i], float(int(i % 1000) - 500));
        QCOMPARE(x->data.back(), float(int(2'999'999 % 1000) - 500));
    }

    void writeNpyRoundTrip()
    {
        Tensor t({2, 2}, {1.5f, -2.0f, 3.0f, 0.0f});
        const std::string p = path("w.npy");
        QVERIFY(writeNpy(p, t.view()).has_value());
        auto m = openModel(p);
        QVERIFY(m.has_value());
        QCOMPARE((*m)->readTensor(0)->data, t.data);
    }

    void nonFinite()
    {
        const float v[3] = {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity(), 1.0f};
        std::vector<std::uint8_t> d(12);
        std::memcpy(d.data(), v, 12);
        const auto b = npyBytes(1, "<f4", false, {3}, d);
        auto m = openModelFromMemory(b.data(), b.size(), FileFormat::Npy, "nan.npy");
        QVERIFY(m.has_value());
        auto x = (*m)->readTensor(0);
        QVERIFY(x.has_value() && std::isnan(x->data[0]) && std::isinf(x->data[1]));
    }

    void malformed_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("ext");
        QTest::addColumn<int>("code");
        QTest::addColumn<bool>("atRead");
        auto add = [](const std::string& name, const std::vector<std::uint8_t>& b, const char* ext, ErrorCode c,
                      bool atRead = false) {
            QTest::newRow(name.c_str()) << QByteArray(reinterpret_cast<const char*>(b.data()), qsizetype(b.size()))
                                        << QString::fromLatin1(ext) << int(c) << atRead;
        };
        std::vector<std::uint8_t> data(48, 1);
        const auto valid = npyBytes(1, "<f4", false, {3, 4}, data);
        for (std::size_t cut : {std::size_t(0), std::size_t(5), std::size_t(9), std::size_t(40), std::size_t(64),
                                valid.size() - 1})
            add("npy truncated at " + std::to_string(cut),
                std::vector<std::uint8_t>(valid.begin(), valid.begin() + std::ptrdiff_t(cut)), "npy", ErrorCode::Truncated);
        auto bad = valid;
        bad[1] = 'X';
        add("npy wrong magic", bad, "npy", ErrorCode::Corrupt);
        bad = valid;
        bad[6] = 9;
        add("npy version 9", bad, "npy", ErrorCode::Unsupported);
        auto v2 = npyBytes(2, "<f4", false, {3, 4}, data);
        v2[11] = 0x7F;
        add("npy huge header length", v2, "npy", ErrorCode::TooLarge);
        add("npy complex dtype", npyBytes(1, "<c8", false, {3}, data), "npy", ErrorCode::Unsupported);
        add("npy structured dtype", npyBytes(1, "[('a', '<f4')]", false, {3}, data), "npy", ErrorCode::Unsupported);
        add("npy lying shape", npyBytes(1, "<f4", false, {300, 4}, data), "npy", ErrorCode::Truncated);
        add("npy overflowing shape", npyBytes(1, "<f4", false, {1ll << 40, 1ll << 40}, data), "npy", ErrorCode::TooLarge);
        {
            std::string s(reinterpret_cast<const char*>(valid.data()), valid.size());
            s.replace(s.find("False"), 5, "Maybe");
            add("npy bad fortran_order", std::vector<std::uint8_t>(s.begin(), s.end()), "npy", ErrorCode::Corrupt);
            std::string t(reinterpret_cast<const char*>(valid.data()), valid.size());
            t.replace(t.find("(3, 4)") != std::string::npos ? t.find("(3, 4)") : t.find("(3,4)"), 5, "(x,4)");
            add("npy bad dimension", std::vector<std::uint8_t>(t.begin(), t.end()), "npy", ErrorCode::Corrupt);
        }
        // .npz: garbage, truncation, a bad member, a corrupted member body.
        const std::string z = QDir::tempPath().toStdString() + "/ql_tst_io_numpy_" + std::to_string(QCoreApplication::applicationPid()) + ".npz";
        writeZip(z, {{"a.npy", valid, false}, {"b.npy", valid, true}});
        const auto zipBytes = readAll(z);
        std::remove(z.c_str());
        add("npz not a zip", {'P', 'K', 3, 4, 'n', 'o', 'p', 'e'}, "npz", ErrorCode::Truncated);
        add("npz empty file", {}, "npz", ErrorCode::Truncated);
        add("npz truncated in the middle", std::vector<std::uint8_t>(zipBytes.begin(), zipBytes.begin() + std::ptrdiff_t(zipBytes.size() / 2)),
            "npz", ErrorCode::Truncated);
        add("npz truncated at the end", std::vector<std::uint8_t>(zipBytes.begin(), zipBytes.end() - 3), "npz", ErrorCode::Truncated);
        {
            auto b = zipBytes;
            // Flip a byte of the stored member's data (after its local header and .npy header): CRC fails at read.
            b[30 + 5 + 64 + 4] ^= 0xFF;
            add("npz stored member bad crc", b, "npz", ErrorCode::Corrupt, true);
        }
        {
            auto b = zipBytes;
            // Break the central directory signature.
            for (std::size_t i = b.size() - 22; i-- > 0;)
                if (b[i] == 'P' && b[i + 1] == 'K' && b[i + 2] == 1 && b[i + 3] == 2) {
                    b[i + 3] = 9;
                    break;
                }
            add("npz bad central directory", b, "npz", ErrorCode::Corrupt);
        }
        {
            const std::string z2 = QDir::tempPath().toStdString() + "/ql_tst_io_numpy2_" + std::to_string(QCoreApplication::applicationPid()) + ".npz";
            writeZip(z2, {{"short.npy", std::vector<std::uint8_t>(valid.begin(), valid.end() - 8), true}});
            add("npz member with truncated npy", readAll(z2), "npz", ErrorCode::Truncated);
            writeZip(z2, {{"bad.npy", {'n', 'o', 't', ' ', 'n', 'p', 'y', '.', '.', '.', '.', '.'}, false}});
            add("npz member not npy", readAll(z2), "npz", ErrorCode::Corrupt);
            std::remove(z2.c_str());
        }
    }

    void malformed()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, ext);
        QFETCH(int, code);
        QFETCH(bool, atRead);
        const std::string p = path("bad." + ext.toStdString());
        writeAll(p, std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
        auto m = openModel(p);
        Error e;
        if (atRead) {
            QVERIFY2(m.has_value(), m ? "" : m.error().toString().c_str());
            bool failed = false;
            for (std::size_t i = 0; i < (*m)->tensors().size() && !failed; ++i)
                if (auto x = (*m)->readTensor(i); !x) {
                    e = x.error();
                    failed = true;
                }
            QVERIFY(failed);
        } else {
            QVERIFY2(!m, "a malformed file opened");
            e = m.error();
        }
        QCOMPARE(errorCodeName(e.code), errorCodeName(ErrorCode(code)));
        QVERIFY2(e.toString().find(p) != std::string::npos, e.toString().c_str());
    }
};

QTEST_APPLESS_MAIN(TestIoNumpy)
#include "tst_io_numpy.moc"
