// GGUF reader: header, every metadata value type (nested arrays too), tensor infos, alignment,
// plain and block types, unsupported types listed, and a corpus of malformed files.

#include "core/io/gguf.h"
#include "core/io/model.h"
#include "core/quant/format_traits.h"

#include <QtTest/QtTest>

#include <cmath>
#include <cstring>
#include <fstream>

using namespace ql;

namespace {

// Builds GGUF files byte by byte (little-endian).
class GgufBuilder {
public:
    std::vector<std::uint8_t> b;

    GgufBuilder& u8(std::uint8_t v) { b.push_back(v); return *this; }
    GgufBuilder& u16(std::uint16_t v) { return raw(&v, 2); }
    GgufBuilder& u32(std::uint32_t v) { return raw(&v, 4); }
    GgufBuilder& u64(std::uint64_t v) { return raw(&v, 8); }
    GgufBuilder& f32(float v) { return raw(&v, 4); }
    GgufBuilder& f64(double v) { return raw(&v, 8); }
    GgufBuilder& str(const std::string& s) { u64(s.size()); return raw(s.data(), s.size()); }
    GgufBuilder& raw(const void* p, std::size_t n)
    {
        const auto* c = static_cast<const std::uint8_t*>(p);
        b.insert(b.end(), c, c + n);
        return *this;
    }
    GgufBuilder& header(std::uint32_t version, std::uint64_t nTensors, std::uint64_t nKv)
    {
        raw("GGUF", 4);
        return u32(version).u64(nTensors).u64(nKv);
    }
    GgufBuilder& tensor(const std::string& name, std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t offset)
    {
        str(name).u32(std::uint32_t(ne.size()));
        for (auto d : ne)
            u64(d);
        return u32(type).u64(offset);
    }
    GgufBuilder& align(std::size_t a)
    {
        while (b.size() % a)
            b.push_back(0);
        return *this;
    }
};

void writeAll(const std::string& path, const std::vector<std::uint8_t>& bytes)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A valid v3 file: metadata of every type, tensors F32 [ne0=4, ne1=2], F16 [3], BF16 [2], I8 [2],
// Q8_K (listed, unsupported) and an unknown type id 50 (listed, unsupported).
std::vector<std::uint8_t> sampleFile(std::uint32_t version = 3, std::uint32_t alignment = 32)
{
    GgufBuilder g;
    g.header(version, 6, 15);
    g.str("general.architecture").u32(8).str("llama");
    g.str("general.alignment").u32(4).u32(alignment);
    g.str("k.u8").u32(0).u8(200);
    g.str("k.i8").u32(1).u8(0xFF);
    g.str("k.u16").u32(2).u16(65000);
    g.str("k.i16").u32(3).u16(0x8000);
    g.str("k.i32").u32(5).u32(0xFFFFFFFE);
    g.str("k.f32").u32(6).f32(0.5f);
    g.str("k.bool").u32(7).u8(1);
    g.str("k.u64").u32(10).u64(1ull << 40);
    g.str("k.i64").u32(11).u64(std::uint64_t(-5));
    g.str("k.f64").u32(12).f64(-0.25);
    g.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(20);
    for (int i = 0; i < 20; ++i)
        g.str("tok" + std::to_string(i));
    g.str("k.nested").u32(9).u32(9).u64(2);  // array of arrays
    g.u32(4).u64(3).u32(1).u32(2).u32(3);
    g.u32(8).u64(1).str("x");
    g.str("k.empty").u32(9).u32(6).u64(0);
    // Tensor infos; data offsets relative to the data section, aligned.
    const std::uint64_t a = alignment;
    auto up = [a](std::uint64_t v) { return (v + a - 1) / a * a; };
    std::uint64_t off = 0;
    g.tensor("blk.0.attn_q.weight", {4, 2}, 0, off);
    off = up(off + 32);
    const std::uint64_t offF16 = off;
    g.tensor("blk.0.ffn_norm.weight", {3}, 1, off);
    off = up(off + 6);
    const std::uint64_t offBf16 = off;
    g.tensor("token_embd.weight", {2}, 30, off);
    off = up(off + 4);
    const std::uint64_t offI8 = off;
    g.tensor("blk.0.i8", {2}, 24, off);
    off = up(off + 2);
    const std::uint64_t offQ8K = off;
    g.tensor("blk.0.q8k", {256}, 15, off);
    off = up(off + 292);
    g.tensor("blk.0.future", {16}, 50, off);
    g.align(alignment);
    const std::size_t data = g.b.size();
    g.b.resize(data + off + 64, 0);
    const float f[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    std::memcpy(g.b.data() + data, f, 32);
    const std::uint16_t h[3] = {floatToHalf(0.5f), floatToHalf(-1.0f), floatToHalf(65504.0f)};
    std::memcpy(g.b.data() + data + offF16, h, 6);
    const std::uint16_t bf[2] = {floatToBf16(3.0f), floatToBf16(-0.125f)};
    std::memcpy(g.b.data() + data + offBf16, bf, 4);
    g.b[data + offI8] = 0x80;
    g.b[data + offI8 + 1] = 0x7F;
    (void)offQ8K;
    return g.b;
}

} // namespace

class TestIoGguf : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::string path(const char* name) const { return (m_dir.path() + QLatin1Char('/') + QLatin1String(name)).toStdString(); }

private slots:
    void metadataOfEveryType()
    {
        const auto bytes = sampleFile();
        auto g = parseGguf(bytes.data(), bytes.size());
        QVERIFY2(g.has_value(), g ? "" : g.error().toString().c_str());
        QCOMPARE(g->version, 3u);
        QCOMPARE(g->metadata.size(), 15u);
        QCOMPARE(g->alignment, 32u);
        QCOMPARE(g->find("general.architecture")->value.str, std::string("llama"));
        QCOMPARE(g->find("k.u8")->value.u, 200u);
        QCOMPARE(g->find("k.i8")->value.i, -1);
        QCOMPARE(g->find("k.u16")->value.u, 65000u);
        QCOMPARE(g->find("k.i16")->value.i, -32768);
        QCOMPARE(g->find("k.i32")->value.i, -2);
        QCOMPARE(g->find("k.f32")->value.f, 0.5);
        QCOMPARE(g->find("k.bool")->value.u, 1u);
        QCOMPARE(g->find("k.u64")->value.u, 1ull << 40);
        QCOMPARE(g->find("k.i64")->value.i, -5);
        QCOMPARE(g->find("k.f64")->value.f, -0.25);
        const GgufValue& toks = g->find("tokenizer.ggml.tokens")->value;
        QCOMPARE(toks.arrayCount, 20u);
        QCOMPARE(toks.items.size(), kGgufArrayItemsKept);
        QCOMPARE(toks.items[3].str, std::string("tok3"));
        QVERIFY(toks.toString().find("(20 items)") != std::string::npos);
        const GgufValue& nested = g->find("k.nested")->value;
        QCOMPARE(nested.arrayType, GgufValueType::Array);
        QCOMPARE(nested.items.size(), 2u);
        QCOMPARE(nested.items[0].items[2].u, 3u);
        QCOMPARE(nested.items[1].items[0].str, std::string("x"));
        QCOMPARE(nested.toString(), std::string("[[1, 2, 3], [\"x\"]]"));
        QCOMPARE(g->find("k.empty")->value.toString(), std::string("[]"));
        // Each record's byte range is exact: the next record starts where it ends.
        for (std::size_t i = 1; i < g->metadata.size(); ++i)
            QCOMPARE(g->metadata[i].offset, g->metadata[i - 1].offset + g->metadata[i - 1].bytes);
    }

    void tensors_data()
    {
        QTest::addColumn<int>("version");
        QTest::addColumn<int>("alignment");
        QTest::newRow("v3 align 32") << 3 << 32;
        QTest::newRow("v2 align 32") << 2 << 32;
        QTest::newRow("v3 align 64") << 3 << 64;
        QTest::newRow("v3 align 8") << 3 << 8;
    }

    void tensors()
    {
        QFETCH(int, version);
        QFETCH(int, alignment);
        const std::string p = path("t.gguf");
        writeAll(p, sampleFile(std::uint32_t(version), std::uint32_t(alignment)));
        auto m = openModel(p);
        QVERIFY2(m.has_value(), m ? "" : m.error().toString().c_str());
        const auto& ts = (*m)->tensors();
        QCOMPARE((*m)->format(), FileFormat::Gguf);
        QCOMPARE(ts.size(), 6u);
        QCOMPARE(ts[0].shape, (Shape{4, 2}));
        QCOMPARE(ts[0].logicalShape, (Shape{2, 4}));
        QCOMPARE(ts[0].storedTypeName, std::string("F32"));
        QCOMPARE(ts[0].layerPath, (std::vector<std::string>{"blk", "0", "attn_q"}));
        QCOMPARE(ts[0].role, TensorRole::Weight);
        QCOMPARE(ts[0].channelAxis, 0);
        QCOMPARE(ts[1].role, TensorRole::Norm);
        QCOMPARE(ts[2].role, TensorRole::Embedding);
        auto a = (*m)->readTensor(0);
        QVERIFY(a.has_value());
        QCOMPARE(a->shape, (Shape{2, 4}));
        QCOMPARE(a->data, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
        auto h = (*m)->readTensor(1);
        QVERIFY(h.has_value());
        QCOMPARE(h->data, (std::vector<float>{0.5f, -1.0f, 65504.0f}));
        auto bf = (*m)->readTensor(2);
        QVERIFY(bf.has_value());
        QCOMPARE(bf->data, (std::vector<float>{3.0f, -0.125f}));
        auto i8 = (*m)->readTensor(3);
        QVERIFY(i8.has_value());
        QCOMPARE(i8->data, (std::vector<float>{-128.0f, 127.0f}));
        // Q8_K (no decoder) and an unknown id are listed, not fatal.
        QCOMPARE(ts[4].storedTypeName, std::string("Q8_K"));
        QVERIFY(!ts[4].supported);
        QVERIFY(ts[4].note.find("not supported yet") != std::string::npos);
        QCOMPARE(ts[4].bytes, std::int64_t(292));
        QCOMPARE(ts[4].storedBitsPerWeight, 292.0 * 8 / 256);
        QVERIFY(!ts[5].supported);
        QCOMPARE((*m)->readTensor(4).error().code, ErrorCode::Unsupported);
        QCOMPARE((*m)->readTensor(5).error().code, ErrorCode::Unsupported);
        bool sawArch = false;
        for (const auto& [k, v] : (*m)->metadata())
            sawArch |= k == "general.architecture" && v == "\"llama\"";
        QVERIFY(sawArch);
    }

    void blockFormatsThroughTraits_data()
    {
        QTest::addColumn<int>("type");
        for (int t : {2, 3, 6, 7, 8, 10, 11, 12, 13, 14})
            QTest::newRow(std::string(ggmlTypeName(std::uint32_t(t))).c_str()) << t;
    }

    void blockFormatsThroughTraits()
    {
        // Whatever rows the traits table has: a tensor of that type decodes exactly like decodeBlocks.
        QFETCH(int, type);
        const FormatTraits* tr = formatFromGgufType(type);
        const auto sz = ggmlTypeSize(std::uint32_t(type));
        QVERIFY(sz.has_value());
        const std::int64_t nBlocks = 3;
        GgufBuilder g;
        g.header(3, 1, 0).tensor("blk.1.ffn_up.weight", {std::uint64_t(sz->blockSize), std::uint64_t(nBlocks)}, std::uint32_t(type), 0);
        g.align(32);
        const std::size_t data = g.b.size();
        g.b.resize(data + std::size_t(nBlocks * sz->blockBytes));
        // Deterministic bytes with finite half-precision scales in every position scales may sit.
        for (std::size_t i = data; i < g.b.size(); ++i)
            g.b[i] = std::uint8_t((i * 29 + 7) & 0x3F);
        const std::string p = path("blk.gguf");
        writeAll(p, g.b);
        auto m = openModel(p);
        QVERIFY2(m.has_value(), m ? "" : m.error().toString().c_str());
        const TensorInfo& t = (*m)->tensors()[0];
        QCOMPARE(t.storedTypeName, std::string(ggmlTypeName(std::uint32_t(type))));
        QCOMPARE(t.bytes, nBlocks * sz->blockBytes);
        QCOMPARE(t.storedBitsPerWeight, 8.0 * double(sz->blockBytes) / double(sz->blockSize));
        if (!tr || !tr->decodeBlocks) {
            QVERIFY(!t.supported);
            QSKIP("no decoder for this block type in the traits table yet");
        }
        QVERIFY(t.supported);
        QVERIFY(t.storedFormat.has_value());
        std::vector<float> expect(std::size_t(nBlocks * sz->blockSize));
        tr->decodeBlocks(g.b.data() + data, nBlocks, expect.data());
        auto x = (*m)->readTensor(0);
        QVERIFY(x.has_value());
        QCOMPARE(x->shape, (Shape{nBlocks, sz->blockSize}));
        QVERIFY(std::memcmp(x->data.data(), expect.data(), expect.size() * 4) == 0);
        // A range that starts and ends inside blocks.
        std::vector<float> part(std::size_t(sz->blockSize + 3));
        QVERIFY((*m)->readElements(0, 5, std::int64_t(part.size()), part.data()).has_value());
        QVERIFY(std::memcmp(part.data(), expect.data() + 5, part.size() * 4) == 0);
    }

    void noTensors()
    {
        GgufBuilder g;
        g.header(3, 0, 1).str("general.name").u32(8).str("empty");
        auto m = openModelFromMemory(g.b.data(), g.b.size(), FileFormat::Gguf, "mem.gguf");
        QVERIFY(m.has_value());
        QCOMPARE((*m)->tensors().size(), 0u);
    }

    void malformed_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("code");
        auto add = [](const std::string& name, const std::vector<std::uint8_t>& b, ErrorCode c) {
            QTest::newRow(name.c_str()) << QByteArray(reinterpret_cast<const char*>(b.data()), qsizetype(b.size())) << int(c);
        };
        const auto valid = sampleFile();
        // Truncated at many points: header, counts, keys, values, arrays, tensor infos, data.
        for (std::size_t cut : {std::size_t(0), std::size_t(2), std::size_t(6), std::size_t(15), std::size_t(23),
                                std::size_t(30), std::size_t(60), std::size_t(150), std::size_t(300), std::size_t(500),
                                valid.size() - 200, valid.size() - 100})
            add("truncated at " + std::to_string(cut), std::vector<std::uint8_t>(valid.begin(), valid.begin() + std::ptrdiff_t(cut)),
                ErrorCode::Truncated);
        auto patched = [&](std::size_t at, std::vector<std::uint8_t> v) {
            auto b = valid;
            for (std::size_t k = 0; k < v.size(); ++k)
                b.at(at + k) = v[k];
            return b;
        };
        add("wrong magic", patched(0, {'G', 'G', 'U', 'X'}), ErrorCode::Corrupt);
        add("version 1", patched(4, {1, 0, 0, 0}), ErrorCode::Unsupported);
        add("version 4", patched(4, {4, 0, 0, 0}), ErrorCode::Unsupported);
        add("big-endian", patched(4, {0, 0, 0, 3}), ErrorCode::Unsupported);
        add("huge tensor count", patched(8, {0, 0, 0, 0, 0, 0, 0, 0x40}), ErrorCode::TooLarge);
        add("huge kv count", patched(16, {0, 0, 0, 0, 0, 1, 0, 0}), ErrorCode::TooLarge);
        add("kv count beyond file", patched(16, {0, 0, 1, 0, 0, 0, 0, 0}), ErrorCode::Truncated);
        add("huge key length", patched(24, {0, 0, 0, 0, 0, 0, 0, 1}), ErrorCode::TooLarge);
        add("lying key length", patched(24, {0, 0x10, 0, 0, 0, 0, 0, 0}), ErrorCode::Truncated);
        add("bad value type", patched(24 + 8 + 20, {13, 0, 0, 0}), ErrorCode::Corrupt);
        {
            GgufBuilder g;
            g.header(3, 0, 1).str("k\xff").u32(4).u32(1);
            add("bad utf8 key", g.b, ErrorCode::Corrupt);
        }
        {
            GgufBuilder g;
            g.header(3, 0, 2).str("a").u32(4).u32(1).str("a").u32(4).u32(2);
            add("duplicate key", g.b, ErrorCode::Corrupt);
        }
        {
            GgufBuilder g;
            g.header(3, 0, 1).str("arr").u32(9).u32(4).u64(1ull << 40);
            add("huge array count", g.b, ErrorCode::TooLarge);
        }
        {
            GgufBuilder g;
            g.header(3, 0, 1).str("arr").u32(9).u32(10).u64(1000000);
            add("array count beyond file", g.b, ErrorCode::Truncated);
        }
        {
            GgufBuilder g;
            g.header(3, 0, 1).str("arr").u32(9).u32(77).u64(1);
            add("bad array element type", g.b, ErrorCode::Corrupt);
        }
        {
            GgufBuilder g;
            g.header(3, 0, 1).str("deep");
            for (int i = 0; i < 12; ++i)
                g.u32(9).u32(9).u64(1);
            g.b.resize(g.b.size() - 12);  // type ids already written above; keep going deeper
            g.u32(9).u64(1).u32(4).u64(0);
            add("arrays nested too deep", g.b, ErrorCode::TooLarge);
        }
        {
            GgufBuilder g;
            g.header(3, 0, 1).str("b").u32(7).u8(7);
            add("bool neither 0 nor 1", g.b, ErrorCode::Corrupt);
        }
        {
            GgufBuilder g;
            g.header(3, 0, 1).str("general.alignment").u32(4).u32(24);
            add("alignment not a power of two", g.b, ErrorCode::Corrupt);
        }
        {
            GgufBuilder g;
            g.header(3, 0, 1).str("general.alignment").u32(8).str("32");
            add("alignment not u32", g.b, ErrorCode::Corrupt);
        }
        auto oneTensor = [](const std::string& name, std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t off,
                            std::size_t dataBytes) {
            GgufBuilder g;
            g.header(3, 1, 0).tensor(name, std::move(ne), type, off).align(32);
            g.b.resize(g.b.size() + dataBytes, 0);
            return g.b;
        };
        add("tensor data beyond file", oneTensor("w", {16}, 0, 0, 32), ErrorCode::Truncated);
        add("tensor offset beyond file", oneTensor("w", {4}, 0, 1 << 20, 32), ErrorCode::Truncated);
        add("misaligned offset", oneTensor("w", {4}, 0, 4, 64), ErrorCode::Corrupt);
        add("rank 5", oneTensor("w", {1, 1, 1, 1, 4}, 0, 0, 64), ErrorCode::Corrupt);
        add("overflowing dims", oneTensor("w", {1ull << 30, 1ull << 30, 1ull << 30}, 0, 0, 64), ErrorCode::TooLarge);
        add("absurd type id", oneTensor("w", {4}, 0xFFFF, 0, 64), ErrorCode::Corrupt);
        add("partial block", oneTensor("w", {40}, 8, 0, 128), ErrorCode::Corrupt);
        add("bad utf8 tensor name", oneTensor("w\xc3\x28", {4}, 0, 0, 64), ErrorCode::Corrupt);
        add("empty tensor name", oneTensor("", {4}, 0, 0, 64), ErrorCode::Corrupt);
        {
            GgufBuilder g;
            g.header(3, 2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).align(32);
            g.b.resize(g.b.size() + 128, 0);
            add("overlapping tensors", g.b, ErrorCode::Corrupt);
        }
        {
            GgufBuilder g;
            g.header(3, 2, 0).tensor("a", {4}, 0, 0).tensor("a", {4}, 0, 32).align(32);
            g.b.resize(g.b.size() + 128, 0);
            add("duplicate tensor name", g.b, ErrorCode::Corrupt);
        }
    }

    void malformed()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(int, code);
        const std::string p = path("bad.gguf");
        writeAll(p, std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
        auto m = openModel(p);
        QVERIFY2(!m, "a malformed file opened");
        QCOMPARE(errorCodeName(m.error().code), errorCodeName(ErrorCode(code)));
        QVERIFY2(m.error().toString().find("bad.gguf") != std::string::npos, m.error().toString().c_str());
        auto mem = openModelFromMemory(bytes.constData(), std::size_t(bytes.size()), FileFormat::Gguf, "mem");
        QVERIFY(!mem);
        QCOMPARE(errorCodeName(mem.error().code), errorCodeName(ErrorCode(code)));
    }

    void nonFiniteValuesAreRead()
    {
        GgufBuilder g;
        g.header(3, 1, 0).tensor("w", {4}, 1, 0).align(32);
        const std::uint16_t h[4] = {0x7C00, 0xFC00, 0x7E00, 0x3C00};  // +Inf, -Inf, NaN, 1
        g.raw(h, 8);
        auto m = openModelFromMemory(g.b.data(), g.b.size(), FileFormat::Gguf, "nan.gguf");
        QVERIFY(m.has_value());
        auto x = (*m)->readTensor(0);
        QVERIFY(x.has_value());
        QVERIFY(std::isinf(x->data[0]) && x->data[0] > 0);
        QVERIFY(std::isinf(x->data[1]) && x->data[1] < 0);
        QVERIFY(std::isnan(x->data[2]));
        QCOMPARE(x->data[3], 1.0f);
    }
};

QTEST_APPLESS_MAIN(TestIoGguf)
#include "tst_io_gguf.moc"
