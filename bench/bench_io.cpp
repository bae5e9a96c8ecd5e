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
    const std::uint64_t total = ql::bench::writeSparseLlama7b(dir, nShards);
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
