// GGUF block formats: exact block sizes and bits per weight, hand-built blocks decoded to
// hand-computed values, fast kernels equal to their references, requantization, importance
// weights, accuracy bars on seeded data, bad shapes.

#include "core/base/dtype.h"
#include "core/base/random.h"
#include "core/formats/block_layouts.h"
#include "core/formats/gguf_formats.h"
#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <QtTest>

#include <cmath>
#include <cstring>

using namespace ql;

namespace {

QuantResult mustQuantize(const Tensor& t, const QuantSpec& s, QuantOptions o = {})
{
    auto r = quantize(t.view(), s, o);
    if (!r)
        qFatal("quantize failed: %s", r.error().toString().c_str());
    return std::move(r).value();
}

const Format kGguf[] = {Format::Q8_0, Format::Q4_0, Format::Q4_1, Format::Q5_0, Format::Q5_1, Format::IQ4_NL,
                        Format::Q2_K, Format::Q3_K, Format::Q4_K, Format::Q5_K, Format::Q6_K};

std::vector<float> decode(Format f, const void* blk, int nBlocks = 1)
{
    const FormatTraits& t = formatTraits(f);
    std::vector<float> y(static_cast<std::size_t>(t.blockSize * nBlocks));
    t.decodeBlocks(static_cast<const std::uint8_t*>(blk), nBlocks, y.data());
    return y;
}

// A test tensor with the awkward blocks: zeros, a constant block, a single outlier, tiny values.
Tensor awkwardTensor(int rows, int cols, Distribution d, std::uint64_t seed)
{
    Tensor t = randomTensor({rows, cols}, d, seed);
    for (int i = 0; i < 256; ++i) {
        t.data[i] = 0.0f;                        // a zero super-block
        t.data[cols + i] = 0.75f;                // a constant super-block
        t.data[2 * cols + i] = i == 17 ? 40.0f : 0.01f * float(i % 7);  // one outlier
        t.data[3 * cols + i] = 1e-30f * float(i);                      // tiny values
    }
    return t;
}

} // namespace

class TestFormatsGguf : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void blockSizesAndBitsPerWeight()
    {
        const struct {
            Format f;
            std::int64_t block, bytes;
            double bpw;
        } rows[] = {{Format::Q8_0, 32, 34, 8.5},      {Format::Q4_0, 32, 18, 4.5},    {Format::Q4_1, 32, 20, 5.0},
                    {Format::Q5_0, 32, 22, 5.5},      {Format::Q5_1, 32, 24, 6.0},    {Format::IQ4_NL, 32, 18, 4.5},
                    {Format::Q2_K, 256, 84, 2.625},   {Format::Q3_K, 256, 110, 3.4375}, {Format::Q4_K, 256, 144, 4.5},
                    {Format::Q5_K, 256, 176, 5.5},    {Format::Q6_K, 256, 210, 6.5625}};
        for (const auto& r : rows) {
            const FormatTraits& t = formatTraits(r.f);
            QCOMPARE(t.blockSize, r.block);
            QCOMPARE(t.blockBytes, r.bytes);
            QCOMPARE(bitsPerWeight(defaultSpec(r.f), Shape{4, 1024}), r.bpw);
            QCOMPARE(rowKernels(r.f)->blockBytes, r.bytes);
            const QuantResult q = mustQuantize(randomTensor({2, 512}, Distribution::Normal, 1), defaultSpec(r.f));
            QCOMPARE(std::int64_t(q.blocks.size()), 1024 / r.block * r.bytes);
            QCOMPARE(q.storageBytes, 1024 / r.block * r.bytes);
        }
    }

    void handBuiltLegacyBlocks()
    {
        {  // Q8_0: d = 0.5, q = j − 16
            BlockQ8_0 b{};
            b.d = floatToHalf(0.5f);
            for (int j = 0; j < 32; ++j)
                b.qs[j] = std::int8_t(j - 16);
            const auto y = decode(Format::Q8_0, &b);
            for (int j = 0; j < 32; ++j)
                QCOMPARE(y[j], 0.5f * float(j - 16));
        }
        {  // Q4_0: d = 2, low nibble j, high nibble 15 − j
            BlockQ4_0 b{};
            b.d = floatToHalf(2.0f);
            for (int j = 0; j < 16; ++j)
                b.qs[j] = std::uint8_t(j | ((15 - j) << 4));
            const auto y = decode(Format::Q4_0, &b);
            for (int j = 0; j < 16; ++j) {
                QCOMPARE(y[j], 2.0f * float(j - 8));
                QCOMPARE(y[j + 16], 2.0f * float(7 - j));
            }
        }
        {  // Q4_1: d = 0.25, m = −3
            BlockQ4_1 b{};
            b.d = floatToHalf(0.25f);
            b.m = floatToHalf(-3.0f);
            for (int j = 0; j < 16; ++j)
                b.qs[j] = std::uint8_t(j | (j << 4));
            const auto y = decode(Format::Q4_1, &b);
            QCOMPARE(y[0], -3.0f);
            QCOMPARE(y[5], -3.0f + 1.25f);
            QCOMPARE(y[31], -3.0f + 0.25f * 15.0f);
        }
        {  // Q5_0: element 3 has its high bit (bit 3 of qh), element 20 too (bit 20)
            BlockQ5_0 b{};
            b.d = floatToHalf(1.0f);
            const std::uint32_t qh = (1u << 3) | (1u << 20);
            std::memcpy(b.qh, &qh, 4);
            for (int j = 0; j < 16; ++j)
                b.qs[j] = std::uint8_t(0x5 | (0xA << 4));
            const auto y = decode(Format::Q5_0, &b);
            QCOMPARE(y[0], 5.0f - 16.0f);
            QCOMPARE(y[3], 21.0f - 16.0f);
            QCOMPARE(y[16], 10.0f - 16.0f);
            QCOMPARE(y[20], 26.0f - 16.0f);
        }
        {  // Q5_1: d = 0.5, m = 1, element 31 = 31
            BlockQ5_1 b{};
            b.d = floatToHalf(0.5f);
            b.m = floatToHalf(1.0f);
            const std::uint32_t qh = 1u << 31;
            std::memcpy(b.qh, &qh, 4);
            b.qs[15] = 0xF0;
            const auto y = decode(Format::Q5_1, &b);
            QCOMPARE(y[31], 1.0f + 0.5f * 31.0f);
            QCOMPARE(y[15], 1.0f);
        }
        {  // IQ4_NL: d = 0.5, indices j → table value
            BlockIq4Nl b{};
            b.d = floatToHalf(0.5f);
            for (int j = 0; j < 16; ++j)
                b.qs[j] = std::uint8_t(j | ((15 - j) << 4));
            const auto y = decode(Format::IQ4_NL, &b);
            QCOMPARE(y[0], -63.5f);
            QCOMPARE(y[8], 0.5f);
            QCOMPARE(y[16], 56.5f);
        }
    }

    void handBuiltKQuantBlocks()
    {
        {  // Q4_K: d = 1, dmin = 0.5, sub-block j has scale j + 1 and min 2j, code (i % 16)
            BlockQ4K b{};
            b.d = floatToHalf(1.0f);
            b.dmin = floatToHalf(0.5f);
            int sc[8], mn[8];
            for (int j = 0; j < 8; ++j)
                sc[j] = j + 1, mn[j] = 2 * j + (j == 7 ? 40 : 0);  // one 6-bit value above 31
            for (int j = 0; j < 4; ++j) {
                b.scales[j] = std::uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
                b.scales[j + 4] = std::uint8_t(mn[j] | ((mn[j + 4] >> 4) << 6));
                b.scales[j + 8] = std::uint8_t((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
            }
            for (int q = 0; q < 4; ++q)
                for (int l = 0; l < 32; ++l)
                    b.qs[32 * q + l] = std::uint8_t((l % 16) | (((l + 32) % 16) << 4));
            const auto y = decode(Format::Q4_K, &b);
            for (int i = 0; i < 256; ++i) {
                const int j = i / 32;
                QCOMPARE(y[i], float(sc[j]) * float(i % 16) - 0.5f * float(mn[j]));
            }
        }
        {  // Q6_K: d = 0.25, scales k − 8, code of element i = (i % 64) − 32
            BlockQ6K b{};
            b.d = floatToHalf(0.25f);
            for (int k = 0; k < 16; ++k)
                b.scales[k] = std::int8_t(k - 8);
            std::uint8_t L[256];
            for (int i = 0; i < 256; ++i)
                L[i] = std::uint8_t(i % 64);
            for (int h = 0; h < 2; ++h)
                for (int l = 0; l < 32; ++l) {
                    const std::uint8_t* e = L + 128 * h + l;
                    b.ql[64 * h + l] = std::uint8_t((e[0] & 0xF) | ((e[64] & 0xF) << 4));
                    b.ql[64 * h + l + 32] = std::uint8_t((e[32] & 0xF) | ((e[96] & 0xF) << 4));
                    b.qh[32 * h + l] = std::uint8_t((e[0] >> 4) | ((e[32] >> 4) << 2) | ((e[64] >> 4) << 4) |
                                                    ((e[96] >> 4) << 6));
                }
            const auto y = decode(Format::Q6_K, &b);
            for (int i = 0; i < 256; ++i)
                QCOMPARE(y[i], 0.25f * float(i / 16 - 8) * float(i % 64 - 32));
        }
        {  // Q2_K: d = 1, dmin = 1, scale/min of sub-block k = (k % 4 + 1, k % 3), code of i = (i / 32) % 4
            BlockQ2K b{};
            b.d = floatToHalf(1.0f);
            b.dmin = floatToHalf(1.0f);
            for (int k = 0; k < 16; ++k)
                b.scales[k] = std::uint8_t((k % 4 + 1) | ((k % 3) << 4));
            for (int h = 0; h < 2; ++h)
                for (int l = 0; l < 32; ++l)
                    b.qs[32 * h + l] = std::uint8_t(0 | (1 << 2) | (2 << 4) | (3 << 6));
            const auto y = decode(Format::Q2_K, &b);
            for (int i = 0; i < 256; ++i) {
                const int k = i / 16;
                QCOMPARE(y[i], float(k % 4 + 1) * float((i % 128) / 32) - float(k % 3));
            }
        }
        {  // Q3_K: d = 0.5, 6-bit scales s_k = 32 + (k − 8) · 3; code of i = (i % 8) − 4
            BlockQ3K b{};
            b.d = floatToHalf(0.5f);
            int s[16];
            for (int k = 0; k < 16; ++k)
                s[k] = 32 + (k - 8) * 3;
            for (int k = 0; k < 16; ++k) {
                if (k < 8)
                    b.scales[k] |= std::uint8_t(s[k] & 0xF);
                else
                    b.scales[k - 8] |= std::uint8_t((s[k] & 0xF) << 4);
                b.scales[8 + k % 4] |= std::uint8_t(((s[k] >> 4) & 3) << (2 * (k / 4)));
            }
            for (int i = 0; i < 256; ++i) {
                const int q = i % 8;  // stored 3-bit value, decoded value q − 4
                if (q >= 4)
                    b.hmask[i % 32] |= std::uint8_t(1u << (i / 32));
                const int low = q & 3;
                b.qs[32 * (i / 128) + i % 32] |= std::uint8_t(low << (2 * ((i % 128) / 32)));
            }
            const auto y = decode(Format::Q3_K, &b);
            for (int i = 0; i < 256; ++i)
                QCOMPARE(y[i], 0.5f * float(s[i / 16] - 32) * float(i % 8 - 4));
        }
    }

    void decodeFastEqualsRef()
    {
        Rng rng(77);
        for (Format f : kGguf) {
            const RowKernels* k = rowKernels(f);
            QVERIFY(k);
            const int nb = 64;
            std::vector<std::uint8_t> bytes(static_cast<std::size_t>(nb * k->blockBytes));
            for (auto& b : bytes)
                b = std::uint8_t(rng.next());
            // Keep the fp16 fields finite: rewrite them with random moderate values.
            const FormatTraits& t = formatTraits(f);
            std::vector<float> a(static_cast<std::size_t>(nb * k->blockSize)), b(a.size());
            for (int blk = 0; blk < nb; ++blk) {
                std::uint8_t* p = bytes.data() + blk * k->blockBytes;
                const std::uint16_t h1 = floatToHalf(float(rng.uniform() - 0.5)), h2 = floatToHalf(float(rng.uniform()));
                std::size_t off = 0;
                if (f == Format::Q2_K)
                    off = offsetof(BlockQ2K, d);
                else if (f == Format::Q3_K)
                    off = offsetof(BlockQ3K, d);
                else if (f == Format::Q6_K)
                    off = offsetof(BlockQ6K, d);
                std::memcpy(p + off, &h1, 2);
                if (f == Format::Q4_1 || f == Format::Q5_1 || f == Format::Q4_K || f == Format::Q5_K || f == Format::Q2_K)
                    std::memcpy(p + off + 2, &h2, 2);
            }
            k->decode(bytes.data(), nb, a.data());
            k->decodeRef(bytes.data(), nb, b.data());
            QVERIFY2(std::memcmp(a.data(), b.data(), a.size() * 4) == 0, t.name.data());
        }
    }

    void encodeFastEqualsRef()
    {
        for (Distribution d : {Distribution::Normal, Distribution::StudentT3}) {
            const Tensor t = awkwardTensor(16, 1024, d, 5);
            std::vector<float> imp(1024);
            Rng rng(3);
            for (auto& w : imp)
                w = float(0.1 + rng.uniform() * rng.uniform() * 10.0);
            for (Format f : kGguf) {
                const RowKernels* k = rowKernels(f);
                for (bool weighted : {false, true}) {
                    std::vector<std::uint8_t> a(static_cast<std::size_t>(t.numel() / k->blockSize * k->blockBytes));
                    std::vector<std::uint8_t> b(a.size());
                    for (int row = 0; row < 16; ++row) {
                        const std::size_t off = std::size_t(row) * 1024 / k->blockSize * k->blockBytes;
                        k->encode(t.data.data() + row * 1024, weighted ? imp.data() : nullptr, 1024, a.data() + off);
                        k->encodeRef(t.data.data() + row * 1024, weighted ? imp.data() : nullptr, 1024, b.data() + off);
                    }
                    QVERIFY2(a == b, qPrintable(QString::fromLatin1(formatTraits(f).name.data()) +
                                                (weighted ? QStringLiteral(" weighted") : QString())));
                }
            }
        }
    }

    // Clipping in block formats: an element more than half a step beyond its sub-block's extreme
    // level is clipped, and its error is the clipping part of the MSE.
    void blockFormatsCountClipping()
    {
        // Q4_0: the block's largest magnitude is −1, so d = 1/8 and the codes reach +7/8 at most;
        // 0.99 lies 0.115 above it, more than half a step (1/16): clipped. 0.9 is within.
        Tensor t({1, 32});
        for (int i = 0; i < 32; ++i)
            t.data[std::size_t(i)] = 0.02f * float(i % 7) - 0.06f;
        t.data[0] = -1.0f;
        t.data[5] = 0.99f;
        t.data[9] = 0.9f;
        QuantResult r = mustQuantize(t, defaultSpec(Format::Q4_0));
        QCOMPARE(r.metrics.clipped, std::int64_t(1));
        QVERIFY(r.metrics.clipMse > 0.0);
        QVERIFY(std::fabs(r.metrics.clipMse + r.metrics.roundMse - r.metrics.mse) < 1e-12);
        // The error of the clipped element is the clipping part (here the refit moved d slightly).
        const double e5 = double(t.data[5]) - double(r.dequant[5]);
        QVERIFY(std::fabs(r.metrics.clipMse * 32.0 - e5 * e5) < 1e-9);
        QCOMPARE(r.ranges.size(), std::size_t(1));
        QVERIFY(r.ranges[0].hi < 0.99f && r.ranges[0].hi > 0.9f);

        // MXFP4: amax 7.9 gives the power-of-two scale 1 (7.9 / 4 floored), levels up to 6; 7.5
        // and 7.9 are more than half the top gap (2) above 6, 6.8 is not.
        Tensor m({1, 32});
        for (int i = 0; i < 32; ++i)
            m.data[std::size_t(i)] = 0.5f * float(i % 5);
        m.data[3] = 7.9f;
        m.data[4] = 7.5f;
        m.data[6] = 6.8f;
        r = mustQuantize(m, defaultSpec(Format::MXFP4));
        QCOMPARE(r.dequant[3], 6.0f);
        QCOMPARE(r.metrics.clipped, std::int64_t(2));

        // Values already on a block grid are not clipped, in every block format; on heavy-tailed
        // data the K-quants' clipped searches do clip.
        const Tensor tt = randomTensor({16, 512}, Distribution::StudentT3, 21);
        for (Format f : kGguf) {
            const QuantResult a = mustQuantize(tt, defaultSpec(f));
            QVERIFY(std::fabs(a.metrics.clipMse + a.metrics.roundMse - a.metrics.mse) <= 1e-12 * a.metrics.mse + 1e-300);
            Tensor again(tt.shape);
            again.data = a.dequant;
            const QuantResult b = mustQuantize(again, defaultSpec(f));
            // (A K-quant's search may pick a different, clipping, fit of its own output: a few values.)
            const std::int64_t allowed = formatTraits(f).blockSize == 256 ? a.metrics.elements / 500 : 0;
            QVERIFY2(b.metrics.clipped <= allowed, qPrintable(QString("%1 %2").arg(formatTraits(f).name.data()).arg(b.metrics.clipped)));
            if (f == Format::Q2_K || f == Format::Q3_K || f == Format::Q4_K)
                QVERIFY2(a.metrics.clipped > 0, formatTraits(f).name.data());
        }
    }

    void awkwardBlocks()
    {
        const Tensor t = awkwardTensor(4, 512, Distribution::Normal, 8);
        for (Format f : kGguf) {
            const QuantResult r = mustQuantize(t, defaultSpec(f));
            for (int i = 0; i < 256; ++i) {
                QCOMPARE(r.dequant[i], 0.0f);                                          // zeros stay zero
                QVERIFY2(std::fabs(r.dequant[512 + i] - 0.75f) < 0.02f, formatTraits(f).name.data());  // constant
            }
            QVERIFY(std::fabs(r.dequant[2 * 512 + 17] - 40.0f) < 0.5f);  // the outlier survives
            for (float v : r.dequant)
                QVERIFY(std::isfinite(v));
        }
    }

    void quantizeAgreesWithDecodeBlocks()
    {
        const Tensor t = randomTensor({8, 512}, Distribution::StudentT3, 13);
        for (Format f : kGguf) {
            const QuantResult r = mustQuantize(t, defaultSpec(f));
            const FormatTraits* row = formatFromGgufType(formatTraits(f).ggufType);
            QVERIFY(row);
            std::vector<float> y(static_cast<std::size_t>(t.numel()));
            row->decodeBlocks(r.blocks.data(), t.numel() / row->blockSize, y.data());
            QVERIFY2(y == r.dequant, row->name.data());
            QCOMPARE(std::int64_t(r.codes.size()), t.numel());
        }
    }

    // encode ∘ decode ∘ encode: re-encoding the decoded values gives the same blocks.
    void requantizeIsIdentity()
    {
        const Tensor t = randomTensor({8, 1024}, Distribution::StudentT3, 17);
        for (Format f : kGguf) {
            const QuantResult a = mustQuantize(t, defaultSpec(f));
            const QuantResult b = mustQuantize(Tensor(t.shape, a.dequant), defaultSpec(f));
            // Every format is a fixed point: the round-to-nearest ones by construction, the searched
            // ones (IQ4_NL, the K-quants) keep input that already lies on their grid.
            QVERIFY2(a.blocks == b.blocks, formatTraits(f).name.data());
            QVERIFY2(a.codes == b.codes, formatTraits(f).name.data());
            QVERIFY2(b.metrics.sqnrDb > a.metrics.sqnrDb + 6.0, formatTraits(f).name.data());
        }
    }

    // The same with importance weights: the weighted searches keep input that already lies on
    // their grid, so re-encoding decoded blocks gives the same bytes.
    void weightedRequantizeIsIdentity()
    {
        for (Distribution dist : {Distribution::Normal, Distribution::StudentT3}) {
            const Tensor t = randomTensor({16, 1024}, dist, 23);
            std::vector<float> imp(1024);
            Rng rng(9);
            for (auto& w : imp)
                w = float(0.1 + 3.0 * rng.uniform());
            for (Format f : kGguf) {
                const RowKernels* k = rowKernels(f);
                const std::int64_t rowBytes = 1024 / k->blockSize * k->blockBytes;
                std::vector<std::uint8_t> a(static_cast<std::size_t>(16 * rowBytes)), b(a.size());
                std::vector<float> y(static_cast<std::size_t>(t.numel()));
                for (int row = 0; row < 16; ++row)
                    k->encode(t.data.data() + row * 1024, imp.data(), 1024, a.data() + row * rowBytes);
                k->decode(a.data(), 16 * 1024 / k->blockSize, y.data());
                for (int row = 0; row < 16; ++row)
                    k->encode(y.data() + row * 1024, imp.data(), 1024, b.data() + row * rowBytes);
                QVERIFY2(a == b, formatTraits(f).name.data());
            }
        }
    }

    void accuracyBars_data()
    {
        QTest::addColumn<int>("format");
        QTest::addColumn<double>("normal");
        QTest::addColumn<double>("studentT");
        // ggml reference quantizers on 4096×4096 (issue #3); full-size checks are in the benchmark.
        QTest::newRow("q8_0") << int(Format::Q8_0) << 45.43 << 41.37;
        QTest::newRow("q6_k") << int(Format::Q6_K) << 35.02 << 31.86;
        QTest::newRow("q5_k") << int(Format::Q5_K) << 28.85 << 26.60;
        QTest::newRow("q5_1") << int(Format::Q5_1) << 28.44 << 26.28;
        QTest::newRow("q5_0") << int(Format::Q5_0) << 27.39 << 23.67;
        QTest::newRow("q4_k") << int(Format::Q4_K) << 22.93 << 20.74;
        QTest::newRow("iq4_nl") << int(Format::IQ4_NL) << 22.37 << 19.91;
        QTest::newRow("q4_1") << int(Format::Q4_1) << 22.13 << 19.97;
        QTest::newRow("q4_0") << int(Format::Q4_0) << 21.32 << 17.94;
        QTest::newRow("q3_k") << int(Format::Q3_K) << 16.43 << 14.52;
        QTest::newRow("q2_k") << int(Format::Q2_K) << 10.56 << 9.15;
    }

    void accuracyBars()
    {
        QFETCH(int, format);
        QFETCH(double, normal);
        QFETCH(double, studentT);
        static const Tensor n = randomTensor({256, 4096}, Distribution::Normal, 42);
        static const Tensor s = randomTensor({256, 4096}, Distribution::StudentT3, 42);
        QuantOptions o;
        o.keepCodes = false;
        const QuantSpec spec = defaultSpec(Format(format));
        const QuantResult rn = mustQuantize(n, spec, o);
        const QuantResult rs = mustQuantize(s, spec, o);
        // 256 rows sample the tails less well than 4096 (Student-t above all): loose margins here.
        QVERIFY2(rn.metrics.sqnrDb >= normal - 0.1, qPrintable(QString::number(rn.metrics.sqnrDb)));
        QVERIFY2(rs.metrics.sqnrDb >= studentT - 0.4, qPrintable(QString::number(rs.metrics.sqnrDb)));
    }

    void importanceWeights()
    {
        const Tensor t = randomTensor({16, 1024}, Distribution::Normal, 23);
        QuantOptions o;
        Rng rng(5);
        o.importance.resize(1024);
        for (auto& w : o.importance)
            w = rng.uniform() < 0.1 ? 20.0f : 0.2f;
        auto weightedErr = [&](const QuantResult& r) {
            double e = 0;
            for (std::int64_t i = 0; i < t.numel(); ++i) {
                const double d = double(t.data[i]) - r.dequant[i];
                e += o.importance[i % 1024] * d * d;
            }
            return e;
        };
        for (Format f : {Format::Q4_0, Format::Q4_1, Format::Q5_0, Format::Q5_1, Format::IQ4_NL, Format::Q2_K,
                         Format::Q3_K, Format::Q4_K, Format::Q5_K, Format::Q6_K}) {
            QVERIFY(formatTraits(f).has(kParamImportance));
            const QuantResult plain = mustQuantize(t, defaultSpec(f));
            const QuantResult weighted = mustQuantize(t, defaultSpec(f), o);
            QVERIFY2(weightedErr(weighted) < weightedErr(plain), formatTraits(f).name.data());
        }
        QuantOptions bad;
        bad.importance.assign(100, 1.0f);
        auto r = quantize(t.view(), defaultSpec(Format::Q4_K), bad);
        QVERIFY(!r);
        QCOMPARE(int(r.error().code), int(ErrorCode::ShapeMismatch));
    }

    void badRowLengths()
    {
        const Tensor t = randomTensor({4, 100}, Distribution::Normal, 1);
        for (Format f : {Format::Q4_K, Format::Q8_0, Format::MXFP4, Format::NVFP4}) {
            auto r = quantize(t.view(), defaultSpec(f));
            QVERIFY(!r);
            QCOMPARE(int(r.error().code), int(ErrorCode::InvalidSpec));
            const QString msg = QString::fromStdString(r.error().message);
            QVERIFY2(msg.contains(QStringLiteral("100")), qPrintable(msg));
            QVERIFY2(msg.contains(QString::number(formatTraits(f).blockSize)), qPrintable(msg));
        }
        // Rows that are a multiple of the block size work for any row count and rank.
        const Tensor odd = randomTensor({3, 256}, Distribution::Normal, 1);
        QVERIFY(quantize(odd.view(), defaultSpec(Format::Q4_K)).has_value());
        const Tensor flat({512}, std::vector<float>(512, 0.5f));
        QVERIFY(quantize(flat.view(), defaultSpec(Format::Q6_K)).has_value());
        const Tensor scalar(Shape{}, std::vector<float>{1.0f});
        QVERIFY(!quantize(scalar.view(), defaultSpec(Format::Q8_0)).has_value());
    }
};

QTEST_APPLESS_MAIN(TestFormatsGguf)
#include "tst_formats_gguf.moc"
