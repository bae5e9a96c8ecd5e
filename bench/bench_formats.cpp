// quantlens-bench-formats: accuracy and speed of every format of the zoo on seeded 4096×4096 float32
// matrices (N(0,1) and Student-t df = 3), against the machine's read bandwidth measured in the same run.
//
//   quantlens-bench-formats [--json] [--quick] [--format NAME]
//
// Per format:
//   sqnr_normal, sqnr_t3   SQNR (dB) of ql::quantize with the format's default spec
//   bar_normal, bar_t3     the ggml reference SQNRs of issue #3 (GGUF formats), pass = within 0.02 dB
//   encode GB/s            the encode kernel over the whole matrix (fp32 bytes read per second, all
//                          threads); for formats without a separate kernel, the whole quantize()
//   decode GB/s            the decode kernel (fp32 bytes written per second, all threads); "—" where
//                          the format has none of its own (pow2, k-means, binary and ternary decode
//                          inside quantize()). Block formats run row by row, the element formats
//                          (FP16, BF16, FP8) on chunks of 64 rows, NF4 group by group.
//   × bw, bw GB/s          the two speeds divided by the read bandwidth, probed again right before
//                          each format's kernels (the start-of-run probe for the others)
//   ns/el (1 thread)       K-quants and IQ4_NL: single-threaded encode cost per element
//   quantize s             the whole ql::quantize() (codes, x̂, metrics) for reference
// Plus k-means on 16.7M values at 4 bits per tensor (bar: ≤ 1 s).

#include "bench_util.h"

#include "core/base/random.h"
#include "core/formats/float_formats.h"
#include "core/formats/gguf_formats.h"
#include "core/formats/format_driver.h"
#include "core/formats/normal_float.h"
#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <nlohmann/json.hpp>
#include <omp.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>

using namespace ql;

namespace {

double threadCpuNow()
{
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

const std::map<std::string, std::pair<double, double>> kBars = {
    {"q8_0", {45.43, 41.37}}, {"q6_k", {35.02, 31.86}}, {"q5_k", {28.85, 26.60}}, {"q5_1", {28.44, 26.28}},
    {"q5_0", {27.39, 23.67}}, {"q4_k", {22.93, 20.74}}, {"iq4_nl", {22.37, 19.91}}, {"q4_1", {22.13, 19.97}},
    {"q4_0", {21.32, 17.94}}, {"q3_k", {16.43, 14.52}}, {"q2_k", {10.56, 9.15}}};

// ggml's reference quantizers, measured on the two machine classes the project runs on (2-vCPU
// cloud VMs, GCC 12.2): the scalar reference functions of llama.cpp's ggml-quants.c built as a
// standalone C file, 256×4096 N(0,1), single thread, thread CPU time, the best of -O2 and -O3 with
// NDEBUG over three or more runs. IQ4_NL is ggml's searched quantizer (7 steps either side), the one whose
// SQNR the bars quote. The ratios use the table of the CPU vendor the bench runs on.
struct GgmlReference {
    const char* vendor;  // CPUID vendor string
    const char* machine;
    const char* llamaCommit;
    std::map<std::string, double> nsPerEl;
};

const GgmlReference kGgml[] = {
    {"AuthenticAMD", "AMD EPYC", "36491e40",
     {{"q2_k", 43.1}, {"q3_k", 8.56}, {"q4_k", 48.0}, {"q5_k", 37.5}, {"q6_k", 19.2}, {"iq4_nl", 159.2}}},
    {"GenuineIntel", "Intel Xeon (AVX-512 FP16)", "01243c58",
     {{"q2_k", 80.8}, {"q3_k", 13.4}, {"q4_k", 83.7}, {"q5_k", 66.4},
      {"q6_k", 37.6}, {"iq4_nl", 163.0}}},
};

std::string cpuVendor()
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        char v[13];
        std::memcpy(v, &b, 4);
        std::memcpy(v + 4, &d, 4);
        std::memcpy(v + 8, &c, 4);
        v[12] = 0;
        return v;
    }
#endif
    return "unknown";
}

/// The reference table of this machine's vendor; another vendor gets the Intel one (the machine
/// class issue #3's figures were taken on), which the report says.
const GgmlReference& ggmlReference()
{
    static const GgmlReference& ref = [] () -> const GgmlReference& {
        const std::string v = cpuVendor();
        for (const auto& g : kGgml)
            if (v == g.vendor)
                return g;
        return kGgml[1];
    }();
    return ref;
}

double ggmlNs(const std::string& name)
{
    const auto& t = ggmlReference().nsPerEl;
    auto it = t.find(name);
    return it != t.end() ? it->second : 0.0;
}

struct Row {
    std::string name;
    double sqnrN = 0, sqnrT = 0, encGBs = 0, decGBs = 0, nsPerEl = 0, quantizeS = 0;
    double bw = 0;  ///< read bandwidth (bytes/s) probed just before this format's kernels
    bool kernel = false;
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
        else if (std::strcmp(argv[i], "--format") == 0 && i + 1 < argc)
            only = argv[++i];
        else {
            std::fprintf(stderr, "usage: quantlens-bench-formats [--json] [--quick] [--format NAME]\n");
            return 2;
        }
    }
    const int reps = quick ? 1 : 3;
    // The streaming kernels take a few ms per pass: the best of many passes over a second, as
    // the bandwidth probe is the best of its passes, so a neighbour's burst on a shared machine
    // does not set the ratio.
    const int kernelReps = quick ? 1 : 15;
    const double kernelSeconds = quick ? 0.0 : 1.0;
    const double bw = bench::measureReadBandwidth();
    const std::int64_t rows = 4096, cols = 4096, n = rows * cols;
    const double bytes = double(n) * 4;
    const Tensor tn = randomTensor({rows, cols}, Distribution::Normal, 42);
    const Tensor tt = randomTensor({rows, cols}, Distribution::StudentT3, 42);
    if (!json)
        std::printf("threads %d, read bandwidth %s; 4096x4096 fp32 (N(0,1) and Student-t3, seed 42)\n\n",
                    omp_get_max_threads(), bench::gbps(bw).c_str());

    std::vector<Row> out;
    std::vector<std::uint8_t> buf(static_cast<std::size_t>(n) * 4);
    std::vector<float> y(static_cast<std::size_t>(n));
    std::vector<float> scales;  // NF4 group scales
    for (const FormatTraits& t : allFormats()) {
        if (t.format == Format::Int || t.format == Format::F32)
            continue;
        const std::string name(t.name);
        if (!only.empty() && name != only)
            continue;
        Row r;
        r.name = name;
        r.bw = bw;
        const QuantSpec spec = defaultSpec(t.format);
        QuantOptions opt;
        opt.keepCodes = false;
        opt.keepDequant = false;
        for (int which = 0; which < 2; ++which) {
            const Tensor& x = which == 0 ? tn : tt;
            double sq = 0;
            const double s = bench::bestOf(which == 0 ? reps : 1, [&] {
                auto q = quantize(x.view(), spec, opt);
                sq = q ? q->metrics.sqnrDb : NAN;
            });
            (which == 0 ? r.sqnrN : r.sqnrT) = sq;
            if (which == 0)
                r.quantizeS = s;
        }
        const float* xd = tn.data.data();
        const RowKernels* k = rowKernels(t.format);
        std::function<void()> enc, dec;
        // FP16, BF16 and FP8 convert spans, not rows of blocks: each call takes a chunk of rows, as
        // the model reader and the quantizer call them on a whole tensor (NF4 runs group by group).
        constexpr std::int64_t kChunkRows = 64;
        const std::int64_t nChunks = rows / kChunkRows, chunk = kChunkRows * cols;
        if (k && k->blockSize == 1) {
            enc = [&, k, chunk] {
#pragma omp parallel for schedule(static)
                for (std::int64_t c = 0; c < nChunks; ++c)
                    k->encode(xd + c * chunk, nullptr, chunk, buf.data() + c * chunk * k->blockBytes);
            };
            dec = [&, k, chunk] {
#pragma omp parallel for schedule(static)
                for (std::int64_t c = 0; c < nChunks; ++c)
                    k->decode(buf.data() + c * chunk * k->blockBytes, chunk, y.data() + c * chunk);
            };
        } else if (k) {
            const std::int64_t bpr = cols / k->blockSize * k->blockBytes;
            enc = [&, k, bpr] {
#pragma omp parallel for schedule(static)
                for (std::int64_t row = 0; row < rows; ++row)
                    k->encode(xd + row * cols, nullptr, cols, buf.data() + row * bpr);
            };
            dec = [&, k, bpr] {
#pragma omp parallel for schedule(static)
                for (std::int64_t row = 0; row < rows; ++row)
                    k->decode(buf.data() + row * bpr, cols / k->blockSize, y.data() + row * cols);
            };
        } else if (t.format == Format::F8E4M3 || t.format == Format::F8E5M2) {
            const bool e4 = t.format == Format::F8E4M3;
            const float s = 0.01f;  // the per-tensor scale (its search is part of quantize s)
            enc = [&, e4, s, chunk] {
#pragma omp parallel for schedule(static)
                for (std::int64_t c = 0; c < nChunks; ++c) {
                    if (e4)
                        encodeFp8E4M3(xd + c * chunk, chunk, s, buf.data() + c * chunk);
                    else
                        encodeFp8E5M2(xd + c * chunk, chunk, s, buf.data() + c * chunk);
                }
            };
            dec = [&, e4, s, chunk] {
#pragma omp parallel for schedule(static)
                for (std::int64_t c = 0; c < nChunks; ++c) {
                    if (e4)
                        decodeFp8E4M3(buf.data() + c * chunk, chunk, s, y.data() + c * chunk);
                    else
                        decodeFp8E5M2(buf.data() + c * chunk, chunk, s, y.data() + c * chunk);
                }
            };
        } else if (t.format == Format::NVFP4) {
            const float g = nvfp4TensorScale(xd, n);
            const std::int64_t bpr = cols / 16 * 9;
            enc = [&, g, bpr] {
#pragma omp parallel for schedule(static)
                for (std::int64_t row = 0; row < rows; ++row)
                    encodeNvfp4(xd + row * cols, cols, g, buf.data() + row * bpr);
            };
            dec = [&, g, bpr] {
#pragma omp parallel for schedule(static)
                for (std::int64_t row = 0; row < rows; ++row)
                    decodeNvfp4(buf.data() + row * bpr, cols / 16, g, y.data() + row * cols);
            };
        } else if (t.format == Format::NF4) {
            // Groups of 64: absmax, then the codes (as the NF4 fit and encode do); the decode is
            // the 16-level table lookup times the group's absmax.
            scales.assign(std::size_t(n / 64), 1.0f);
            enc = [&] {
#pragma omp parallel for schedule(static)
                for (std::int64_t g = 0; g < n / 64; ++g) {
                    const float amax = finiteAbsMax(xd + 64 * g, 64);
                    scales[g] = amax > 0 ? amax : 1.0f;
                    encodeNf4(xd + 64 * g, 64, scales[g], buf.data() + 64 * g, nullptr);
                }
            };
            dec = [&] {
#pragma omp parallel for schedule(static)
                for (std::int64_t g = 0; g < n / 64; ++g)
                    decodeNf4(buf.data() + 64 * g, 64, scales[g], y.data() + 64 * g);
            };
        }
        if (enc) {
            r.kernel = true;
            // The ratios are taken against a probe right before the kernels: this machine's memory
            // speed drifts by half over a run (a neighbour's load), and a probe at the start would
            // turn the drift into the ratio.
            r.bw = bench::measureReadBandwidth();
            r.encGBs = bytes / bench::bestOfFor(kernelReps, kernelSeconds, enc) / 1e9;
            if (dec)
                r.decGBs = bytes / bench::bestOfFor(kernelReps, kernelSeconds, dec) / 1e9;
            if (k && (t.family == FormatFamily::GgufBlock) && (k->blockSize == 256 || t.format == Format::IQ4_NL)) {
                const std::int64_t sub = 256 * cols;  // 256 rows, one thread
                // Best of many short runs (a few ms each) spread over a second and a half: on a
                // shared machine single runs vary by a third, and slow spells last longer than the
                // runs (ggml's figures are likewise the best of runs in quiet spells).
                double best = 1e9;
                const double start = bench::now();
                for (int rep = 0; rep < (quick ? 1 : 15) || (!quick && bench::now() - start < 1.5); ++rep) {
                    const double t0 = threadCpuNow();
                    k->encode(xd, nullptr, sub, buf.data());
                    best = std::min(best, threadCpuNow() - t0);
                }
                r.nsPerEl = best * 1e9 / double(sub);
            }
        } else {
            r.encGBs = bytes / r.quantizeS / 1e9;
        }
        out.push_back(r);
    }

    // k-means on 16.7M values, 4 bits, one codebook.
    QuantSpec km = defaultSpec(Format::KMeans);
    km.granularity = Granularity{};
    QuantOptions kmo;
    kmo.keepCodes = false;
    kmo.keepDequant = false;
    double kmSqnr = 0;
    const double kmS = bench::bestOf(reps, [&] {
        auto q = quantize(tn.view(), km, kmo);
        kmSqnr = q ? q->metrics.sqnrDb : NAN;
    });

    nlohmann::json j;
    j["threads"] = omp_get_max_threads();
    j["read_bandwidth_gbps"] = bw / 1e9;
    j["ggml_reference_machine"] = ggmlReference().machine;
    j["cpu_vendor"] = cpuVendor();
    j["formats"] = nlohmann::json::array();
    if (!json) {
        std::printf("%-9s %8s %8s %7s %7s  %9s %6s %9s %6s %7s %9s %10s\n", "format", "sqnr N", "sqnr t3", "bar N",
                    "bar t3", "enc GB/s", "x bw", "dec GB/s", "x bw", "bw GB/s", "ns/el 1T", "quantize s");
    }
    for (const Row& r : out) {
        auto bar = kBars.find(r.name);
        nlohmann::json e{{"format", r.name},         {"sqnr_normal_db", r.sqnrN}, {"sqnr_t3_db", r.sqnrT},
                         {"encode_gbps", r.encGBs},  {"encode_x_bw", r.encGBs * 1e9 / r.bw},
                         {"decode_gbps", r.decGBs},  {"decode_x_bw", r.decGBs * 1e9 / r.bw},
                         {"read_bandwidth_gbps", r.bw / 1e9},
                         {"quantize_seconds", r.quantizeS}, {"encode_is_kernel", r.kernel}};
        if (r.nsPerEl > 0) {
            e["encode_ns_per_element_1thread"] = r.nsPerEl;
            if (ggmlNs(r.name) > 0)
                e["encode_speedup_vs_ggml"] = ggmlNs(r.name) / r.nsPerEl;
        }
        if (bar != kBars.end()) {
            e["bar_normal_db"] = bar->second.first;
            e["bar_t3_db"] = bar->second.second;
            e["meets_bars"] = r.sqnrN >= bar->second.first - 0.02 && r.sqnrT >= bar->second.second - 0.02;
        }
        j["formats"].push_back(e);
        if (!json) {
            char bn[16] = "", bt[16] = "";
            if (bar != kBars.end()) {
                std::snprintf(bn, sizeof bn, "%.2f%s", bar->second.first, r.sqnrN >= bar->second.first - 0.02 ? "" : "!");
                std::snprintf(bt, sizeof bt, "%.2f%s", bar->second.second, r.sqnrT >= bar->second.second - 0.02 ? "" : "!");
            }
            char ns[16] = "", dec[16] = "       —", decX[16] = "     —";
            if (r.decGBs > 0) {
                std::snprintf(dec, sizeof dec, "%9.2f", r.decGBs);
                std::snprintf(decX, sizeof decX, "%6.2f", r.decGBs * 1e9 / r.bw);
            }
            if (r.nsPerEl > 0)
                std::snprintf(ns, sizeof ns, "%.1f", r.nsPerEl);
            std::printf("%-9s %8.3f %8.3f %7s %7s  %9.2f %6.2f %9s %6s %7.1f %9s %10.3f%s\n", r.name.c_str(), r.sqnrN,
                        r.sqnrT, bn, bt, r.encGBs, r.encGBs * 1e9 / r.bw, dec, decX, r.bw / 1e9, ns,
                        r.quantizeS, r.kernel ? "" : "  (encode = whole quantize)");
        }
    }
    if (!json) {
        const GgmlReference& g = ggmlReference();
        std::printf("\nsearched encoders against ggml's reference (single thread; bar for the K-quants: >= 10x;\n"
                    "reference measured on %s, llama.cpp %s; this CPU: %s):\n",
                    g.machine, g.llamaCommit, cpuVendor().c_str());
        for (const Row& r : out)
            if (r.nsPerEl > 0 && ggmlNs(r.name) > 0) {
                const double x = ggmlNs(r.name) / r.nsPerEl;
                const bool kq = r.name.size() == 4 && r.name[3] == 'k';
                std::printf("  %-7s %6.1f ns/el vs %6.1f ns/el  = %5.1fx%s\n", r.name.c_str(), r.nsPerEl, ggmlNs(r.name), x,
                            !kq ? "  (reference only)" : x >= 10 ? "" : "  (below the bar)");
            }
    }
    j["kmeans_16m_4bit_seconds"] = kmS;
    j["kmeans_16m_4bit_sqnr_db"] = kmSqnr;
    if (json)
        std::cout << j.dump(2) << "\n";
    else
        std::printf("\nk-means, 16.7M values, 4 bits, one codebook: %.3f s (SQNR %.3f dB; bar <= 1 s)\n"
                    "bars: ! = below the ggml reference SQNR by more than 0.02 dB\n",
                    kmS, kmSqnr);
    return 0;
}
