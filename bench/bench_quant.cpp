// quantlens-bench-quant: speed of the integer quantization core against the machine's own
// read bandwidth, on seeded 4096×4096 float32 matrices (N(0,1) and Student-t df = 3).
//
//   quantlens-bench-quant [--json] [--quick] [--only TEXT]
//
// --only keeps the rows whose spec or row name contains TEXT (for profiling one case).
//
// Rows: scheme × granularity × range method, in two modes:
//   metrics  quantize + dequantize + every metric, codes and x̂ not stored (what sweeps need)
//   full     the same, also storing int32 codes and float x̂ (what the explorer keeps)
// Plus: a 2048-bin histogram, the MSE search relative to min-max, and the KL range on 16.7M values.

#include "bench_util.h"

#include "core/base/random.h"
#include "core/quant/quantize.h"
#include "core/quant/range.h"

#include <nlohmann/json.hpp>
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

using namespace ql;

namespace {

struct Row {
    std::string data, spec, mode;
    double seconds = 0, sqnr = 0;
};

} // namespace

int main(int argc, char** argv)
{
    bool json = false, quick = false;
    std::string only;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--json") == 0)
            json = true;
        else if (std::strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else {
            std::fprintf(stderr, "usage: quantlens-bench-quant [--json] [--quick] [--only TEXT]\n");
            return 2;
        }
    }
    const int reps = quick ? 2 : 5;
    const double bw = bench::measureReadBandwidth();
    const std::int64_t n = 4096LL * 4096;
    const double bytes = double(n) * 4;
    if (!json)
        std::printf("threads %d, read bandwidth %s, one pass over 4096x4096 fp32 = %.2f ms\n\n", omp_get_max_threads(),
                    bench::gbps(bw).c_str(), bytes / bw * 1e3);

    std::vector<Row> rows;
    nlohmann::json out;
    out["threads"] = omp_get_max_threads();
    out["read_bandwidth_gbps"] = bw / 1e9;
    for (auto [dist, dname] : {std::pair{Distribution::Normal, "normal"}, std::pair{Distribution::StudentT3, "student_t3"}}) {
        const Tensor t = randomTensor({4096, 4096}, dist, 42);
        struct Case {
            const char* name;
            Scheme scheme;
            Granularity g;
            RangeMethod r;
            int bits;
        };
        std::vector<Case> cases;
        for (auto [sname, scheme] : {std::pair{"asym", Scheme::Asymmetric}, std::pair{"sym", Scheme::Symmetric}})
            for (auto [gname, g] : {std::pair{"tensor", Granularity{GranularityKind::Tensor, 0, 0}},
                                    std::pair{"channel", Granularity{GranularityKind::Channel, 0, 0}},
                                    std::pair{"group128", Granularity{GranularityKind::Group, 0, 128}}})
                for (auto [rname, r] : {std::pair{"minmax", RangeMethod{RangeKind::MinMax}},
                                        std::pair{"percentile99.9", RangeMethod{RangeKind::Percentile, 99.9}},
                                        std::pair{"mse", RangeMethod{RangeKind::Mse}},
                                        std::pair{"kl", RangeMethod{RangeKind::Kl}}}) {
                    (void)sname, (void)gname, (void)rname;
                    cases.push_back({"", scheme, g, r, 8});
                }
        for (const auto& c : cases) {
            QuantSpec s;
            s.bits = c.bits;
            s.scheme = c.scheme;
            s.granularity = c.g;
            s.range = c.r;
            if (!only.empty() && specShortName(s).find(only) == std::string::npos)
                continue;
            for (bool full : {false, true}) {
                if (quick && full && c.r.kind != RangeKind::MinMax)
                    continue;
                QuantOptions o;
                o.keepCodes = o.keepDequant = full;
                double sqnr = 0;
                const double sec = bench::bestOf(reps, [&] {
                    auto r = quantize(t.view(), s, o);
                    sqnr = r ? r->metrics.sqnrDb : 0.0;
                });
                rows.push_back({dname, specShortName(s), full ? "full" : "metrics", sec, sqnr});
            }
        }
        if (!only.empty() && std::string("histogram 2048 bins, range given + min/max pass kl range only").find(only) == std::string::npos)
            continue;
        // 2048-bin histogram over a known range (as the views bin x and x − x̂: the quantizer has
        // already found the range), and the same with the min/max pass included.
        const FiniteRange fr = finiteRange(t.data.data(), n);
        const auto range = std::make_pair(double(fr.lo), double(fr.hi));
        const double hsec = bench::bestOf(reps, [&] { (void)computeHistogram(t.data.data(), n, 2048, range); });
        rows.push_back({dname, "histogram 2048 bins, range given", "-", hsec, 0});
        const double hasec = bench::bestOf(reps, [&] { (void)computeHistogram(t.data.data(), n, 2048); });
        rows.push_back({dname, "histogram 2048 bins + min/max pass", "-", hasec, 0});
        // KL range alone on the whole tensor (16.7M values).
        std::vector<float> work;
        const double ksec = bench::bestOf(reps, [&] {
            (void)chooseRange(t.data.data(), n, RangeMethod{RangeKind::Kl}, IntGrid{8, Scheme::Symmetric}, work.data());
        });
        rows.push_back({dname, "kl range only, 16.7M values", "-", ksec, 0});
    }

    if (json) {
        out["rows"] = nlohmann::json::array();
        for (const auto& r : rows)
            out["rows"].push_back({{"data", r.data},
                                   {"spec", r.spec},
                                   {"mode", r.mode},
                                   {"ms", r.seconds * 1e3},
                                   {"gelem_per_s", double(n) / r.seconds / 1e9},
                                   {"gbps", bytes / r.seconds / 1e9},
                                   {"ratio_to_read_bw", bytes / r.seconds / bw},
                                   {"sqnr_db", r.sqnr}});
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::printf("%-11s %-34s %-8s %9s %10s %9s %7s %9s\n", "data", "spec", "mode", "ms", "Gelem/s", "GB/s", "x bw",
                "SQNR dB");
    for (const auto& r : rows)
        std::printf("%-11s %-34s %-8s %9.2f %10.3f %9.2f %7.3f %9.2f\n", r.data.c_str(), r.spec.c_str(), r.mode.c_str(),
                    r.seconds * 1e3, double(n) / r.seconds / 1e9, bytes / r.seconds / 1e9, bytes / r.seconds / bw,
                    r.sqnr);
    // Headline ratios of the targets.
    auto find = [&](const std::string& data, const std::string& spec, const std::string& mode) {
        for (const auto& r : rows)
            if (r.data == data && r.spec == spec && r.mode == mode)
                return r.seconds;
        return 0.0;
    };
    for (const char* d : {"normal", "student_t3"}) {
        const double mm = find(d, "int8 sym ch0 minmax", "metrics");
        const double mse = find(d, "int8 sym ch0 mse", "metrics");
        const double mmT = find(d, "int8 sym tensor minmax", "metrics");
        const double mseT = find(d, "int8 sym tensor mse", "metrics");
        const double hist = find(d, "histogram 2048 bins, range given", "-");
        std::printf("\n%s: INT8 per-channel min-max (metrics) %.3fx bw; 2048-bin histogram %.3fx bw; MSE/min-max "
                    "time: per-channel %.2fx, per-tensor %.2fx; KL range on 16.7M values %.1f ms",
                    d, bytes / mm / bw, bytes / hist / bw, mse / mm, mseT / mmT,
                    find(d, "kl range only, 16.7M values", "-") * 1e3);
    }
    std::printf("\n");
    return 0;
}
