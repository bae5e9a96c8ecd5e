// Writes small valid model files of every format into DIR/{safetensors,gguf,hdf5,numpy}/ as the
// starting corpus of the fuzz targets.

#include "core/io/npy.h"
#include "core/io/safetensors.h"

#include <hdf5.h>
#include <zip.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <vector>

using namespace ql;

namespace {

void put(std::vector<std::uint8_t>& b, const void* p, std::size_t n)
{
    const auto* c = static_cast<const std::uint8_t*>(p);
    b.insert(b.end(), c, c + n);
}
void u32(std::vector<std::uint8_t>& b, std::uint32_t v) { put(b, &v, 4); }
void u64(std::vector<std::uint8_t>& b, std::uint64_t v) { put(b, &v, 8); }
void str(std::vector<std::uint8_t>& b, const std::string& s)
{
    u64(b, s.size());
    put(b, s.data(), s.size());
}

void save(const std::string& path, const std::vector<std::uint8_t>& b)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

std::vector<std::uint8_t> load(const std::string& path)
{
    std::ifstream f(path, std::ios::binary);
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f), {});
}

std::vector<std::uint8_t> gguf(std::uint32_t type, std::uint64_t ne0, std::uint64_t blockBytes)
{
    std::vector<std::uint8_t> b;
    put(b, "GGUF", 4);
    u32(b, 3);
    u64(b, 2);
    u64(b, 3);
    str(b, "general.architecture");
    u32(b, 8);
    str(b, "llama");
    str(b, "general.alignment");
    u32(b, 4);
    u32(b, 32);
    str(b, "tokenizer.ggml.scores");
    u32(b, 9);
    u32(b, 9);
    u64(b, 2);
    u32(b, 6);
    u64(b, 2);
    float s[2] = {0.5f, -1.0f};
    put(b, s, 8);
    u32(b, 8);
    u64(b, 1);
    str(b, "tok");
    str(b, "blk.0.attn_q.weight");
    u32(b, 2);
    u64(b, ne0);
    u64(b, 2);
    u32(b, type);
    u64(b, 0);
    str(b, "output_norm.weight");
    u32(b, 1);
    u64(b, 4);
    u32(b, 0);
    const std::uint64_t second = (2 * blockBytes + 31) / 32 * 32;
    u64(b, second);
    while (b.size() % 32)
        b.push_back(0);
    const std::size_t data = b.size();
    b.resize(data + second + 16, 0);
    for (std::size_t i = data; i < data + 2 * blockBytes; ++i)
        b[i] = std::uint8_t((i * 13) & 0x3F);
    return b;
}

void hdf5File(const std::string& path, bool keras)
{
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, keras ? "model_weights" : "enc", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {3, 2};
    const float v[6] = {1, 2, 3, 4, 5, 6};
    hid_t sp = H5Screate_simple(2, dims, nullptr);
    hid_t d = H5Dcreate2(g, keras ? "kernel:0" : "w", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    hid_t as = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(d, "scale", H5T_IEEE_F64LE, as, H5P_DEFAULT, H5P_DEFAULT);
    const double one = 1.0;
    H5Awrite(a, H5T_NATIVE_DOUBLE, &one);
    H5Aclose(a);
    H5Sclose(as);
    H5Dclose(d);
    H5Sclose(sp);
    H5Gclose(g);
    H5Fclose(f);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz_seeds DIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    for (const char* sub : {"", "/safetensors", "/gguf", "/hdf5", "/numpy"})
        ::mkdir((dir + sub).c_str(), 0755);

    const float f[6] = {1, -2, 3, -4, 5, -6};
    const std::uint16_t h[4] = {0x3C00, 0xC000, 0x7C00, 0x0001};
    const std::uint8_t q[3] = {0x38, 0x40, 0xB8};
    bool ok = writeSafetensors(dir + "/safetensors/a.safetensors",
                               {{"model.layers.0.w", DType::F32, {2, 3}, f, sizeof f},
                                {"model.layers.0.b", DType::F16, {4}, h, sizeof h},
                                {"model.layers.0.q", DType::F8E4M3, {3}, q, sizeof q}},
                               {{"format", "pt"}})
                  .has_value();
    ok &= writeSafetensors(dir + "/safetensors/b.safetensors", {{"x", DType::BF16, {2, 2}, h, sizeof h}}).has_value();

    save(dir + "/gguf/f32.gguf", gguf(0, 4, 16));
    save(dir + "/gguf/f16.gguf", gguf(1, 4, 8));
    save(dir + "/gguf/q8_0.gguf", gguf(8, 32, 34));
    save(dir + "/gguf/q4_k.gguf", gguf(12, 256, 144));
    save(dir + "/gguf/q6_k.gguf", gguf(14, 256, 210));

    hdf5File(dir + "/hdf5/plain.h5", false);
    hdf5File(dir + "/hdf5/keras.h5", true);

    Tensor t({2, 3}, std::vector<float>(f, f + 6));
    ok &= writeNpy(dir + "/numpy/a.npy", t.view()).has_value();
    const auto npy = load(dir + "/numpy/a.npy");
    for (int deflate = 0; deflate < 2; ++deflate) {
        const std::string zpath = dir + (deflate ? "/numpy/deflated.npz" : "/numpy/stored.npz");
        int err = 0;
        zip_t* z = zip_open(zpath.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
        if (!z)
            return 1;
        zip_source_t* s = zip_source_buffer(z, npy.data(), npy.size(), 0);
        const zip_int64_t i = zip_file_add(z, "w.npy", s, ZIP_FL_ENC_UTF_8);
        zip_set_file_compression(z, zip_uint64_t(i), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
        ok &= zip_close(z) == 0;
    }
    if (!ok) {
        std::fprintf(stderr, "fuzz_seeds: could not write every seed\n");
        return 1;
    }
    return 0;
}
