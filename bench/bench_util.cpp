#include "bench_util.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

namespace ql::bench {

double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double bestOf(int reps, const std::function<void()>& fn)
{
    fn();
    double best = std::numeric_limits<double>::infinity();
    for (int i = 0; i < reps; ++i) {
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
    const double t = bestOf(5, [&] {
        float s = 0;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
        for (std::int64_t i = 0; i < n; ++i)
            s += b[i];
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

} // namespace ql::bench
