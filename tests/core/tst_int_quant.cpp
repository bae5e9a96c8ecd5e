// Integer affine quantization: the worked example of DESIGN.md, properties and edge cases.

#include "core/base/dtype.h"
#include "core/base/random.h"
#include "core/quant/format_traits.h"
#include "core/quant/int_grid.h"
#include "core/quant/quantize.h"

#include <QtTest>

#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace ql;

namespace {

QuantSpec intSpec(int bits, Scheme scheme, Granularity g, RangeMethod r = {})
{
    QuantSpec s;
    s.format = Format::Int;
    s.bits = bits;
    s.scheme = scheme;
    s.granularity = g;
    s.range = r;
    return s;
}

const Granularity kTensor{GranularityKind::Tensor, 0, 0};
Granularity channel(int axis) { return Granularity{GranularityKind::Channel, axis, 0}; }
Granularity group(std::int64_t g, int axis = 0) { return Granularity{GranularityKind::Group, axis, g}; }

QuantResult mustQuantize(const Tensor& t, const QuantSpec& s, QuantOptions o = {})
{
    auto r = quantize(t.view(), s, o);
    if (!r)
        qFatal("quantize failed: %s", r.error().toString().c_str());
    return std::move(r).value();
}

} // namespace

class TestIntQuant : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // The 4×4 worked example, 8-bit asymmetric per-tensor min-max, every value by hand:
    // lo = −3.16227766, hi = 3.14159265, scale = 6.30387031 / 255 = 0.0247210600,
    // zero point = round(0 − lo/scale) = round(127.918) = 128, q = round(x/scale) + 128.
    void workedExample()
    {
        const Tensor t({4, 4}, {3.14159265f, -2.71828183f, 1.41421356f, -0.57735027f, 0.86602540f, 2.23606798f,
                                -1.73205081f, 0.31622777f, -1.61803399f, 0.70710678f, 2.44948974f, -0.44721360f,
                                1.25992105f, -3.16227766f, 0.52359878f, 1.77245385f});
        const QuantResult r = mustQuantize(t, intSpec(8, Scheme::Asymmetric, kTensor));
        const double scale = 6.30387031 / 255.0;
        QCOMPARE(r.scales.size(), std::size_t(1));
        QVERIFY(std::fabs(r.scales[0] - scale) < 1e-8);
        QCOMPARE(r.zeroPoints.size(), std::size_t(1));
        QCOMPARE(r.zeroPoints[0], 128.0f);
        const int codes[16] = {255, 18, 185, 105, 163, 218, 58, 141, 63, 157, 227, 110, 179, 0, 149, 200};
        for (int i = 0; i < 16; ++i) {
            QCOMPARE(r.codes[i], codes[i]);
            const double xhat = scale * (codes[i] - 128);
            QVERIFY2(std::fabs(r.dequant[i] - xhat) < 1e-6, qPrintable(QString::number(i)));
        }
        // Hand-computed reconstruction of two elements.
        QVERIFY(std::fabs(r.dequant[0] - 3.13957462) < 1e-6);
        QVERIFY(std::fabs(r.dequant[13] - (-3.16429569)) < 1e-6);
        QCOMPARE(r.metrics.clipped, std::int64_t(0));
        QCOMPARE(r.metrics.elements, std::int64_t(16));
        QVERIFY(r.metrics.maxAbsError <= scale / 2 + 1e-7);
        // bits per weight: 8 + (32-bit scale + 8-bit zero point) / 16 elements.
        QCOMPARE(r.bitsPerWeight, 8.0 + 40.0 / 16.0);
    }

    void inRangeErrorBounded_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("scheme");
        QTest::addColumn<int>("gran");
        for (int bits : {2, 3, 4, 8, 12, 16})
            for (int scheme : {0, 1, 2})
                for (int gran : {0, 1, 2})
                    QTest::addRow("b%d s%d g%d", bits, scheme, gran) << bits << scheme << gran;
    }
    // Every element whose code was not clamped is within scale/2 of its reconstruction (plus float
    // rounding), and clipped + rounding error add up to the total.
    void inRangeErrorBounded()
    {
        QFETCH(int, bits);
        QFETCH(int, scheme);
        QFETCH(int, gran);
        const Tensor t = randomTensor({64, 256}, Distribution::StudentT3, 7);
        const Granularity g = gran == 0 ? kTensor : (gran == 1 ? channel(0) : group(64));
        const QuantSpec spec = intSpec(bits, Scheme(scheme), g, RangeMethod{RangeKind::Percentile, 99.0});
        const QuantResult r = mustQuantize(t, spec);
        std::int64_t clipped = 0;
        for (std::int64_t i = 0; i < t.numel(); ++i) {
            const std::int64_t s = g.kind == GranularityKind::Tensor ? 0 : (g.kind == GranularityKind::Channel ? i / 256 : i / 64);
            const float scale = r.scales[s];
            const float err = std::fabs(t.data[i] - r.dequant[i]);
            float qmin, qmax;
            intCodeRange(IntGrid{bits, Scheme(scheme)}, qmin, qmax);
            const bool atEdge = r.codes[i] == int(qmin) || r.codes[i] == int(qmax);
            if (!atEdge)
                QVERIFY2(err <= scale * 0.5f * (1 + 1e-5f) + std::fabs(t.data[i]) * 4e-7f, qPrintable(QString::number(i)));
            else if (err > scale * 0.5f * (1 + 1e-5f) + std::fabs(t.data[i]) * 4e-7f)
                ++clipped;
        }
        QCOMPARE(r.metrics.clipped, clipped);
        QVERIFY(std::fabs(r.metrics.clipMse + r.metrics.roundMse - r.metrics.mse) <= 1e-9 * (1 + r.metrics.mse));
        QVERIFY(r.metrics.clipFraction > 0.0);  // percentile 99 must clip something
    }

    // Quantizing the reconstruction again with the same scales gives the same codes.
    void idempotent()
    {
        const Tensor t = randomTensor({32, 128}, Distribution::Normal, 3);
        for (Scheme scheme : {Scheme::Asymmetric, Scheme::Symmetric, Scheme::SymmetricFull}) {
            const QuantResult r = mustQuantize(t, intSpec(4, scheme, channel(0)));
            for (std::int64_t i = 0; i < t.numel(); ++i) {
                const std::int64_t s = i / 128;
                const IntParams p = intParams(r.ranges[s].lo, r.ranges[s].hi, IntGrid{4, scheme}, r.scales[s]);
                QCOMPARE(int(quantizeOne(r.dequant[i], p, Rounding::HalfEven)), r.codes[i]);
            }
        }
    }

    void symmetricMapsZeroExactly()
    {
        Tensor t = randomTensor({16, 64}, Distribution::Normal, 5);
        for (std::int64_t i = 0; i < t.numel(); i += 7)
            t.data[i] = 0.0f;
        for (Scheme scheme : {Scheme::Symmetric, Scheme::SymmetricFull}) {
            const QuantResult r = mustQuantize(t, intSpec(3, scheme, channel(0)));
            for (std::int64_t i = 0; i < t.numel(); i += 7) {
                QCOMPARE(r.dequant[i], 0.0f);
                QCOMPARE(r.codes[i], 0);
            }
        }
    }

    void halfEvenRounding()
    {
        // scale = 1 (range [−127, 127] at 8-bit symmetric): 0.5 → 0, 1.5 → 2, 2.5 → 2, −2.5 → −2.
        const Tensor t({1, 6}, {127.0f, 0.5f, 1.5f, 2.5f, -2.5f, -127.0f});
        const QuantResult r = mustQuantize(t, intSpec(8, Scheme::Symmetric, kTensor));
        QCOMPARE(r.scales[0], 1.0f);
        QCOMPARE(r.codes[1], 0);
        QCOMPARE(r.codes[2], 2);
        QCOMPARE(r.codes[3], 2);
        QCOMPARE(r.codes[4], -2);
        QuantSpec away = intSpec(8, Scheme::Symmetric, kTensor);
        away.rounding = Rounding::HalfAwayFromZero;
        const QuantResult a = mustQuantize(t, away);
        QCOMPARE(a.codes[1], 1);
        QCOMPARE(a.codes[3], 3);
        QCOMPARE(a.codes[4], -3);
    }

    void codesAreThoseOfTheDivision()
    {
        // The fast path multiplies by 1/scale; values whose quotient sits within a few ulps of a
        // rounding boundary k + ½ must still get round(x / scale) (DESIGN.md), ties to even.
        for (int a = 1; a <= 40; ++a) {
            const float amax = 0.037f * float(a);
            const float scale = intParams(-amax, amax, IntGrid{8, Scheme::Symmetric}).scale;
            const float inv = 1.0f / scale;
            std::vector<float> v{amax, -amax};
            int productDisagrees = 0;
            for (int k = -127; k < 127; ++k)
                for (int d = -3; d <= 3; ++d) {
                    float x = (float(k) + 0.5f) * scale;
                    for (int j = 0; j < std::abs(d); ++j)
                        x = std::nextafter(x, d > 0 ? amax : -amax);
                    if (std::fabs(x) > amax)
                        continue;
                    v.push_back(x);
                    productDisagrees += std::rint(x * inv) != std::rint(x / scale);
                }
            // Pad to several 1024-value blocks so that clean blocks surround the risky ones.
            const std::size_t near = v.size();
            for (std::size_t i = 0; v.size() < 4096; ++i)
                v.push_back(float(i % 200) * 0.005f * amax - 0.5f * amax);
            QVERIFY(productDisagrees > 0);  // the data really exercises the fix-up
            const Tensor t({1, std::int64_t(v.size())}, v);
            const QuantResult r = mustQuantize(t, intSpec(8, Scheme::Symmetric, kTensor));
            QCOMPARE(r.scales[0], scale);
            for (std::size_t i = 0; i < v.size(); ++i) {
                const int want = int(std::clamp(std::rint(v[i] / scale), -127.0f, 127.0f));
                if (r.codes[i] != want)
                    QFAIL(qPrintable(QStringLiteral("amax %1, value %2 (index %3 of %4 near ties): code %5, want %6")
                                         .arg(double(amax)).arg(double(v[i]), 0, 'g', 9).arg(i).arg(near)
                                         .arg(r.codes[i]).arg(want)));
            }
        }
    }

    void fullRangeUsesMostNegativeCode()
    {
        const Tensor t({1, 3}, {-10.0f, 0.0f, 7.0f});
        QuantSpec s = intSpec(4, Scheme::SymmetricFull, kTensor);
        const QuantResult r = mustQuantize(t, s);
        // scale = 10 / 7; −10 → −7 (restricted would be the same); codes may reach −8.
        QCOMPARE(r.codes[0], -7);
        float qmin, qmax;
        intCodeRange(IntGrid{4, Scheme::SymmetricFull}, qmin, qmax);
        QCOMPARE(qmin, -8.0f);
        QCOMPARE(qmax, 7.0f);
        QCOMPARE(gridLevels(r).size(), std::size_t(16));
        QCOMPARE(gridLevels(mustQuantize(t, intSpec(4, Scheme::Symmetric, kTensor))).size(), std::size_t(15));
    }

    // Channels with very different ranges: per-channel error ≤ per-tensor error.
    void perChannelBeatsPerTensor()
    {
        Tensor t = randomTensor({64, 128}, Distribution::Normal, 11);
        for (std::int64_t r = 0; r < 64; ++r)
            for (std::int64_t c = 0; c < 128; ++c)
                t.data[r * 128 + c] *= std::pow(1.15f, float(r));
        for (int bits : {2, 4, 8}) {
            const auto pt = mustQuantize(t, intSpec(bits, Scheme::Asymmetric, kTensor));
            const auto pc = mustQuantize(t, intSpec(bits, Scheme::Asymmetric, channel(0)));
            const auto pg = mustQuantize(t, intSpec(bits, Scheme::Asymmetric, group(32)));
            QVERIFY(pc.metrics.mse <= pt.metrics.mse);
            QVERIFY(pg.metrics.mse <= pc.metrics.mse * 1.0001);
            QVERIFY(pc.metrics.sqnrDb > pt.metrics.sqnrDb + 3.0);
        }
    }

    // Keras layout [in, out] quantized per output channel (axis 1): same as transposing, per row.
    void stridedChannelsMatchTransposed()
    {
        const Tensor t = randomTensor({96, 40}, Distribution::StudentT3, 21);
        Tensor tt({40, 96});
        for (int i = 0; i < 96; ++i)
            for (int j = 0; j < 40; ++j)
                tt.data[j * 96 + i] = t.data[i * 40 + j];
        for (const auto& [g, gt] : {std::pair{channel(1), channel(0)}, std::pair{group(32, 1), group(32, 0)}}) {
            const auto a = mustQuantize(t, intSpec(4, Scheme::Symmetric, g, RangeMethod{RangeKind::Mse}));
            const auto b = mustQuantize(tt, intSpec(4, Scheme::Symmetric, gt, RangeMethod{RangeKind::Mse}));
            QCOMPARE(a.scales, b.scales);
            for (int i = 0; i < 96; ++i)
                for (int j = 0; j < 40; ++j)
                    QCOMPARE(a.codes[i * 40 + j], b.codes[j * 96 + i]);
            QCOMPARE(a.metrics.clipped, b.metrics.clipped);
            QVERIFY(std::fabs(a.metrics.mse - b.metrics.mse) <= 1e-6 * b.metrics.mse);
        }
    }

    void bitsPerWeightAccounting()
    {
        const Shape shape{256, 1024};
        auto bpw = [&](int bits, Scheme s, Granularity g, ScaleStorage st = ScaleStorage::F32) {
            QuantSpec spec = intSpec(bits, s, g);
            spec.scaleStorage = st;
            return bitsPerWeight(spec, shape);
        };
        QCOMPARE(bpw(4, Scheme::Symmetric, group(128)), 4.0 + 32.0 / 128.0);
        QCOMPARE(bpw(4, Scheme::Asymmetric, group(128)), 4.0 + 36.0 / 128.0);
        QCOMPARE(bpw(4, Scheme::Symmetric, group(64), ScaleStorage::F16), 4.0 + 16.0 / 64.0);
        QCOMPARE(bpw(8, Scheme::Symmetric, channel(0)), 8.0 + 32.0 / 1024.0);
        QCOMPARE(bpw(8, Scheme::Asymmetric, kTensor), 8.0 + 40.0 / (256.0 * 1024.0));
        QCOMPARE(bpw(4, Scheme::Symmetric, group(64), ScaleStorage::Int8), 4.0 + (8.0 + 32.0 / 256.0) / 64.0);
        const Tensor t = randomTensor(shape, Distribution::Normal, 1);
        const auto r = mustQuantize(t, intSpec(4, Scheme::Asymmetric, group(128)));
        QCOMPARE(r.bitsPerWeight, 4.0 + 36.0 / 128.0);
        QCOMPARE(r.storageBytes, std::int64_t(std::ceil((4.0 + 36.0 / 128.0) * 256 * 1024 / 8)));
    }

    void scaleStorageRounding()
    {
        const Tensor t = randomTensor({512, 64}, Distribution::Normal, 4);
        QuantSpec s = intSpec(4, Scheme::Symmetric, channel(0));
        s.scaleStorage = ScaleStorage::F16;
        const auto r16 = mustQuantize(t, s);
        for (float sc : r16.scales)
            QCOMPARE(halfToFloat(floatToHalf(sc)), sc);
        s.scaleStorage = ScaleStorage::Int8;
        const auto r8 = mustQuantize(t, s);
        // Double quantization: 512 scales in two blocks of 256, each an integer multiple of its
        // block's step (block max / 255).
        for (int b = 0; b < 2; ++b) {
            float mx = 0;
            for (int i = 0; i < 256; ++i)
                mx = std::max(mx, r8.scales[b * 256 + i]);
            const float step = mx / 255.0f;
            for (int i = 0; i < 256; ++i) {
                const float k = r8.scales[b * 256 + i] / step;
                QVERIFY(std::fabs(k - std::round(k)) < 1e-3f);
            }
        }
        s.scaleStorage = ScaleStorage::F32;
        const auto r32 = mustQuantize(t, s);
        QVERIFY(r8.metrics.mse >= r32.metrics.mse * 0.95);
        QVERIFY(r8.metrics.sqnrDb > r32.metrics.sqnrDb - 1.0);
    }

    void sameBytesAnyThreadCount_data()
    {
        QTest::addColumn<int>("range");
        QTest::addColumn<int>("gran");
        for (int range : {0, 1, 2, 3})
            for (int gran : {0, 1, 2, 3})
                QTest::addRow("r%d g%d", range, gran) << range << gran;
    }
    void sameBytesAnyThreadCount()
    {
        QFETCH(int, range);
        QFETCH(int, gran);
        const Tensor t = randomTensor({300, 512}, Distribution::StudentT3, 99);
        const Granularity g = gran == 0 ? kTensor : gran == 1 ? channel(0) : gran == 2 ? group(128) : channel(1);
        const QuantSpec s = intSpec(4, Scheme::Asymmetric, g, RangeMethod{RangeKind(range), 99.5});
        QuantOptions o;
        o.histogramBins = 101;
        const int before = omp_get_max_threads();
        omp_set_num_threads(1);
        const auto a = mustQuantize(t, s, o);
        omp_set_num_threads(2);
        const auto b = mustQuantize(t, s, o);
        omp_set_num_threads(before);
        QCOMPARE(a.codes, b.codes);
        QVERIFY(std::memcmp(a.dequant.data(), b.dequant.data(), a.dequant.size() * 4) == 0);
        QVERIFY(std::memcmp(a.scales.data(), b.scales.data(), a.scales.size() * 4) == 0);
        QCOMPARE(a.metrics.sumErr2, b.metrics.sumErr2);
        QCOMPARE(a.metrics.sumX2, b.metrics.sumX2);
        QCOMPARE(a.metrics.sqnrDb, b.metrics.sqnrDb);
        QCOMPARE(a.histX.counts, b.histX.counts);
        QCOMPARE(a.histErr.counts, b.histErr.counts);
    }

    // Recycled buffers (QuantOptions::recycle) hold stale values; every element must be rewritten,
    // whatever the format, granularity and earlier size, and the old result gives its buffers up.
    void recycledBuffersGiveTheSameResult()
    {
        Tensor t = randomTensor({96, 256}, Distribution::StudentT3, 5);
        t.data[17] = std::numeric_limits<float>::quiet_NaN();
        t.data[999] = std::numeric_limits<float>::infinity();
        for (const char* fmt : {"int", "fp8_e4m3", "nf4", "q4_0"}) {
            QuantSpec s = intSpec(4, Scheme::Symmetric, group(64), RangeMethod{RangeKind::MinMax});
            s.format = *formatFromName(fmt);
            if (s.format == Format::F8E4M3)
                s.granularity = channel(0);
            QuantOptions o;
            o.histogramBins = 64;
            const auto fresh = mustQuantize(t, s, o);
            for (std::size_t oldSize : {std::size_t(t.numel()), std::size_t(t.numel()) + 5000, std::size_t(100)}) {
                QuantResult old;
                old.dequant.assign(oldSize, 12345.0f);
                old.codes.assign(oldSize, 77);
                o.recycle = &old;
                const auto again = mustQuantize(t, s, o);
                QVERIFY2(std::memcmp(again.dequant.data(), fresh.dequant.data(), fresh.dequant.size() * 4) == 0, fmt);
                QCOMPARE(again.dequant.size(), fresh.dequant.size());
                QCOMPARE(again.codes, fresh.codes);
                QCOMPARE(again.histErr.counts, fresh.histErr.counts);
                QCOMPARE(again.metrics.sumErr2, fresh.metrics.sumErr2);
                if (oldSize == std::size_t(t.numel()))
                    QVERIFY2(old.dequant.size() != oldSize || old.dequant.empty(), fmt);  // taken over, not copied
            }
        }
    }

    void nonFiniteExcludedAndCounted()
    {
        Tensor t = randomTensor({8, 64}, Distribution::Normal, 8);
        const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
        t.data[3] = nan;
        t.data[70] = inf;
        t.data[71] = -inf;
        for (int range : {0, 1, 2, 3}) {
            for (auto g : {kTensor, channel(0), group(32)}) {
                const auto r = mustQuantize(t, intSpec(8, Scheme::Asymmetric, g, RangeMethod{RangeKind(range), 99.0}));
                QCOMPARE(r.metrics.nonfinite, std::int64_t(3));
                QCOMPARE(r.metrics.finite, std::int64_t(8 * 64 - 3));
                QVERIFY(std::isfinite(r.metrics.mse));
                QVERIFY(std::isfinite(r.metrics.sqnrDb));
                QVERIFY2(r.metrics.sqnrDb > 15.0, qPrintable(QString::number(r.metrics.sqnrDb)));
                for (float sc : r.scales)
                    QVERIFY(std::isfinite(sc) && sc > 0);
                QVERIFY(std::isnan(r.dequant[3]));
                QCOMPARE(r.dequant[70], inf);
                QVERIFY(!r.warnings.empty());
            }
        }
    }

    void emptyOneAndZeroTensors()
    {
        const Tensor empty({0, 16});
        auto e = quantize(empty.view(), intSpec(4, Scheme::Asymmetric, channel(0)));
        QVERIFY(e.has_value());
        QCOMPARE(e->metrics.elements, std::int64_t(0));
        const Tensor one({1}, {0.75f});
        const auto r1 = mustQuantize(one, intSpec(4, Scheme::Symmetric, kTensor));
        QCOMPARE(r1.dequant[0], 0.75f);
        const auto r1a = mustQuantize(one, intSpec(4, Scheme::Asymmetric, kTensor));
        QVERIFY(std::fabs(r1a.dequant[0] - 0.75f) <= r1a.scales[0] / 2);
        const Tensor zeros({4, 8});
        for (Scheme s : {Scheme::Asymmetric, Scheme::Symmetric}) {
            const auto rz = mustQuantize(zeros, intSpec(4, s, channel(0)));
            for (float sc : rz.scales)
                QCOMPARE(sc, 1.0f);  // a zero range gives scale 1 and an exact result
            for (float v : rz.dequant)
                QCOMPARE(v, 0.0f);
            QCOMPARE(rz.metrics.sumErr2, 0.0);
            QVERIFY(std::isinf(rz.metrics.sqnrDb));
        }
        // A constant segment is exact at the top of the grid.
        const Tensor c({2, 4}, {3, 3, 3, 3, -2, -2, -2, -2});
        const auto rc = mustQuantize(c, intSpec(8, Scheme::Symmetric, channel(0)));
        for (int i = 0; i < 8; ++i)
            QCOMPARE(rc.dequant[i], c.data[i]);
    }

    void invalidSpecsAreErrors_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("gkind");
        QTest::addColumn<int>("axis");
        QTest::addColumn<int>("groupSize");
        QTest::addColumn<double>("percentile");
        QTest::addRow("bits 1") << 1 << 0 << 0 << 0 << 99.0;
        QTest::addRow("bits 17") << 17 << 0 << 0 << 0 << 99.0;
        QTest::addRow("axis 2") << 4 << 1 << 2 << 0 << 99.0;
        QTest::addRow("axis -3") << 4 << 1 << -3 << 0 << 99.0;
        QTest::addRow("group 48") << 4 << 2 << 0 << 48 << 99.0;
        QTest::addRow("group 0") << 4 << 2 << 0 << 0 << 99.0;
        QTest::addRow("group -8") << 4 << 2 << 0 << -8 << 99.0;
        QTest::addRow("percentile 0") << 4 << 0 << 0 << 0 << 0.0;
        QTest::addRow("percentile 100.5") << 4 << 0 << 0 << 0 << 100.5;
        QTest::addRow("percentile nan") << 4 << 0 << 0 << 0 << std::numeric_limits<double>::quiet_NaN();
    }
    void invalidSpecsAreErrors()
    {
        QFETCH(int, bits);
        QFETCH(int, gkind);
        QFETCH(int, axis);
        QFETCH(int, groupSize);
        QFETCH(double, percentile);
        const Tensor t = randomTensor({8, 64}, Distribution::Normal, 2);
        QuantSpec s = intSpec(bits, Scheme::Asymmetric, Granularity{GranularityKind(gkind), axis, groupSize},
                              RangeMethod{RangeKind::Percentile, percentile});
        auto r = quantize(t.view(), s);
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::InvalidSpec);
        QVERIFY(!r.error().message.empty());
    }

    void cancellation()
    {
        const Tensor t = randomTensor({512, 1024}, Distribution::Normal, 2);
        const QuantSpec mse = intSpec(4, Scheme::Asymmetric, channel(0), RangeMethod{RangeKind::Mse});
        // Only the calling thread polls the callback. On one thread it polls before every chunk, so a
        // request after the third poll stops the run part-way, before all work is reported done.
        const int before = omp_get_max_threads();
        omp_set_num_threads(1);
        TaskContext ctx;
        int calls = 0;
        ctx.isCancelled = [&] { return ++calls > 3; };
        std::int64_t lastDone = -1;
        ctx.reportProgress = [&](std::int64_t done, std::int64_t) { lastDone = done; };
        auto r = quantize(t.view(), mse, {}, ctx);
        omp_set_num_threads(before);
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::Cancelled);
        QVERIFY2(lastDone < t.numel(), qPrintable(QString::number(lastDone)));
        // With several threads another thread may take every chunk, but the caller polls once more
        // after the parallel region, so any request made after the start is honoured.
        TaskContext late;
        int lateCalls = 0;
        late.isCancelled = [&] { return ++lateCalls > 1; };
        auto r2 = quantize(t.view(), mse, {}, late);
        QVERIFY(!r2.has_value());
        QCOMPARE(r2.error().code, ErrorCode::Cancelled);
        // Progress is reported on a complete run and ends at the total.
        TaskContext ok;
        std::int64_t done = 0, total = 0;
        int reports = 0;
        ok.reportProgress = [&](std::int64_t d, std::int64_t tt) { done = d, total = tt, ++reports; };
        QVERIFY(quantize(t.view(), intSpec(4, Scheme::Asymmetric, channel(0)), {}, ok).has_value());
        QCOMPARE(done, total);
        // Callbacks run only on the calling thread, so a run of two work units may report just once
        // (at the end); never more often than about every 1 % of the work.
        QVERIFY2(reports >= 1 && reports <= 101, qPrintable(QString::number(reports)));
    }

    void histogramsSumToFinite()
    {
        Tensor t = randomTensor({64, 64}, Distribution::StudentT3, 12);
        t.data[5] = std::numeric_limits<float>::quiet_NaN();
        QuantOptions o;
        o.histogramBins = 64;
        const auto r = mustQuantize(t, intSpec(4, Scheme::Asymmetric, channel(0)), o);
        QCOMPARE(r.histX.total(), std::int64_t(64 * 64 - 1));
        QCOMPARE(r.histX.nonfinite, std::int64_t(1));
        QCOMPARE(r.histX.below + r.histX.above, std::int64_t(0));
        QCOMPARE(r.histErr.total(), std::int64_t(64 * 64 - 1));
        QVERIFY(r.histErr.hi >= r.metrics.maxAbsError * 0.999);
    }
};

QTEST_APPLESS_MAIN(TestIntQuant)
#include "tst_int_quant.moc"
