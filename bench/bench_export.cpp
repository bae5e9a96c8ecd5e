// quantlens-bench-export: streaming export of a generated model of ≥ 2 GB, peak memory against the
// budget 3 × largest tensor + 200 MB, and throughput.
//
//   quantlens-bench-export [--dir DIR] [--gb SIZE] [--keep] [--json]
//
// The model is a safetensors file of float32 4096 × 4096 matrices (64 MiB each) filled with seeded
// N(0, 1) values, written in 1 MiB pieces so the generator itself stays small. Each export runs in
// its own child process, so every peak resident set size (VmHWM, which counts the memory-mapped
// source pages too) belongs to that export alone:
//   int4 g128 safetensors, int8 per-channel HDF5, Q8_0 GGUF, Q4_K GGUF, int4 fake-quant safetensors.

#include "bench_util.h"

#include "core/base/random.h"
#include "core/export/exporter.h"
#include "core/io/model.h"
#include "core/quant/format_traits.h"

#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

using namespace ql;

namespace {

constexpr std::int64_t kRows = 4096, kCols = 4096;

bool writeModel(const std::string& path, int nMatrices)
{
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    std::uint64_t off = 0;
    const std::uint64_t bytes = std::uint64_t(kRows * kCols) * 4;
    for (int i = 0; i < nMatrices; ++i) {
        h["layers." + std::to_string(i) + ".weight"] = {{"dtype", "F32"}, {"shape", {kRows, kCols}},
                                                        {"data_offsets", {off, off + bytes}}};
        off += bytes;
    }
    h["norm.weight"] = {{"dtype", "F32"}, {"shape", {kCols}}, {"data_offsets", {off, off + std::uint64_t(kCols) * 4}}};
    std::string text = h.dump();
    while ((8 + text.size()) % 8)
        text.push_back(' ');
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f)
        return false;
    const std::uint64_t len = text.size();
    std::fwrite(&len, 8, 1, f);
    std::fwrite(text.data(), 1, text.size(), f);
    Rng rng(2026);
    std::vector<float> buf(1 << 18);
    const std::uint64_t total = std::uint64_t(nMatrices) * std::uint64_t(kRows * kCols) + std::uint64_t(kCols);
    for (std::uint64_t done = 0; done < total;) {
        const std::uint64_t n = std::min<std::uint64_t>(buf.size(), total - done);
        for (std::uint64_t k = 0; k < n; ++k)
            buf[k] = static_cast<float>(rng.normal());
        if (std::fwrite(buf.data(), 4, n, f) != n) {
            std::fclose(f);
            return false;
        }
        done += n;
    }
    return std::fclose(f) == 0;
}

struct Case {
    const char* name;
    const char* file;
    ExportFormat format;
    QuantSpec spec;
};

struct Outcome {
    bool ok = false;
    double seconds = 0;
    std::int64_t peakRss = 0;
    std::int64_t fileBytes = 0;
    char error[256] = {};
};

Outcome runChild(const std::string& model, const std::string& out, const Case& c)
{
    int fds[2];
    Outcome o;
    if (pipe(fds) != 0)
        return o;
    const pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        Outcome r;
        const double t0 = bench::now();
        auto m = openModel(model);
        if (m) {
            QuantPlan plan;
            plan.defaultSpec = c.spec;
            ExportOptions opt;
            opt.format = c.format;
            auto rep = exportModel(**m, plan, out, opt);
            if (rep) {
                r.ok = true;
                r.fileBytes = rep->fileBytes;
            } else {
                std::snprintf(r.error, sizeof r.error, "%s", rep.error().toString().c_str());
            }
        } else {
            std::snprintf(r.error, sizeof r.error, "%s", m.error().toString().c_str());
        }
        r.seconds = bench::now() - t0;
        r.peakRss = bench::peakRssBytes();
        (void)!write(fds[1], &r, sizeof r);
        close(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    (void)!read(fds[0], &o, sizeof o);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return o;
}

} // namespace

int main(int argc, char** argv)
{
    std::string dir = std::filesystem::temp_directory_path().string();
    double gb = 2.1;
    bool keep = false, json = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!std::strcmp(argv[i], "--gb") && i + 1 < argc)
            gb = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--keep"))
            keep = true;
        else if (!std::strcmp(argv[i], "--json"))
            json = true;
        else {
            std::fprintf(stderr, "usage: quantlens-bench-export [--dir DIR] [--gb SIZE] [--keep] [--json]\n");
            return 2;
        }
    }
    const std::int64_t tensorBytes = kRows * kCols * 4;
    const int nMatrices = std::max(1, int(gb * 1e9 / double(tensorBytes) + 0.999));
    const std::string model = (std::filesystem::path(dir) / "quantlens-bench-model.safetensors").string();
    const double g0 = bench::now();
    if (!writeModel(model, nMatrices)) {
        std::fprintf(stderr, "cannot write %s\n", model.c_str());
        return 1;
    }
    const double genSeconds = bench::now() - g0;
    const std::int64_t modelBytes = std::int64_t(std::filesystem::file_size(model));
    const std::int64_t budget = 3 * tensorBytes + 200ll * 1000 * 1000;

    QuantSpec int4 = defaultSpec(Format::Int);
    int4.bits = 4;
    int4.granularity = Granularity{GranularityKind::Group, 0, 128};
    QuantSpec int8 = defaultSpec(Format::Int);
    int8.bits = 8;
    int8.granularity = Granularity{GranularityKind::Channel, 0, 128};
    const std::vector<Case> cases{
        {"int4 g128 safetensors", "out-int4.safetensors", ExportFormat::Safetensors, int4},
        {"int8 channel hdf5", "out-int8.h5", ExportFormat::Hdf5, int8},
        {"q8_0 gguf", "out-q8_0.gguf", ExportFormat::Gguf, defaultSpec(Format::Q8_0)},
        {"q4_k gguf", "out-q4_k.gguf", ExportFormat::Gguf, defaultSpec(Format::Q4_K)},
        {"int4 g128 fake-quant", "out-fake.safetensors", ExportFormat::FakeQuantSafetensors, int4},
    };
    nlohmann::json rows = nlohmann::json::array();
    if (!json) {
        std::printf("model: %d tensors of %lld x %lld float32 + 1 norm = %.3f GB (generated in %.1f s)\n", nMatrices,
                    static_cast<long long>(kRows), static_cast<long long>(kCols), double(modelBytes) / 1e9,
                    genSeconds);
        std::printf("largest tensor %.1f MB; budget 3 x largest + 200 MB = %.1f MB\n\n", double(tensorBytes) / 1e6,
                    double(budget) / 1e6);
        std::printf("%-24s %9s %10s %11s %10s %8s\n", "export", "seconds", "MB/s in", "peak RSS MB", "out MB", "budget");
    }
    int failures = 0;
    for (const auto& c : cases) {
        const std::string out = (std::filesystem::path(dir) / c.file).string();
        const Outcome o = runChild(model, out, c);
        const double mbps = o.seconds > 0 ? double(modelBytes) / 1e6 / o.seconds : 0;
        const bool within = o.peakRss <= budget;
        if (!o.ok || !within)
            ++failures;
        if (json)
            rows.push_back({{"export", c.name}, {"ok", o.ok}, {"seconds", o.seconds}, {"mb_per_s", mbps},
                            {"peak_rss_bytes", o.peakRss}, {"budget_bytes", budget}, {"within_budget", within},
                            {"output_bytes", o.fileBytes}, {"error", o.error}});
        else if (o.ok)
            std::printf("%-24s %9.2f %10.1f %11.1f %10.1f %8s\n", c.name, o.seconds, mbps, double(o.peakRss) / 1e6,
                        double(o.fileBytes) / 1e6, within ? "ok" : "OVER");
        else
            std::printf("%-24s failed: %s\n", c.name, o.error);
        std::error_code ec;
        if (!keep)
            std::filesystem::remove(out, ec);
    }
    if (json)
        std::cout << nlohmann::json{{"model_bytes", modelBytes}, {"largest_tensor_bytes", tensorBytes},
                                    {"budget_bytes", budget}, {"exports", rows}}
                         .dump(2)
                  << "\n";
    std::error_code ec;
    if (!keep)
        std::filesystem::remove(model, ec);
    return failures == 0 ? 0 : 1;
}
