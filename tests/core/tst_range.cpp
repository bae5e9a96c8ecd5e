// Range methods: hand-computed percentiles, MSE and KL searches, and their payoff on heavy tails.

#include "core/base/random.h"
#include "core/quant/quantize.h"
#include "core/quant/range.h"

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

using namespace ql;

class TestRange : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void minMax()
    {
        std::vector<float> x{1.5f, -2.0f, 0.25f, 7.0f}, work(4);
        const ClipRange r = chooseRange(x.data(), 4, RangeMethod{RangeKind::MinMax}, IntGrid{}, work.data());
        QCOMPARE(r.lo, -2.0f);
        QCOMPARE(r.hi, 7.0f);
    }

    // numpy.percentile(x, p) with linear interpolation, worked by hand on 0..100.
    void percentileTwoSidedAndAbs()
    {
        std::vector<float> x(101), work(101);
        for (int i = 0; i <= 100; ++i)
            x[i] = float((i * 37) % 101) - 50.0f;  // a permutation of −50 … 50
        ClipRange r = chooseRange(x.data(), 101, RangeMethod{RangeKind::Percentile, 90.0}, IntGrid{}, work.data());
        QCOMPARE(r.lo, -40.0f);  // 10th percentile of −50…50
        QCOMPARE(r.hi, 40.0f);
        r = chooseRange(x.data(), 101, RangeMethod{RangeKind::Percentile, 99.5}, IntGrid{}, work.data());
        QVERIFY(std::fabs(r.hi - 49.5f) < 1e-5f);  // pos 99.5 → between 49 and 50
        QVERIFY(std::fabs(r.lo + 49.5f) < 1e-5f);
        // Symmetric: percentile of |x|; |x| has 0 once and 1…50 twice: q(0.9) at pos 90 → 45.
        r = chooseRange(x.data(), 101, RangeMethod{RangeKind::Percentile, 90.0}, IntGrid{8, Scheme::Symmetric},
                        work.data());
        QCOMPARE(r.hi, 45.0f);
        QCOMPARE(r.lo, -45.0f);
        r = chooseRange(x.data(), 101, RangeMethod{RangeKind::Percentile, 100.0}, IntGrid{}, work.data());
        QCOMPARE(r.lo, -50.0f);
        QCOMPARE(r.hi, 50.0f);
    }

    // A few outliers: MSE clipping sacrifices them for resolution in the bulk; min-max cannot.
    void mseClipsAnOutlier()
    {
        std::vector<float> x(4096), work(4096);
        Rng rng(5);
        for (auto& v : x)
            v = float(rng.normal());
        for (int i : {100, 900, 2000, 3000})
            x[i] = 20.0f;
        const IntGrid g{4, Scheme::Symmetric};
        const ClipRange r = chooseRange(x.data(), 4096, RangeMethod{RangeKind::Mse}, g, work.data());
        QVERIFY2(r.hi < 10.0f, qPrintable(QString::number(r.hi)));
        QVERIFY(intClipError(x.data(), 4096, r.lo, r.hi, g) < intClipError(x.data(), 4096, -20.0f, 20.0f, g));
        // The search grid: f = 2^(−k/3 + j/24), i.e. log2(f)·24 is an integer.
        const double f = r.hi / 20.0;
        QVERIFY(std::fabs(std::log2(f) * 24 - std::round(std::log2(f) * 24)) < 1e-3);
        QVERIFY(r.hi > 2.0f);
    }

    // Large inputs take the histogram-and-select percentile; it must give exactly the sorted-copy
    // values (numpy's linear interpolation), with non-finite values, ties and both zeros present.
    void largePercentilesAreExact_data()
    {
        QTest::addColumn<int>("n");
        QTest::newRow("300000 (histogram select)") << 300000;
        QTest::newRow("4096 (tail buffer or sort)") << 4096;
        QTest::newRow("50") << 50;
    }
    void largePercentilesAreExact()
    {
        QFETCH(int, n);
        Tensor t = randomTensor({1, n}, Distribution::StudentT3, 17);
        for (std::size_t i = 0; i < t.data.size(); i += 997 % t.data.size() + 1)
            t.data[i] = 1.25f;  // a heavy tie
        t.data[5] = std::numeric_limits<float>::quiet_NaN();
        t.data[6] = std::numeric_limits<float>::infinity();
        t.data[7] = -std::numeric_limits<float>::infinity();
        t.data[8] = -0.0f;
        t.data[9] = 0.0f;
        std::vector<float> fin;
        for (float v : t.data)
            if (std::isfinite(v))
                fin.push_back(v);
        auto quantile = [](std::vector<float> v, double q) {
            std::sort(v.begin(), v.end());
            const double pos = q * double(v.size() - 1);
            const auto i = static_cast<std::size_t>(std::floor(pos));
            const double frac = pos - double(i);
            if (frac == 0.0 || i + 1 >= v.size())
                return v[i];
            return float(double(v[i]) + frac * (double(v[i + 1]) - double(v[i])));
        };
        std::vector<float> absFin(fin);
        for (auto& v : absFin)
            v = std::fabs(v);
        std::vector<float> work(t.data.size());
        for (double pct : {50.0, 90.0, 98.0, 99.0, 99.5, 99.9, 99.99, 100.0}) {
            const ClipRange a = chooseRange(t.data.data(), t.numel(), RangeMethod{RangeKind::Percentile, pct},
                                            IntGrid{8, Scheme::Asymmetric}, work.data());
            QCOMPARE(a.hi, quantile(fin, pct / 100.0));
            QCOMPARE(a.lo, quantile(fin, 1.0 - pct / 100.0));
            const ClipRange sym = chooseRange(t.data.data(), t.numel(), RangeMethod{RangeKind::Percentile, pct},
                                              IntGrid{8, Scheme::Symmetric}, work.data());
            QCOMPARE(sym.hi, quantile(absFin, pct / 100.0));
        }
    }

    // The early stop of the coarse walk never changes the answer: on a corpus of shapes, bit
    // widths and schemes, the search returns the factor an exhaustive walk of the same grid finds.
    void mseEarlyStopMatchesExhaustiveGrid()
    {
        auto exhaustive = [](const std::function<double(double)>& errAt) {
            double bestF = 1.0, bestErr = errAt(1.0);
            for (int k = 1; k <= 23; ++k) {
                const double f = std::exp2(-k / 3.0), e = errAt(f);
                if (e < bestErr)
                    bestErr = e, bestF = f;
            }
            const double center = bestF;
            for (int j = 7; j >= -7; --j) {
                const double f = center * std::exp2(j / 24.0);
                if (j == 0 || f > 1.0)
                    continue;
                const double e = errAt(f);
                if (e < bestErr || (e == bestErr && f > bestF))
                    bestErr = e, bestF = f;
            }
            return bestF;
        };
        int cases = 0, stoppedEarly = 0;
        for (auto dist : {Distribution::Normal, Distribution::StudentT3, Distribution::Uniform}) {
            for (std::uint64_t seed : {1u, 2u, 3u}) {
                Tensor t = randomTensor({1, 4096}, dist, seed);
                if (seed == 3)
                    for (int i = 0; i < 4096; i += 997)
                        t.data[std::size_t(i)] = 25.0f * (i % 2 ? 1.0f : -1.0f);
                for (int bits : {2, 3, 4, 6, 8})
                    for (auto scheme : {Scheme::Asymmetric, Scheme::Symmetric}) {
                        const IntGrid g{bits, scheme};
                        const FiniteRange fr = finiteRange(t.data.data(), 4096);
                        const float lo = scheme == Scheme::Asymmetric ? std::min(fr.lo, 0.0f) : -std::max(-fr.lo, fr.hi);
                        const float hi = scheme == Scheme::Asymmetric ? std::max(fr.hi, 0.0f) : std::max(-fr.lo, fr.hi);
                        int calls = 0;
                        auto errAt = [&](double f) {
                            ++calls;
                            return intClipError(t.data.data(), 4096, float(f * lo), float(f * hi), g);
                        };
                        const double fast = searchClipFactor(errAt);
                        const int fastCalls = calls;
                        const double full = exhaustive(errAt);
                        QCOMPARE(fast, full);
                        const ClipRange r = mseClipSearch(t.data.data(), 4096, g);
                        QCOMPARE(r.hi, float(fast * hi));
                        ++cases;
                        stoppedEarly += fastCalls < calls - fastCalls;
                    }
            }
        }
        // The stop is not vacuous: most searches end the coarse walk early.
        QVERIFY2(stoppedEarly > cases / 2, qPrintable(QString("%1 of %2").arg(stoppedEarly).arg(cases)));
    }

    // On uniform data at 8 bits nothing should be clipped by MSE or KL.
    void uniformDataNotClipped()
    {
        const Tensor t = randomTensor({1, 1 << 16}, Distribution::Uniform, 3);
        std::vector<float> work(t.data.size());
        for (auto kind : {RangeKind::Mse, RangeKind::Kl}) {
            const ClipRange r =
                chooseRange(t.data.data(), t.numel(), RangeMethod{kind}, IntGrid{8, Scheme::Symmetric}, work.data());
            QVERIFY2(r.hi > 0.97f, qPrintable(QString::number(r.hi)));
        }
    }

    void klOnGaussianPerTensor()
    {
        // TensorRT's KL on N(0,1) at 8 bits clips near 4σ (well inside the ~5σ max of 1M samples).
        const Tensor t = randomTensor({1024, 1024}, Distribution::Normal, 17);
        std::vector<float> work;
        const ClipRange r = chooseRange(t.data.data(), t.numel(), RangeMethod{RangeKind::Kl},
                                        IntGrid{8, Scheme::Symmetric}, work.data());
        QVERIFY2(r.hi > 2.5f && r.hi < 5.0f, qPrintable(QString::number(r.hi)));
        QCOMPARE(r.lo, -r.hi);
    }

    // The acceptance case: Student-t (df = 3) 1024×1024 at 4 bits per channel.
    void heavyTailsMseAndKlBeatMinMax_data()
    {
        QTest::addColumn<int>("scheme");
        QTest::addRow("asymmetric") << int(Scheme::Asymmetric);
        QTest::addRow("symmetric") << int(Scheme::Symmetric);
    }
    void heavyTailsMseAndKlBeatMinMax()
    {
        QFETCH(int, scheme);
        const Tensor t = randomTensor({1024, 1024}, Distribution::StudentT3, 2024);
        auto sqnr = [&](RangeKind kind) {
            QuantSpec s;
            s.bits = 4;
            s.scheme = Scheme(scheme);
            s.granularity = Granularity{GranularityKind::Channel, 0, 0};
            s.range = RangeMethod{kind};
            QuantOptions o;
            o.keepCodes = o.keepDequant = false;
            auto r = quantize(t.view(), s, o);
            if (!r)
                qFatal("%s", r.error().toString().c_str());
            return r->metrics.sqnrDb;
        };
        const double mm = sqnr(RangeKind::MinMax), mse = sqnr(RangeKind::Mse), kl = sqnr(RangeKind::Kl);
        qInfo("min-max %.3f dB, MSE %.3f dB, KL %.3f dB", mm, mse, kl);
        QVERIFY(mse > mm + 0.5);
        QVERIFY(kl > mm + 0.5);
    }
};

QTEST_APPLESS_MAIN(TestRange)
#include "tst_range.moc"
