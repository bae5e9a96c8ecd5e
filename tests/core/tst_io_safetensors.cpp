// safetensors: writer, header parser, reader through openModel, sharded checkpoints, bad input.

#include "core/io/model.h"
#include "core/io/safetensors.h"

#include <QtTest/QtTest>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace ql;

namespace {

std::vector<std::uint8_t> readAll(const std::string& path)
{
    std::ifstream f(path, std::ios::binary);
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void writeAll(const std::string& path, const std::vector<std::uint8_t>& bytes)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A raw safetensors file from header JSON text and a data buffer (no validation: for bad files).
std::vector<std::uint8_t> rawFile(const std::string& json, const std::vector<std::uint8_t>& data, std::int64_t lenOverride = -1)
{
    std::vector<std::uint8_t> out(8);
    const std::uint64_t n = lenOverride >= 0 ? std::uint64_t(lenOverride) : json.size();
    for (int i = 0; i < 8; ++i)
        out[i] = std::uint8_t(n >> (8 * i));
    out.insert(out.end(), json.begin(), json.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

} // namespace

class TestIoSafetensors : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::string path(const char* name) const { return (m_dir.path() + QLatin1Char('/') + QLatin1String(name)).toStdString(); }

private slots:
    void writerLayout()
    {
        const float a[6] = {1, 2, 3, 4, 5, 6};
        const std::uint16_t b[3] = {0x3C00, 0x4000, 0xC000};  // 1, 2, -2 in F16
        const std::string p = path("w.safetensors");
        auto r = writeSafetensors(p, {{"b.weight", DType::F32, {2, 3}, a, sizeof a}, {"a.bias", DType::F16, {3}, b, sizeof b}},
                                  {{"format", "pt"}});
        QVERIFY2(r.has_value(), r ? "" : r.error().toString().c_str());
        const auto bytes = readAll(p);
        std::uint64_t n = 0;
        std::memcpy(&n, bytes.data(), 8);
        QCOMPARE(n % 8, 0u);
        QCOMPARE(bytes.size(), 8 + n + sizeof a + sizeof b);
        const std::string text(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(n));
        QVERIFY(text.find_last_not_of(' ') != std::string::npos);
        // Tensors in the given order, offsets contiguous.
        auto j = nlohmann::ordered_json::parse(text);
        QCOMPARE(j.begin().key(), std::string("__metadata__"));
        QCOMPARE(j["b.weight"]["data_offsets"][0].get<int>(), 0);
        QCOMPARE(j["b.weight"]["data_offsets"][1].get<int>(), 24);
        QCOMPARE(j["a.bias"]["data_offsets"][0].get<int>(), 24);
        QCOMPARE(j["a.bias"]["data_offsets"][1].get<int>(), 30);
        QVERIFY(std::memcmp(bytes.data() + 8 + n, a, sizeof a) == 0);
        auto h = parseSafetensorsHeader(bytes.data(), bytes.size(), bytes.size());
        QVERIFY(h.has_value());
        QCOMPARE(h->tensors.size(), 2u);
        QCOMPARE(h->tensors[0].name, std::string("b.weight"));
        QCOMPARE(h->metadata.size(), 1u);
    }

    void writerRejects()
    {
        const float a[4] = {};
        const std::string p = path("rej.safetensors");
        writeAll(p, {1, 2, 3});
        auto r = writeSafetensors(p, {{"x", DType::F32, {5}, a, sizeof a}});
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::ShapeMismatch);
        r = writeSafetensors(p, {{"x", DType::F32, {4}, a, sizeof a}, {"x", DType::F32, {4}, a, sizeof a}});
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::InvalidArgument);
        // The previous file is intact and no temporary file is left.
        QCOMPARE(readAll(p), (std::vector<std::uint8_t>{1, 2, 3}));
        QCOMPARE(QDir(m_dir.path()).entryList({QStringLiteral(".rej*")}, QDir::Files | QDir::Hidden).size(), 0);
        r = writeSafetensors("/nonexistent-dir/x.safetensors", {{"x", DType::F32, {4}, a, sizeof a}});
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::Io);
    }
};

QTEST_APPLESS_MAIN(TestIoSafetensors)
#include "tst_io_safetensors.moc"
