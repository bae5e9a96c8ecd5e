#include "core/quant/range.h"

#include "core/quant/int_grid.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace ql {

namespace {

// Linear-interpolated quantile (numpy's default) of v[0..n) for q in [0, 1]; reorders v.
float quantileInPlace(float* v, std::int64_t n, double q)
{
    if (n == 0)
        return 0.0f;
    const double pos = q * double(n - 1);
    const auto i = static_cast<std::int64_t>(std::floor(pos));
    const double frac = pos - double(i);
    std::nth_element(v, v + i, v + n);
    const float a = v[i];
    if (frac == 0.0 || i + 1 >= n)
        return a;
    const float b = *std::min_element(v + i + 1, v + n);
    return static_cast<float>(double(a) + frac * (double(b) - double(a)));
}

// Copies the finite values of x into out; returns how many.
std::int64_t copyFinite(const float* x, std::int64_t n, float* out)
{
    std::int64_t k = 0;
    for (std::int64_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) <= FLT_MAX)
            out[k++] = x[i];
    return k;
}

constexpr std::int64_t kMseSampleCap = std::int64_t(1) << 17;

} // namespace

double intClipError(const float* x, std::int64_t n, float lo, float hi, const IntGrid& grid)
{
    const IntParams p = intParams(lo, hi, grid);
    double total = 0.0;
    for (std::int64_t b = 0; b < n; b += 1024) {
        const std::int64_t e = std::min(n, b + 1024);
        float acc = 0.0f;
        if (grid.rounding == Rounding::HalfEven) {
#pragma omp simd reduction(+ : acc)
            for (std::int64_t i = b; i < e; ++i) {
                const float q = std::clamp(__builtin_roundevenf(x[i] / p.scale) + p.zeroPoint, p.qmin, p.qmax);
                const float d = x[i] - p.scale * (q - p.zeroPoint);
                acc += d * d;
            }
        } else {
            for (std::int64_t i = b; i < e; ++i) {
                const float d = x[i] - dequantizeOne(quantizeOne(x[i], p, grid.rounding), p);
                acc += d * d;
            }
        }
        total += acc;
    }
    return total;
}

ClipRange mseClipSearch(const float* x, std::int64_t n, const IntGrid& grid)
{
    if (n == 0)
        return {};
    // Deterministic stride subsample for very large segments.
    std::vector<float> sample;
    const float* s = x;
    std::int64_t m = n;
    if (n > kMseSampleCap) {
        sample.resize(kMseSampleCap);
        const double step = double(n) / double(kMseSampleCap);
        for (std::int64_t i = 0; i < kMseSampleCap; ++i)
            sample[i] = x[static_cast<std::int64_t>(double(i) * step)];
        s = sample.data();
        m = kMseSampleCap;
    }
    float lo = x[0], hi = x[0];
#pragma omp simd reduction(min : lo) reduction(max : hi)
    for (std::int64_t i = 0; i < n; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
    }
    if (grid.scheme != Scheme::Asymmetric) {
        const float a = std::max(std::fabs(lo), std::fabs(hi));
        lo = -a;
        hi = a;
    } else {
        lo = std::min(lo, 0.0f);
        hi = std::max(hi, 0.0f);
    }
    if (lo == hi)
        return {lo, hi};
    auto errAt = [&](double f) { return intClipError(s, m, float(f * lo), float(f * hi), grid); };
    double bestF = 1.0, bestErr = errAt(1.0);
    for (int k = 19; k >= 1; --k) {  // f = 0.95 … 0.05, larger f wins ties
        const double f = 0.05 * k;
        const double e = errAt(f);
        if (e < bestErr)
            bestErr = e, bestF = f;
    }
    const double center = bestF;
    for (int k = 9; k >= -9; --k) {
        if (k == 0)
            continue;
        const double f = center + 0.005 * k;
        if (f <= 0.0 || f > 1.0)
            continue;
        const double e = errAt(f);
        if (e < bestErr)
            bestErr = e, bestF = f;
    }
    return {float(bestF * lo), float(bestF * hi)};
}

ClipRange klClipRange(const float* x, std::int64_t n, const IntGrid& grid)
{
    constexpr int kBins = 2048;
    if (n == 0)
        return {};
    const bool par = n > (1 << 20) && !omp_in_parallel();
    float amax = 0.0f;
#pragma omp parallel for simd reduction(max : amax) if (par)
    for (std::int64_t i = 0; i < n; ++i)
        amax = std::max(amax, std::fabs(x[i]));
    if (amax == 0.0f)
        return {0.0f, 0.0f};
    const std::int64_t levels = std::int64_t(1) << (grid.bits - 1);
    if (levels >= kBins)
        return {-amax, amax};  // the grid is finer than the histogram: nothing to gain by clipping

    // |x| histogram on [0, amax]; integer counts, so the result is independent of the thread count.
    std::vector<std::int64_t> counts(kBins, 0);
    {
        const float inv = float(kBins) / amax;
        const int nThreads = par ? omp_get_max_threads() : 1;
        std::vector<std::int64_t> local(std::size_t(nThreads) * kBins, 0);
#pragma omp parallel num_threads(nThreads)
        {
            std::int64_t* mine = local.data() + std::size_t(omp_get_thread_num()) * kBins;
#pragma omp for schedule(static)
            for (std::int64_t i = 0; i < n; ++i)
                ++mine[std::min(kBins - 1, static_cast<int>(std::fabs(x[i]) * inv))];
        }
        for (int t = 0; t < nThreads; ++t)
            for (int k = 0; k < kBins; ++k)
                counts[k] += local[std::size_t(t) * kBins + k];
    }
    // Prefix sums: H = Σh, HL = Σ h·log h, NZ = number of non-empty bins.
    std::vector<double> H(kBins + 1, 0.0), HL(kBins + 1, 0.0), NZ(kBins + 1, 0.0);
    for (int k = 0; k < kBins; ++k) {
        const double h = double(counts[k]);
        H[k + 1] = H[k] + h;
        HL[k + 1] = HL[k] + (h > 0 ? h * std::log(h) : 0.0);
        NZ[k + 1] = NZ[k] + (h > 0 ? 1.0 : 0.0);
    }
    const double P = H[kBins];
    const double logP = std::log(P);
    const std::int64_t L = levels;
    const std::int64_t stride = std::max<std::int64_t>(1, (kBins * L + 16 * n - 1) / (16 * n));
    constexpr double kEps = 1e-12;  // q of a chunk with no in-range mass (only tail): heavy penalty

    double best = std::numeric_limits<double>::infinity();
    std::int64_t bestI = kBins;
    for (std::int64_t i = L;; i = std::min<std::int64_t>(i + stride, kBins)) {
        const double tail = P - H[i];
        const double hLast = double(counts[i - 1]);
        const double pLast = hLast + tail;
        const double sumPlogP = HL[i - 1] + (pLast > 0 ? pLast * std::log(pLast) : 0.0);
        const std::int64_t m = i / L;
        const double Qtot = H[i];
        double cross = 0.0;
        for (std::int64_t j = 0; j < L; ++j) {
            const std::int64_t a = j * m, b = (j == L - 1) ? i : a + m;
            const double Qj = H[b] - H[a];
            const double Pj = Qj + (j == L - 1 ? tail : 0.0);
            if (Pj <= 0.0)
                continue;
            double nz = NZ[b] - NZ[a];
            if (j == L - 1 && hLast == 0.0 && pLast > 0.0)
                nz += 1.0;  // the last kept bin is non-empty in P because of the folded tail
            const double qj = Qj > 0.0 ? Qj / (nz * Qtot) : kEps;
            cross += Pj * std::log(qj);
        }
        const double kl = sumPlogP / P - logP - cross / P;
        if (kl < best) {
            best = kl;
            bestI = i;
        }
        if (i == kBins)
            break;
    }
    const float t = float(double(amax) * double(bestI) / kBins);
    return {-t, t};
}

ClipRange chooseRange(const float* x, std::int64_t n, const RangeMethod& method, const IntGrid& grid, float* work)
{
    return chooseRange(x, n, finiteRange(x, n), method, grid, work);
}

ClipRange chooseRange(const float* x, std::int64_t n, const FiniteRange& fr, const RangeMethod& method,
                      const IntGrid& grid, float* work)
{
    if (fr.finite == 0)
        return {0.0f, 0.0f};
    const bool sym = grid.scheme != Scheme::Asymmetric;
    switch (method.kind) {
    case RangeKind::MinMax:
        return {fr.lo, fr.hi};
    case RangeKind::Percentile: {
        const std::int64_t m = copyFinite(x, n, work);
        const double p = std::clamp(method.percentile, 0.0, 100.0) / 100.0;
        if (sym) {
            for (std::int64_t i = 0; i < m; ++i)
                work[i] = std::fabs(work[i]);
            const float t = quantileInPlace(work, m, p);
            return {-t, t};
        }
        const float hi = quantileInPlace(work, m, p);
        const float lo = quantileInPlace(work, m, 1.0 - p);
        return {lo, hi};
    }
    case RangeKind::Mse: {
        const float* v = x;
        std::int64_t m = n;
        if (fr.nonfinite > 0) {
            m = copyFinite(x, n, work);
            v = work;
        }
        return mseClipSearch(v, m, grid);
    }
    case RangeKind::Kl: {
        const float* v = x;
        std::int64_t m = n;
        if (fr.nonfinite > 0) {
            m = copyFinite(x, n, work);
            v = work;
        }
        const ClipRange t = klClipRange(v, m, grid);
        if (sym)
            return t;
        return {std::max(fr.lo, t.lo), std::min(fr.hi, t.hi)};
    }
    }
    return {fr.lo, fr.hi};
}

} // namespace ql
