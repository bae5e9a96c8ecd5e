// HDF5 reader: plain files (every numeric dataset a tensor named by its path), Keras .h5 files
// (layer grouping, Dense kernel [in, out] → channel axis 1), attributes, and malformed files.
// Files are written here with the HDF5 C API.

#include "core/io/model.h"

#include <QtTest/QtTest>

#include <hdf5.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <fstream>

using namespace ql;

namespace {

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

void stringAttr(hid_t obj, const char* name, const std::string& value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, value.size() + 1);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, value.c_str());
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

void stringListAttr(hid_t obj, const char* name, const std::vector<std::string>& values)
{
    std::size_t w = 1;
    for (const auto& v : values)
        w = std::max(w, v.size());
    std::vector<char> buf(w * values.size(), 0);
    for (std::size_t i = 0; i < values.size(); ++i)
        std::memcpy(buf.data() + i * w, values[i].data(), values[i].size());
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, w);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    const hsize_t n = values.size();
    hid_t s = H5Screate_simple(1, &n, nullptr);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, buf.data());
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

void numberAttr(hid_t obj, const char* name, double v)
{
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
    H5Sclose(s);
}

hid_t group(hid_t parent, const char* name)
{
    return H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

// Writes a float dataset of `dims`, stored as `fileType`, values v[i] = base + i.
void dataset(hid_t parent, const char* name, std::vector<hsize_t> dims, hid_t fileType, float base, bool gzip = false)
{
    hsize_t n = 1;
    for (auto d : dims)
        n *= d;
    std::vector<float> v(n);
    for (hsize_t i = 0; i < n; ++i)
        v[i] = base + float(i);
    hid_t s = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (gzip) {
        H5Pset_chunk(dcpl, int(dims.size()), dims.data());
        H5Pset_deflate(dcpl, 6);
    }
    hid_t d = H5Dcreate2(parent, name, fileType, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
}

void writeKeras(const std::string& path)
{
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    stringAttr(f, "keras_version", "2.13.1");
    stringAttr(f, "backend", "tensorflow");
    stringAttr(f, "model_config", "{\"class_name\": \"Sequential\"}");
    hid_t mw = group(f, "model_weights");
    stringListAttr(mw, "layer_names", {"dense", "dense_1", "batch_normalization"});
    for (const char* layer : {"dense", "dense_1", "batch_normalization"}) {
        hid_t l = group(mw, layer);
        hid_t inner = group(l, layer);
        if (std::strcmp(layer, "dense") == 0) {
            dataset(inner, "kernel:0", {4, 3}, H5T_IEEE_F32LE, 0.0f);
            dataset(inner, "bias:0", {3}, H5T_IEEE_F32LE, 100.0f);
        } else if (std::strcmp(layer, "dense_1") == 0) {
            dataset(inner, "kernel:0", {3, 2}, H5T_IEEE_F32BE, -3.0f);  // big-endian storage
        } else {
            dataset(inner, "gamma:0", {2}, H5T_IEEE_F32LE, 1.0f);
            dataset(inner, "moving_mean:0", {2}, H5T_IEEE_F64LE, 0.5f);
        }
        H5Gclose(inner);
        H5Gclose(l);
    }
    H5Gclose(mw);
    H5Fclose(f);
}

} // namespace

class TestIoHdf5 : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::string path(const std::string& name) const { return m_dir.path().toStdString() + "/" + name; }

private slots:
    void initTestCase()
    {
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    }

    void keras()
    {
        const std::string p = path("model.h5");
        writeKeras(p);
        auto m = openModel(p);
        QVERIFY2(m.has_value(), m ? "" : m.error().toString().c_str());
        QCOMPARE((*m)->format(), FileFormat::Hdf5);
        const auto& ts = (*m)->tensors();
        QCOMPARE(ts.size(), 5u);
        const auto k = (*m)->find("model_weights/dense/dense/kernel:0");
        QVERIFY(k.has_value());
        const TensorInfo& kernel = ts[*k];
        QCOMPARE(kernel.shape, (Shape{4, 3}));
        QCOMPARE(kernel.layerPath, (std::vector<std::string>{"dense"}));
        QCOMPARE(kernel.role, TensorRole::Weight);
        QCOMPARE(kernel.channelAxis, 1);  // Dense kernel [in, out]
        QCOMPARE(kernel.dtype.value(), DType::F32);
        QCOMPARE(kernel.storedTypeName, std::string("float32"));
        auto x = (*m)->readTensor(*k);
        QVERIFY(x.has_value());
        QCOMPARE(x->data[0], 0.0f);
        QCOMPARE(x->data[11], 11.0f);
        const auto b = (*m)->find("model_weights/dense/dense/bias:0");
        QVERIFY(b.has_value());
        QCOMPARE(ts[*b].role, TensorRole::Bias);
        QCOMPARE(ts[*b].channelAxis, 0);
        const auto be = (*m)->find("model_weights/dense_1/dense_1/kernel:0");
        QVERIFY(be.has_value());
        auto y = (*m)->readTensor(*be);
        QVERIFY(y.has_value());
        QCOMPARE(y->data, (std::vector<float>{-3, -2, -1, 0, 1, 2}));
        const auto g = (*m)->find("model_weights/batch_normalization/batch_normalization/gamma:0");
        QVERIFY(g.has_value());
        QCOMPARE(ts[*g].role, TensorRole::Norm);
        const auto mm = (*m)->find("model_weights/batch_normalization/batch_normalization/moving_mean:0");
        QVERIFY(mm.has_value());
        QCOMPARE(ts[*mm].dtype.value(), DType::F64);
        QCOMPARE((*m)->readTensor(*mm)->data, (std::vector<float>{0.5f, 1.5f}));
        bool sawVersion = false, sawLayers = false;
        for (const auto& [key, v] : (*m)->metadata()) {
            sawVersion |= key == "keras_version" && v == "2.13.1";
            sawLayers |= key == "model_weights.layer_names" && v == "dense, dense_1, batch_normalization";
        }
        QVERIFY(sawVersion);
        QVERIFY(sawLayers);
    }

    void plainFile()
    {
        const std::string p = path("plain.hdf5");
        hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hid_t g = group(f, "encoder");
        dataset(g, "weights", {2, 3}, H5T_IEEE_F64LE, 0.25f);
        dataset(g, "packed", {64, 8}, H5T_STD_I16LE, -100.0f, true);
        dataset(f, "bytes", {4}, H5T_STD_U8LE, 250.0f - 255.0f + 5.0f);
        {
            hid_t d = H5Dopen2(g, "weights", H5P_DEFAULT);
            stringAttr(d, "units", "volts");
            numberAttr(d, "scale", 0.5);
            H5Dclose(d);
        }
        {
            // A string dataset is not a tensor.
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, 4);
            hid_t s = H5Screate(H5S_SCALAR);
            hid_t d = H5Dcreate2(f, "note", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, "abc");
            H5Dclose(d);
            H5Sclose(s);
            H5Tclose(t);
        }
        H5Gclose(g);
        H5Fclose(f);
        auto m = openModel(p);
        QVERIFY2(m.has_value(), m ? "" : m.error().toString().c_str());
        const auto& ts = (*m)->tensors();
        QCOMPARE(ts.size(), 3u);
        const auto w = (*m)->find("encoder/weights");
        QVERIFY(w.has_value());
        QCOMPARE(ts[*w].layerPath, (std::vector<std::string>{"encoder"}));
        QCOMPARE(ts[*w].channelAxis, 0);
        QCOMPARE(ts[*w].attributes.at("units"), std::string("volts"));
        QCOMPARE(ts[*w].attributes.at("scale"), std::string("0.5"));
        QCOMPARE((*m)->readTensor(*w)->data, (std::vector<float>{0.25f, 1.25f, 2.25f, 3.25f, 4.25f, 5.25f}));
        const auto pk = (*m)->find("encoder/packed");
        QVERIFY(pk.has_value());
        QCOMPARE(ts[*pk].dtype.value(), DType::I16);
        QVERIFY(ts[*pk].note.find("compressed") != std::string::npos);
        auto px = (*m)->readTensor(*pk);
        QVERIFY(px.has_value());
        QCOMPARE(px->data[0], -100.0f);
        QCOMPARE(px->data[511], 411.0f);
        const auto u8 = (*m)->find("bytes");
        QVERIFY(u8.has_value());
        QCOMPARE(ts[*u8].dtype.value(), DType::U8);
        // From memory too.
        const auto bytes = readAll(p);
        auto mem = openModelFromMemory(bytes.data(), bytes.size(), FileFormat::Hdf5, "mem.h5");
        QVERIFY2(mem.has_value(), mem ? "" : mem.error().toString().c_str());
        QCOMPARE((*mem)->readTensor(*(*mem)->find("encoder/weights"))->data[5], 5.25f);
    }

    void concurrentReads()
    {
        const std::string p = path("model.h5");
        writeKeras(p);
        auto m = openModel(p);
        QVERIFY(m.has_value());
        std::atomic<int> failures{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < 32; ++i)
                    if (!(*m)->readTensor(std::size_t(i + t) % (*m)->tensors().size()))
                        ++failures;
            });
        for (auto& th : threads)
            th.join();
        QCOMPARE(failures.load(), 0);
    }

    void hugeUnallocatedDataset()
    {
        // A chunked dataset that declares 10^12 elements but stores none: listed, refused at read.
        const std::string p = path("huge.h5");
        hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        const hsize_t dims[2] = {1000000, 1000000}, chunk[2] = {1000, 1000};
        hid_t s = H5Screate_simple(2, dims, nullptr);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, 2, chunk);
        hid_t d = H5Dcreate2(f, "huge", H5T_IEEE_F32LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Dclose(d);
        H5Pclose(dcpl);
        H5Sclose(s);
        H5Fclose(f);
        auto m = openModel(p);
        QVERIFY(m.has_value());
        QCOMPARE((*m)->tensors()[0].numel, std::int64_t(1000000) * 1000000);
        auto x = (*m)->readTensor(0);
        QVERIFY(!x);
        QCOMPARE(x.error().code, ErrorCode::TooLarge);
    }

    void malformed_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("code");
        auto add = [](const std::string& name, const std::vector<std::uint8_t>& b, ErrorCode c) {
            QTest::newRow(name.c_str()) << QByteArray(reinterpret_cast<const char*>(b.data()), qsizetype(b.size())) << int(c);
        };
        const std::string p = QDir::tempPath().toStdString() + "/ql_tst_io_hdf5_" + std::to_string(QCoreApplication::applicationPid()) + ".h5";
        writeKeras(p);
        const auto valid = readAll(p);
        std::remove(p.c_str());
        add("empty", {}, ErrorCode::Truncated);
        add("four bytes", {0x89, 'H', 'D', 'F'}, ErrorCode::Truncated);
        add("wrong magic", std::vector<std::uint8_t>(512, 'x'), ErrorCode::Corrupt);
        for (std::size_t cut : {std::size_t(40), std::size_t(200), valid.size() / 2, valid.size() - 1})
            add("truncated at " + std::to_string(cut), std::vector<std::uint8_t>(valid.begin(), valid.begin() + std::ptrdiff_t(cut)),
                ErrorCode::Truncated);
        {
            auto b = valid;
            b[8] = 77;  // superblock version
            add("bad superblock version", b, ErrorCode::Corrupt);
        }
        // Version-0 superblock (the library's default): offset size at byte 13, the end-of-file
        // address after the base and free-space addresses (24 + 2 * 8).
        {
            auto b = valid;
            b[13] = 3;
            add("3-byte addresses", b, ErrorCode::Corrupt);
        }
        {
            auto b = valid;
            const std::uint64_t lie = std::uint64_t(valid.size()) * 4;
            for (int k = 0; k < 8; ++k)
                b[40 + std::size_t(k)] = std::uint8_t(lie >> (8 * k));
            add("superblock claims 4x the file size", b, ErrorCode::Truncated);
        }
        // The structures every group lookup walks: B-tree nodes, symbol-table nodes, local heaps.
        // Each signature broken in turn, then every copy of it.
        for (const char* sig : {"TREE", "SNOD", "HEAP"}) {
            std::vector<std::size_t> at;
            for (std::size_t i = 0; i + 4 <= valid.size(); ++i)
                if (std::memcmp(valid.data() + i, sig, 4) == 0)
                    at.push_back(i);
            QVERIFY2(!at.empty(), sig);
            auto first = valid;
            first[at.front()] = 'X';
            add(std::string("first ") + sig + " signature broken", first, ErrorCode::Corrupt);
            auto all = valid;
            for (std::size_t i : at)
                all[i] = 'X';
            add(std::string("every ") + sig + " signature broken", all, ErrorCode::Corrupt);
        }
        {
            // A local heap whose data segment claims to lie far past the end of the file.
            std::size_t heap = 0;
            for (std::size_t i = 0; i + 4 <= valid.size(); ++i)
                if (std::memcmp(valid.data() + i, "HEAP", 4) == 0) {
                    heap = i;
                    break;
                }
            auto b = valid;
            // HEAP, version, 3 reserved, data segment size (8), free-list offset (8), data address (8).
            for (int k = 0; k < 8; ++k)
                b[heap + 24 + std::size_t(k)] = k == 0 ? 0 : 0x7f;
            add("local heap data beyond the file", b, ErrorCode::Corrupt);
            auto c = valid;
            for (int k = 0; k < 8; ++k)
                c[heap + 8 + std::size_t(k)] = k == 4 ? 0x01 : 0;  // data segment of 4 GiB
            add("local heap claims 4 GiB", c, ErrorCode::Corrupt);
        }
    }

    void rangedReads()
    {
        // Element ranges of a 3-D contiguous and a 3-D chunked, compressed dataset equal the same
        // slice of the whole tensor, for ranges inside one row, across rows and across planes.
        const std::string p = path("ranges.h5");
        hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        dataset(f, "plain", {3, 4, 5}, H5T_IEEE_F32LE, 0.0f);
        dataset(f, "zipped", {3, 4, 5}, H5T_STD_I16LE, -30.0f, true);
        H5Fclose(f);
        auto m = openModel(p);
        QVERIFY2(m.has_value(), m ? "" : m.error().toString().c_str());
        for (std::size_t i = 0; i < (*m)->tensors().size(); ++i) {
            auto all = (*m)->readTensor(i);
            QVERIFY(all.has_value());
            const std::pair<int, int> ranges[] = {{0, 60}, {0, 1}, {59, 1}, {2, 3}, {3, 4},  {5, 20},
                                                  {7, 29}, {18, 25}, {20, 40}, {1, 58}, {13, 0}, {44, 16}};
            for (auto [first, count] : ranges) {
                std::vector<float> part(std::size_t(count), -999.0f);
                auto ok = (*m)->readElements(i, first, count, part.data());
                QVERIFY2(ok.has_value(), qPrintable(QString::number(first) + QStringLiteral("+") + QString::number(count) +
                                                    QStringLiteral(": ") + QString::fromStdString(ok ? "" : ok.error().toString())));
                for (int k = 0; k < count; ++k)
                    QCOMPARE(part[std::size_t(k)], all->data[std::size_t(first + k)]);
            }
            float one;
            QCOMPARE(errorCodeName((*m)->readElements(i, 60, 1, &one).error().code),
                     errorCodeName(ErrorCode::InvalidArgument));
        }
    }

    void libhdf5MemoryErrorIsContained()
    {
        // Found by fuzz_hdf5: a corrupt attribute message on which libhdf5 1.10 itself copies past a
        // heap buffer (H5O__msg_iterate_real). Under AddressSanitizer that is a fault, which the
        // probe's child process takes instead of us: the open fails cleanly and names the file.
        // Without sanitizers the overflow is silent and the file may open.
        const std::string p = QL_TEST_DATA_DIR "/hdf5/libhdf5_attribute_overflow.h5";
        auto m = openModel(p);
#if defined(__SANITIZE_ADDRESS__)
        QVERIFY(!m);
        QCOMPARE(errorCodeName(m.error().code), errorCodeName(ErrorCode::Corrupt));
        QVERIFY2(m.error().toString().find("HDF5 library failed") != std::string::npos, m.error().toString().c_str());
#endif
        if (!m) {
            QVERIFY2(m.error().toString().find("libhdf5_attribute_overflow.h5") != std::string::npos,
                     m.error().toString().c_str());
        } else {
            for (std::size_t i = 0; i < (*m)->tensors().size(); ++i)
                (void)(*m)->readTensor(i);
        }
    }

    void nonUtf8DatasetName()
    {
        const std::string p = path("latin1.h5");
        hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        dataset(f, "caf\xe9", {2, 2}, H5T_IEEE_F32LE, 0.0f);
        H5Fclose(f);
        auto m = openModel(p);
        QVERIFY(!m);
        QCOMPARE(errorCodeName(m.error().code), errorCodeName(ErrorCode::Corrupt));
        QVERIFY2(m.error().toString().find("UTF-8") != std::string::npos, m.error().toString().c_str());
    }

    void malformed()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(int, code);
        const std::string p = path("bad.h5");
        writeAll(p, std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
        auto m = openModel(p);
        Error e;
        if (m) {
            // Some damage only shows when the data are read.
            bool failed = false;
            for (std::size_t i = 0; i < (*m)->tensors().size() && !failed; ++i)
                if (auto x = (*m)->readTensor(i); !x) {
                    e = x.error();
                    failed = true;
                }
            QVERIFY2(failed, "a malformed file opened and read");
        } else {
            e = m.error();
        }
        QCOMPARE(errorCodeName(e.code), errorCodeName(ErrorCode(code)));
        QVERIFY2(e.toString().find("bad.h5") != std::string::npos, e.toString().c_str());
    }
};

QTEST_APPLESS_MAIN(TestIoHdf5)
#include "tst_io_hdf5.moc"
