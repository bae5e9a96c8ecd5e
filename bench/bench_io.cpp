// Model-file benchmark: a sharded safetensors checkpoint with Llama-7B shapes (32 layers, hidden
// 4096, intermediate 11008, vocab 32000, F16, about 13.5 GB) written as sparse files (headers only,
// the data regions are holes), then: time to open it (target ≤ 0.5 s), peak RSS after opening
// (target ≤ 150 MB), and reading one 4096 x 11008 tensor as float32 against the machine's copy
// bandwidth (target ≥ 0.5x).
//
//   quantlens-bench-io [--dir DIR] [--shards N] [--keep] [--json]

#include "bench/bench_util.h"
#include "core/io/model.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

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

// Writes the shards (header + sparse data region) and the index; returns the total data bytes.
std::uint64_t writeCheckpoint(const std::string& dir, int nShards)
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

} // namespace

int main(int argc, char** argv)
{
    using namespace ql;
    std::string base = std::filesystem::temp_directory_path().string();
    int nShards = 2;
    bool keep = false, json = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (!std::strcmp(argv[i], "--shards") && i + 1 < argc)
            nShards = std::max(1, std::atoi(argv[++i]));
        else if (!std::strcmp(argv[i], "--keep"))
            keep = true;
        else if (!std::strcmp(argv[i], "--json"))
            json = true;
        else {
            std::fprintf(stderr, "usage: quantlens-bench-io [--dir DIR] [--shards N] [--keep] [--json]\n");
            return 2;
        }
    }
    std::string dir = base + "/quantlens-bench-io-XXXXXX";
    if (!::mkdtemp(dir.data())) {
        std::perror("mkdtemp");
        return 1;
    }
    const std::uint64_t total = writeCheckpoint(dir, nShards);
    const std::int64_t rssBefore = bench::peakRssBytes();

    // Open: the index, and a shard (which finds the index next to it). Best of several cold-ish opens.
    ModelPtr model;
    const double openIndex = bench::bestOf(5, [&] {
        auto m = openModel(dir + "/model.safetensors.index.json");
        if (!m) {
            std::fprintf(stderr, "%s\n", m.error().toString().c_str());
            std::exit(1);
        }
        model = *m;
    });
    char shard[64];
    std::snprintf(shard, sizeof shard, "/model-%05d-of-%05d.safetensors", nShards, nShards);
    const double openShard = bench::bestOf(5, [&] {
        auto m = openModel(dir + shard);
        if (!m)
            std::exit(1);
    });
    const std::int64_t rssAfterOpen = bench::peakRssBytes();

    // One 4096 x 11008 tensor as float32.
    const auto idx = model->find("model.layers.15.mlp.down_proj.weight");
    const TensorInfo& t = model->tensors()[*idx];
    double readBest = bench::bestOf(3, [&] {
        auto x = model->readTensor(*idx);
        if (!x)
            std::exit(1);
    });
    // The same decode into a buffer the caller reuses (readElements): no fresh pages to fault in,
    // which is how the copy bandwidth below is measured too.
    std::vector<float> reuse(std::size_t(t.numel));
    const double decodeBest = bench::bestOf(3, [&] {
        if (!model->readElements(*idx, 0, t.numel, reuse.data()))
            std::exit(1);
    });
    const double outBytes = double(t.numel) * 4.0;
    const double readRate = outBytes / readBest;
    const double decodeRate = outBytes / decodeBest;
    const double copy = bench::measureCopyBandwidth();
    const double ratio = readRate / copy;
    const double decodeRatio = decodeRate / copy;

    if (!keep)
        std::filesystem::remove_all(dir);

    if (json) {
        nlohmann::ordered_json j;
        j["tensors"] = model->tensors().size();
        j["parameters"] = model->parameterCount();
        j["checkpoint_bytes"] = total;
        j["shards"] = nShards;
        j["open_index_s"] = openIndex;
        j["open_shard_s"] = openShard;
        j["peak_rss_after_open_bytes"] = rssAfterOpen;
        j["peak_rss_before_open_bytes"] = rssBefore;
        j["read_tensor"] = t.name;
        j["read_s"] = readBest;
        j["read_float32_bytes_per_s"] = readRate;
        j["read_source_bytes_per_s"] = double(t.bytes) / readBest;
        j["decode_into_buffer_s"] = decodeBest;
        j["decode_float32_bytes_per_s"] = decodeRate;
        j["copy_bytes_per_s"] = copy;
        j["read_vs_copy"] = ratio;
        j["decode_vs_copy"] = decodeRatio;
        j["targets"] = {{"open_s", 0.5}, {"peak_rss_bytes", 150e6}, {"read_vs_copy", 0.5}};
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("checkpoint        %zu tensors, %lld parameters, %.2f GB F16 in %d sparse shards\n", model->tensors().size(),
                static_cast<long long>(model->parameterCount()), double(total) / 1e9, nShards);
    std::printf("open (index)      %.4f s   (target <= 0.5 s)\n", openIndex);
    std::printf("open (a shard)    %.4f s\n", openShard);
    std::printf("peak RSS          %.1f MB after opening (%.1f MB before; target <= 150 MB)\n", double(rssAfterOpen) / 1e6,
                double(rssBefore) / 1e6);
    std::printf("read %s [%lld x %lld] as float32\n", t.name.c_str(), static_cast<long long>(t.logicalShape[0]),
                static_cast<long long>(t.logicalShape[1]));
    std::printf("                  %.4f s, %s of float32 out (%s of F16 in)\n", readBest, bench::gbps(readRate).c_str(),
                bench::gbps(double(t.bytes) / readBest).c_str());
    std::printf("  into a buffer   %.4f s, %s of float32 out (readElements, buffer reused)\n", decodeBest,
                bench::gbps(decodeRate).c_str());
    std::printf("copy bandwidth    %s\n", bench::gbps(copy).c_str());
    std::printf("read / copy       %.2fx readTensor (fresh allocation), %.2fx into a reused buffer (target >= 0.5x)\n",
                ratio, decodeRatio);
    return 0;
}
