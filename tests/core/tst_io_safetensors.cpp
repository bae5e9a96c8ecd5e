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
    out.resize(8 + json.size() + data.size());
    if (!json.empty())
        std::memcpy(out.data() + 8, json.data(), json.size());
    if (!data.empty())
        std::memcpy(out.data() + 8 + json.size(), data.data(), data.size());
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

    void roundTripEveryDtype_data()
    {
        QTest::addColumn<int>("dtype");
        for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32, DType::I16, DType::I8,
                        DType::U8, DType::Bool, DType::F8E4M3, DType::F8E5M2})
            QTest::newRow(std::string(dtypeName(d)).c_str()) << int(d);
    }

    void roundTripEveryDtype()
    {
        QFETCH(int, dtype);
        const DType d = DType(dtype);
        // Raw bytes: a byte pattern that is a valid value of every type (Bool needs 0/1).
        const Shape shape{3, 5};
        const std::size_t n = 15, es = dtypeSize(d);
        std::vector<std::uint8_t> raw(n * es);
        for (std::size_t i = 0; i < raw.size(); ++i)
            raw[i] = d == DType::Bool ? std::uint8_t((i / es) % 2) : std::uint8_t(i * 37 + 11);
        std::vector<float> expect(n);
        convertToFloat(d, raw.data(), n, expect.data());
        const std::string p = path("all.safetensors");
        QVERIFY(writeSafetensors(p, {{"layer.weight", d, shape, raw.data(), raw.size()}}, {{"k", "v"}}).has_value());
        auto m = openModel(p);
        QVERIFY2(m.has_value(), m ? "" : m.error().toString().c_str());
        const ModelPtr& model = *m;
        QCOMPARE(model->format(), FileFormat::Safetensors);
        QCOMPARE(model->tensors().size(), 1u);
        const TensorInfo& t = model->tensors()[0];
        QCOMPARE(t.shape, shape);
        QCOMPARE(t.logicalShape, shape);
        QCOMPARE(t.dtype.value(), d);
        QCOMPARE(t.bytes, std::int64_t(raw.size()));
        QCOMPARE(t.numel, std::int64_t(n));
        QCOMPARE(t.storedTypeName, std::string(dtypeName(d)));
        QCOMPARE(model->metadata().size(), 1u);
        auto x = model->readTensor(0);
        QVERIFY(x.has_value());
        QCOMPARE(x->shape, shape);
        for (std::size_t i = 0; i < n; ++i)
            QVERIFY(std::memcmp(&x->data[i], &expect[i], 4) == 0 || (std::isnan(x->data[i]) && std::isnan(expect[i])));
        // Partial reads agree with the whole.
        std::vector<float> part(7);
        QVERIFY(model->readElements(0, 4, 7, part.data()).has_value());
        for (int i = 0; i < 7; ++i)
            QVERIFY(std::memcmp(&part[i], &x->data[4 + i], 4) == 0);
        QCOMPARE(model->readElements(0, 10, 6, part.data()).error().code, ErrorCode::InvalidArgument);
        auto raw2 = model->rawData(0);
        QVERIFY(raw2.has_value());
        QVERIFY(std::memcmp(raw2->first, raw.data(), raw.size()) == 0);
    }

    void largeTensorChunked()
    {
        // Bigger than one read chunk: exercises the parallel path and its chunk seams.
        const std::int64_t rows = 700, cols = 3001;
        std::vector<std::uint16_t> h(std::size_t(rows * cols));
        for (std::size_t i = 0; i < h.size(); ++i)
            h[i] = floatToHalf(float(int(i % 2001) - 1000) / 64.0f);
        const std::string p = path("big.safetensors");
        QVERIFY(writeSafetensors(p, {{"w", DType::F16, {rows, cols}, h.data(), h.size() * 2}}).has_value());
        auto m = openModel(p);
        QVERIFY(m.has_value());
        int progressCalls = 0;
        TaskContext ctx;
        ctx.reportProgress = [&](std::int64_t, std::int64_t) { ++progressCalls; };
        auto x = (*m)->readTensor(0, ctx);
        QVERIFY(x.has_value());
        QVERIFY(progressCalls > 0);
        for (std::size_t i = 0; i < h.size(); i += 997)
            QCOMPARE(x->data[i], float(int(i % 2001) - 1000) / 64.0f);
        QCOMPARE(x->data.back(), float(int((h.size() - 1) % 2001) - 1000) / 64.0f);
        TaskContext cancel;
        cancel.isCancelled = [] { return true; };
        auto c = (*m)->readTensor(0, cancel);
        QVERIFY(!c);
        QCOMPARE(c.error().code, ErrorCode::Cancelled);
    }

    void namingAndRoles()
    {
        const float z[8] = {};
        const std::string p = path("names.safetensors");
        QVERIFY(writeSafetensors(p, {{"model.layers.7.mlp.down_proj.weight", DType::F32, {2, 4}, z, 32},
                                     {"model.layers.7.mlp.down_proj.bias", DType::F32, {2}, z, 8},
                                     {"model.layers.7.input_layernorm.weight", DType::F32, {2}, z, 8},
                                     {"model.embed_tokens.weight", DType::F32, {2, 2}, z, 16},
                                     {"lm_head.scale", DType::F32, {1}, z, 4}})
                    .has_value());
        auto m = openModel(p);
        QVERIFY(m.has_value());
        const auto& ts = (*m)->tensors();
        QCOMPARE(ts.size(), 5u);
        QCOMPARE(ts[0].name, std::string("model.layers.7.mlp.down_proj.weight"));  // file order
        QCOMPARE(ts[0].layerPath, (std::vector<std::string>{"layers", "7", "mlp", "down_proj"}));
        QCOMPARE(ts[0].role, TensorRole::Weight);
        QCOMPARE(ts[0].channelAxis, 0);
        QCOMPARE(ts[1].role, TensorRole::Bias);
        QCOMPARE(ts[2].role, TensorRole::Norm);
        QCOMPARE(ts[3].role, TensorRole::Embedding);
        QCOMPARE(ts[4].role, TensorRole::Other);
        QCOMPARE((*m)->parameterCount(), std::int64_t(8 + 2 + 2 + 4 + 1));
        QCOMPARE((*m)->totalBytes(), std::int64_t(68));
        QCOMPARE((*m)->find("model.embed_tokens.weight").value(), 3u);
        QVERIFY(!(*m)->find("nope"));
    }

    void sharded()
    {
        QTemporaryDir dir;
        const std::string d = dir.path().toStdString();
        const float a[4] = {1, 2, 3, 4}, b[2] = {5, 6}, c[3] = {7, 8, 9};
        QVERIFY(writeSafetensors(d + "/model-00001-of-00002.safetensors",
                                 {{"model.layers.0.w", DType::F32, {2, 2}, a, 16}, {"model.layers.0.b", DType::F32, {2}, b, 8}},
                                 {{"format", "pt"}})
                    .has_value());
        QVERIFY(writeSafetensors(d + "/model-00002-of-00002.safetensors", {{"model.layers.1.w", DType::F32, {3}, c, 12}})
                    .has_value());
        // Without an index, sibling shards are found by their names.
        auto s = openModel(d + "/model-00002-of-00002.safetensors");
        QVERIFY2(s.has_value(), s ? "" : s.error().toString().c_str());
        QCOMPARE((*s)->tensors().size(), 3u);
        QCOMPARE((*s)->files().size(), 2u);
        nlohmann::json idx = {{"metadata", {{"total_size", 36}}},
                              {"weight_map",
                               {{"model.layers.0.w", "model-00001-of-00002.safetensors"},
                                {"model.layers.0.b", "model-00001-of-00002.safetensors"},
                                {"model.layers.1.w", "model-00002-of-00002.safetensors"}}}};
        const std::string text = idx.dump();
        writeAll(d + "/model.safetensors.index.json", std::vector<std::uint8_t>(text.begin(), text.end()));
        for (const std::string& open : {d + "/model.safetensors.index.json", d + "/model-00001-of-00002.safetensors",
                                        d + "/model-00002-of-00002.safetensors"}) {
            // Opening reports per shard (the GUI's progress bar while a big checkpoint opens).
            std::vector<std::pair<std::int64_t, std::int64_t>> reports;
            TaskContext ctx;
            ctx.reportProgress = [&](std::int64_t done, std::int64_t total) { reports.emplace_back(done, total); };
            auto m = openModel(open, ctx);
            QCOMPARE(reports, (std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 2}, {1, 2}}));
            QVERIFY2(m.has_value(), m ? "" : m.error().toString().c_str());
            QCOMPARE((*m)->path(), open);
            QCOMPARE((*m)->files().size(), 2u);
            QCOMPARE((*m)->tensors().size(), 3u);
            const auto i = (*m)->find("model.layers.1.w");
            QVERIFY(i.has_value());
            QCOMPARE((*m)->tensors()[*i].fileIndex, 1);
            auto x = (*m)->readTensor(*i);
            QVERIFY(x.has_value());
            QCOMPARE(x->data, (std::vector<float>{7, 8, 9}));
            bool sawTotal = false;
            for (const auto& [k, v] : (*m)->metadata())
                sawTotal |= k == "total_size" && v == "36";
            QVERIFY(sawTotal);
        }
        // The index names a tensor its shard does not hold.
        idx["weight_map"]["ghost"] = "model-00002-of-00002.safetensors";
        const std::string bad = idx.dump();
        writeAll(d + "/model.safetensors.index.json", std::vector<std::uint8_t>(bad.begin(), bad.end()));
        auto g = openModel(d + "/model.safetensors.index.json");
        QVERIFY(!g);
        QCOMPARE(g.error().code, ErrorCode::Corrupt);
        QVERIFY(g.error().toString().find("ghost") != std::string::npos);
        // A shard the index lists is missing.
        idx["weight_map"].erase("ghost");
        idx["weight_map"]["x"] = "model-00003-of-00003.safetensors";
        const std::string missing = idx.dump();
        writeAll(d + "/model.safetensors.index.json", std::vector<std::uint8_t>(missing.begin(), missing.end()));
        auto mm = openModel(d + "/model.safetensors.index.json");
        QVERIFY(!mm);
        QCOMPARE(mm.error().code, ErrorCode::Io);
        // Path traversal in the index is refused.
        idx["weight_map"]["x"] = "../etc/passwd";
        const std::string trav = idx.dump();
        writeAll(d + "/model.safetensors.index.json", std::vector<std::uint8_t>(trav.begin(), trav.end()));
        auto tr = openModel(d + "/model.safetensors.index.json");
        QVERIFY(!tr);
        QCOMPARE(tr.error().code, ErrorCode::Corrupt);
    }

    void unsupportedDtypeListed()
    {
        const std::string json = R"({"a":{"dtype":"U32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
        std::vector<std::uint8_t> data(12, 0);
        const std::string p = path("u32.safetensors");
        writeAll(p, rawFile(json, data));
        auto m = openModel(p);
        QVERIFY(m.has_value());
        QCOMPARE((*m)->tensors().size(), 2u);
        QVERIFY(!(*m)->tensors()[0].supported);
        QVERIFY((*m)->tensors()[0].note.find("not supported yet") != std::string::npos);
        auto r = (*m)->readTensor(0);
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::Unsupported);
        QVERIFY((*m)->readTensor(1).has_value());
    }

    void nonFiniteDataIsData()
    {
        // NaN and Inf are values, not file errors: they are read as they are and counted downstream.
        const float v[4] = {1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), -2.0f};
        const std::string p = path("nan.safetensors");
        QVERIFY(writeSafetensors(p, {{"w", DType::F32, {4}, v, 16}}).has_value());
        auto m = openModel(p);
        QVERIFY(m.has_value());
        auto x = (*m)->readTensor(0);
        QVERIFY(x.has_value());
        QVERIFY(std::isnan(x->data[1]));
        QVERIFY(std::isinf(x->data[2]));
        QCOMPARE(x->data[3], -2.0f);
    }

    void malformed_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("code");
        auto add = [](const char* name, const std::vector<std::uint8_t>& b, ErrorCode c) {
            QTest::newRow(name) << QByteArray(reinterpret_cast<const char*>(b.data()), qsizetype(b.size())) << int(c);
        };
        const std::string good = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
        const std::vector<std::uint8_t> data(16, 0);
        const auto valid = rawFile(good, data);
        // Truncated at many points: inside the length, inside the header, inside the data.
        for (std::size_t cut : {std::size_t(0), std::size_t(3), std::size_t(7), std::size_t(9), std::size_t(30),
                                valid.size() - 17, valid.size() - 1}) {
            const std::string name = "truncated at " + std::to_string(cut);
            add(name.c_str(), std::vector<std::uint8_t>(valid.begin(), valid.begin() + std::ptrdiff_t(cut)), ErrorCode::Truncated);
        }
        add("header length beyond file", rawFile(good, data, 5000), ErrorCode::Truncated);
        add("huge header length", rawFile(good, data, std::int64_t(1) << 40), ErrorCode::TooLarge);
        add("header length too small", rawFile(good, data, 1), ErrorCode::Corrupt);
        add("not json", rawFile("{this is not json}", data), ErrorCode::Corrupt);
        add("json array", rawFile("[1,2,3]", data), ErrorCode::Corrupt);
        add("bad utf8 name", rawFile(std::string("{\"w\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"), data),
            ErrorCode::Corrupt);
        add("overlong utf8 name", rawFile(std::string("{\"\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"), data),
            ErrorCode::Corrupt);
        add("lying byte length", rawFile(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", data), ErrorCode::Corrupt);
        add("offsets beyond file", rawFile(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", data), ErrorCode::Truncated);
        add("offsets backwards", rawFile(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}})", data), ErrorCode::Corrupt);
        add("overlapping offsets",
            rawFile(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data),
            ErrorCode::Corrupt);
        add("negative dim", rawFile(R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", data), ErrorCode::Corrupt);
        add("float dim", rawFile(R"({"w":{"dtype":"F32","shape":[4.0],"data_offsets":[0,16]}})", data), ErrorCode::Corrupt);
        add("overflowing shape",
            rawFile(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}})", data),
            ErrorCode::TooLarge);
        add("rank 9", rawFile(R"({"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,4],"data_offsets":[0,16]}})", data), ErrorCode::TooLarge);
        add("missing dtype", rawFile(R"({"w":{"shape":[4],"data_offsets":[0,16]}})", data), ErrorCode::Corrupt);
        add("garbage dtype", rawFile(R"({"w":{"dtype":"WHATEVER_THIS_IS_NOT","shape":[4],"data_offsets":[0,16]}})", data),
            ErrorCode::Corrupt);
        add("offsets not a pair", rawFile(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0]}})", data), ErrorCode::Corrupt);
        add("duplicate tensor",
            rawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data),
            ErrorCode::Corrupt);
        add("metadata not strings", rawFile(R"({"__metadata__":{"a":1},"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data),
            ErrorCode::Corrupt);
        add("deep nesting", rawFile("{\"w\":" + std::string(200, '[') + std::string(200, ']') + "}", data), ErrorCode::Corrupt);
    }

    void malformed()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(int, code);
        const std::string p = path("bad.safetensors");
        writeAll(p, std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
        auto m = openModel(p);
        QVERIFY2(!m, "a malformed file opened");
        QCOMPARE(errorCodeName(m.error().code), errorCodeName(ErrorCode(code)));
        QVERIFY2(m.error().toString().find("bad.safetensors") != std::string::npos, m.error().toString().c_str());
        // The same bytes from memory give the same verdict.
        auto mem = openModelFromMemory(bytes.constData(), std::size_t(bytes.size()), FileFormat::Safetensors, "mem");
        QVERIFY(!mem);
        QCOMPARE(errorCodeName(mem.error().code), errorCodeName(ErrorCode(code)));
    }

    void errorsNameTensor()
    {
        const std::string p = path("named.safetensors");
        writeAll(p, rawFile(R"({"layers.3.w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", std::vector<std::uint8_t>(16)));
        auto m = openModel(p);
        QVERIFY(!m);
        const std::string s = m.error().toString();
        QVERIFY2(s.find("named.safetensors") != std::string::npos && s.find("layers.3.w") != std::string::npos, s.c_str());
    }

    void missingFile()
    {
        auto m = openModel(path("does-not-exist.safetensors"));
        QVERIFY(!m);
        QCOMPARE(m.error().code, ErrorCode::Io);
        auto d = openModel(m_dir.path().toStdString());
        QVERIFY(!d);
    }
};

QTEST_APPLESS_MAIN(TestIoSafetensors)
#include "tst_io_safetensors.moc"
