#include "bench_util.h"

#include <nlohmann/json.hpp>
#include <omp.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace ql::bench {

double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double bestOf(int reps, const std::function<void()>& fn)
{
    return bestOfFor(reps, 0.0, fn);
}

double bestOfFor(int reps, double seconds, const std::function<void()>& fn)
{
    fn();
    double best = std::numeric_limits<double>::infinity();
    const double start = now();
    for (int i = 0; i < reps || now() - start < seconds; ++i) {
        const double t0 = now();
        fn();
        best = std::min(best, now() - t0);
    }
    return best;
}

namespace {

std::vector<float>& bandwidthBuffer()
{
    static std::vector<float> buf = [] {
        std::vector<float> b(std::size_t(128) << 20);  // 512 MiB
#pragma omp parallel for schedule(static)
        for (std::int64_t i = 0; i < std::int64_t(b.size()); ++i)
            b[i] = float(i & 1023);
        return b;
    }();
    return buf;
}

} // namespace

double measureReadBandwidth()
{
    auto& b = bandwidthBuffer();
    const std::int64_t n = std::int64_t(b.size());
    volatile float sink = 0;
    // 32 independent partial sums per thread: one accumulator would make the loop bound by the
    // latency of the add chain (about 4 GB/s per core), not by memory.
    constexpr std::int64_t kLanes = 32, kChunk = std::int64_t(1) << 16;
    const std::int64_t nChunks = n / kChunk;  // the buffer is a whole number of chunks
    const double t = bestOf(5, [&] {
        float s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
        for (std::int64_t c = 0; c < nChunks; ++c) {
            float acc[kLanes] = {};
            const float* p = b.data() + c * kChunk;
            for (std::int64_t i = 0; i < kChunk; i += kLanes)
                for (std::int64_t k = 0; k < kLanes; ++k)
                    acc[k] += p[i + k];
            for (float a : acc)
                s += a;
        }
        sink = s;
    });
    (void)sink;
    return double(n) * sizeof(float) / t;
}

double measureCopyBandwidth()
{
    auto& b = bandwidthBuffer();
    const std::int64_t n = std::int64_t(b.size()) / 2;
    std::vector<float> dst(static_cast<std::size_t>(n));
    const double t = bestOf(5, [&] {
#pragma omp parallel for schedule(static)
        for (std::int64_t c = 0; c < 64; ++c) {
            const std::int64_t s = n * c / 64, e = n * (c + 1) / 64;
            std::memcpy(dst.data() + s, b.data() + s, std::size_t(e - s) * sizeof(float));
        }
    });
    return double(n) * sizeof(float) / t;
}

namespace {

std::int64_t statusField(const char* key)
{
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind(key, 0) == 0) {
            long long kb = 0;
            std::sscanf(line.c_str() + std::strlen(key), " %lld", &kb);
            return kb * 1024;
        }
    }
    return 0;
}

} // namespace

std::int64_t peakRssBytes()
{
    return statusField("VmHWM:");
}

std::int64_t currentRssBytes()
{
    return statusField("VmRSS:");
}

std::string gbps(double bytesPerSecond)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f GB/s", bytesPerSecond / 1e9);
    return buf;
}

namespace {

struct Entry {
    std::string name;
    std::vector<std::int64_t> shape;
};

std::vector<Entry> llama7b()
{
    const std::int64_t h = 4096, ff = 11008, vocab = 32000;
    std::vector<Entry> e;
    e.push_back({"model.embed_tokens.weight", {vocab, h}});
    for (int l = 0; l < 32; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj"})
            e.push_back({p + "self_attn." + proj + ".weight", {h, h}});
        e.push_back({p + "mlp.gate_proj.weight", {ff, h}});
        e.push_back({p + "mlp.up_proj.weight", {ff, h}});
        e.push_back({p + "mlp.down_proj.weight", {h, ff}});
        e.push_back({p + "input_layernorm.weight", {h}});
        e.push_back({p + "post_attention_layernorm.weight", {h}});
    }
    e.push_back({"model.norm.weight", {h}});
    e.push_back({"lm_head.weight", {vocab, h}});
    return e;
}

} // namespace

std::uint64_t writeSparseLlama7b(const std::string& dir, int nShards)
{
    const auto entries = llama7b();
    std::uint64_t total = 0;
    for (const auto& e : entries) {
        std::uint64_t n = 2;
        for (auto d : e.shape)
            n *= std::uint64_t(d);
        total += n;
    }
    const std::uint64_t perShard = total / std::uint64_t(nShards) + 1;
    nlohmann::ordered_json index;
    index["metadata"] = {{"total_size", total}};
    index["weight_map"] = nlohmann::ordered_json::object();
    std::size_t next = 0;
    for (int s = 0; s < nShards; ++s) {
        char name[64];
        std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, nShards);
        nlohmann::ordered_json header;
        header["__metadata__"] = {{"format", "pt"}};
        std::uint64_t off = 0;
        while (next < entries.size() && (off < perShard || s == nShards - 1)) {
            const auto& e = entries[next++];
            std::uint64_t n = 2;
            for (auto d : e.shape)
                n *= std::uint64_t(d);
            header[e.name] = {{"dtype", "F16"}, {"shape", e.shape}, {"data_offsets", {off, off + n}}};
            index["weight_map"][e.name] = name;
            off += n;
        }
        std::string text = header.dump();
        text.append((8 - text.size() % 8) % 8, ' ');
        const std::string path = dir + "/" + name;
        const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
        std::uint8_t len[8];
        for (int i = 0; i < 8; ++i)
            len[i] = std::uint8_t(std::uint64_t(text.size()) >> (8 * i));
        bool ok = fd >= 0 && ::write(fd, len, 8) == 8 && ::write(fd, text.data(), text.size()) == ssize_t(text.size()) &&
                  ::ftruncate(fd, off_t(8 + text.size() + off)) == 0;
        if (fd >= 0)
            ::close(fd);
        if (!ok) {
            std::fprintf(stderr, "cannot write %s\n", path.c_str());
            std::exit(1);
        }
    }
    const std::string text = index.dump(2);
    FILE* f = std::fopen((dir + "/model.safetensors.index.json").c_str(), "wb");
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    return total;
}


} // namespace ql::bench
