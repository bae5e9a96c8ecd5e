// Element formats of the zoo: FP16/BF16, FP8, FP4 (MXFP4/NVFP4), NF4, pow2, k-means, binary, ternary.
// Exact conversions of every code, fast kernels against their references, published tables,
// hand-computed values, bits per weight, thread independence and edge cases.

#include "core/base/dtype.h"
#include "core/base/random.h"
#include "core/formats/block_layouts.h"
#include "core/formats/codebook_formats.h"
#include "core/formats/float_formats.h"
#include "core/formats/format_driver.h"
#include "core/formats/gguf_formats.h"
#include "core/formats/normal_float.h"
#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <QtTest>

#include <omp.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

using namespace ql;

namespace {

QuantResult mustQuantize(const Tensor& t, const QuantSpec& s, QuantOptions o = {})
{
    auto r = quantize(t.view(), s, o);
    if (!r)
        qFatal("quantize failed: %s", r.error().toString().c_str());
    return std::move(r).value();
}

QuantSpec specOf(Format f)
{
    return defaultSpec(f);
}

// Values that stress conversions: ties, subnormals, overflow, signs.
std::vector<float> stressValues()
{
    std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 448.0f, 449.0f, 464.0f, 465.0f, 480.0f, 1e6f, -1e6f, 57344.0f,
                            61440.0f, 65504.0f, 65519.0f, 65520.0f, 1e-3f, 1.0f / 512, 1.5f / 512, 2.5f / 512,
                            1.0f / 1024, 3.0f / 1024, 1.0f / 65536, 1.5f / 65536, 1e-10f, 0.015625f, 0.0146484375f,
                            std::numeric_limits<float>::denorm_min(), 3.4e38f};
    Rng rng(11);
    for (int i = 0; i < 20000; ++i) {
        const double e = rng.uniform() * 40.0 - 25.0;
        v.push_back(float((rng.uniform() < 0.5 ? -1 : 1) * std::exp2(e)));
    }
    // Exact midpoints between consecutive FP8 values.
    for (int c = 0; c < 0x7E; ++c) {
        v.push_back(0.5f * (fp8E4M3ToFloat(std::uint8_t(c)) + fp8E4M3ToFloat(std::uint8_t(c + 1))));
        v.push_back(0.5f * (fp8E5M2ToFloat(std::uint8_t(c)) + fp8E5M2ToFloat(std::uint8_t(c + 1))));
    }
    return v;
}

} // namespace

class TestFormats : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void everyFormatHasARow()
    {
        const char* names[] = {"f16",  "bf16", "fp8_e4m3", "fp8_e5m2", "mxfp4", "nvfp4", "nf4",    "pow2",
                               "kmeans", "binary", "ternary", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
                               "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl"};
        for (const char* n : names) {
            auto f = formatFromName(n);
            QVERIFY2(f.has_value(), n);
            const FormatTraits& t = formatTraits(*f);
            QCOMPARE(QString::fromUtf8(t.name.data(), int(t.name.size())), QString::fromUtf8(n));
            QVERIFY(t.quantize && t.bitsPerWeight);
        }
        // GGUF type ids.
        const std::pair<int, Format> gguf[] = {{1, Format::F16},   {2, Format::Q4_0},  {3, Format::Q4_1},
                                               {6, Format::Q5_0},  {7, Format::Q5_1},  {8, Format::Q8_0},
                                               {10, Format::Q2_K}, {11, Format::Q3_K}, {12, Format::Q4_K},
                                               {13, Format::Q5_K}, {14, Format::Q6_K}, {20, Format::IQ4_NL},
                                               {30, Format::BF16}, {0, Format::F32}};
        for (auto [id, f] : gguf) {
            const FormatTraits* t = formatFromGgufType(id);
            QVERIFY(t != nullptr);
            QCOMPARE(int(t->format), int(f));
            if (id != 0)
                QVERIFY2(t->decodeBlocks != nullptr, t->name.data());
        }
    }

    void fp8EveryCodeRoundTrips()
    {
        for (int c = 0; c < 256; ++c) {
            const auto code = std::uint8_t(c);
            const float v = fp8E4M3ToFloat(code);
            std::uint8_t fast;
            encodeFp8E4M3(&v, 1, 1.0f, &fast);
            if (std::isnan(v)) {
                QCOMPARE(int(floatToFp8E4M3Ref(v) & 0x7F), 0x7F);
                QCOMPARE(int(fast & 0x7F), 0x7F);
            } else {
                QCOMPARE(int(floatToFp8E4M3Ref(v)), c);
                QCOMPARE(int(fast), c);
            }
            const float w = fp8E5M2ToFloat(code);
            encodeFp8E5M2(&w, 1, 1.0f, &fast);
            if (std::isnan(w)) {
                QVERIFY((floatToFp8E5M2Ref(w) & 0x7F) > 0x7C);
                QVERIFY((fast & 0x7F) > 0x7C);
            } else {
                QCOMPARE(int(floatToFp8E5M2Ref(w)), c);
                QCOMPARE(int(fast), c);
            }
        }
        // The same through the 16-lane path: all 256 values in one call.
        std::vector<float> e4(256), e5(256);
        std::vector<std::uint8_t> c4(256), c5(256);
        for (int c = 0; c < 256; ++c) {
            e4[std::size_t(c)] = fp8E4M3ToFloat(std::uint8_t(c));
            e5[std::size_t(c)] = fp8E5M2ToFloat(std::uint8_t(c));
        }
        encodeFp8E4M3(e4.data(), 256, 1.0f, c4.data());
        encodeFp8E5M2(e5.data(), 256, 1.0f, c5.data());
        for (int c = 0; c < 256; ++c) {
            QCOMPARE(int(c4[std::size_t(c)] & 0x7F), std::isnan(e4[std::size_t(c)]) ? 0x7F : c & 0x7F);
            if (!std::isnan(e4[std::size_t(c)]))
                QCOMPARE(int(c4[std::size_t(c)]), c);
            if (std::isnan(e5[std::size_t(c)]))
                QVERIFY((c5[std::size_t(c)] & 0x7F) > 0x7C);
            else
                QCOMPARE(int(c5[std::size_t(c)]), c);
        }
        // Saturation and specials.
        QCOMPARE(int(floatToFp8E4M3Ref(1e9f)), 0x7E);
        QCOMPARE(int(floatToFp8E4M3Ref(-INFINITY)), 0xFE);
        QCOMPARE(int(floatToFp8E4M3Ref(464.0f)), 0x7E);  // tie between 448 and (NaN slot) saturates
        QCOMPARE(int(floatToFp8E5M2Ref(1e9f)), 0x7B);
        QCOMPARE(int(floatToFp8E5M2Ref(INFINITY)), 0x7C);
        QCOMPARE(fp8E4M3ToFloat(floatToFp8E4M3Ref(0.0146484375f)), 0.015625f);  // 7.5 subnormal steps: tie to even (8)
    }

    void fp8FastEqualsRef()
    {
        const std::vector<float> v = stressValues();
        std::vector<std::uint8_t> a(v.size()), b(v.size());
        for (float scale : {1.0f, 0.37f, 1e-3f}) {
            encodeFp8E4M3(v.data(), std::int64_t(v.size()), scale, a.data());
            encodeFp8E4M3Ref(v.data(), std::int64_t(v.size()), scale, b.data());
            QVERIFY(a == b);
            encodeFp8E5M2(v.data(), std::int64_t(v.size()), scale, a.data());
            encodeFp8E5M2Ref(v.data(), std::int64_t(v.size()), scale, b.data());
            QVERIFY(a == b);
        }
    }

    void f16Bf16SpecialsRoundTrip()
    {
        const float specials[] = {0.0f,   -0.0f,     INFINITY, -INFINITY, 65504.0f, -65504.0f, 6.1035156e-05f,
                                  5.9604645e-08f, 1.0f, -2.5f, 3.3895314e38f, 9.1835e-41f};
        for (float v : specials) {
            std::uint16_t h, hr;
            encodeF16(&v, 1, &h);
            encodeF16Ref(&v, 1, &hr);
            QCOMPARE(h, hr);
            if (std::fabs(v) <= 65504.0f && (v == 0.0f || std::fabs(v) >= 5.9604645e-08f)) {
                float back;
                decodeF16(&h, 1, &back);
                QCOMPARE(std::bit_cast<std::uint32_t>(back), std::bit_cast<std::uint32_t>(v));
            }
            std::uint16_t b, br;
            encodeBf16(&v, 1, &b);
            encodeBf16Ref(&v, 1, &br);
            QCOMPARE(b, br);
        }
        // NaN stays NaN; every half and every bf16 bit pattern round-trips through float.
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::uint16_t h;
        encodeF16(&nan, 1, &h);
        QVERIFY(std::isnan(halfToFloat(h)));
        encodeBf16(&nan, 1, &h);
        QVERIFY(std::isnan(bf16ToFloat(h)));
        for (std::uint32_t c = 0; c < 65536; ++c) {
            const auto code = std::uint16_t(c);
            const float f = halfToFloat(code), g = bf16ToFloat(code);
            std::uint16_t e1, e2;
            encodeF16(&f, 1, &e1);
            encodeBf16(&g, 1, &e2);
            if (std::isnan(f))
                QVERIFY(std::isnan(halfToFloat(e1)));
            else
                QCOMPARE(e1, code);
            if (std::isnan(g))
                QVERIFY(std::isnan(bf16ToFloat(e2)));
            else
                QCOMPARE(e2, code);
        }
        // Overflow to Inf (documented) is reported.
        const Tensor t({1, 4}, {1.0f, 70000.0f, -2.0f, 3.0f});
        const QuantResult r = mustQuantize(t, specOf(Format::F16));
        QVERIFY(std::isinf(r.dequant[1]));
        QVERIFY(!r.warnings.empty());
    }

    void f16Bf16FastEqualsRef()
    {
        const std::vector<float> v = stressValues();
        std::vector<std::uint16_t> a(v.size()), b(v.size());
        encodeF16(v.data(), std::int64_t(v.size()), a.data());
        encodeF16Ref(v.data(), std::int64_t(v.size()), b.data());
        QVERIFY(a == b);
        encodeBf16(v.data(), std::int64_t(v.size()), a.data());
        encodeBf16Ref(v.data(), std::int64_t(v.size()), b.data());
        QVERIFY(a == b);
    }

    // The element decoders switch to streaming stores for long spans (after a head that aligns
    // them): every code, at every offset of a misaligned long output, decodes as the scalar
    // conversions do. Each code pattern repeats through the span, so the head, the streamed body
    // and the tail all see all of them.
    void elementDecodersMatchScalarOnLongSpans()
    {
        const std::int64_t n = (std::int64_t(1) << 17) + 37;
        std::vector<float> out(static_cast<std::size_t>(n) + 1);
        float* y = out.data() + 1;  // 4 bytes past an allocation's alignment
        auto same = [](float a, float b) {
            const bool nan = std::isnan(a) && std::isnan(b);
            return nan || std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
        };
        std::vector<std::uint16_t> h(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i)
            h[std::size_t(i)] = std::uint16_t(i * 40503);  // every 16-bit pattern within 65536 steps
        decodeF16(h.data(), n, y);
        for (std::int64_t i = 0; i < n; ++i)
            QVERIFY2(same(y[i], halfToFloat(h[std::size_t(i)])), qPrintable(QString("f16 at %1").arg(i)));
        decodeBf16(h.data(), n, y);
        for (std::int64_t i = 0; i < n; ++i)
            QVERIFY2(same(y[i], bf16ToFloat(h[std::size_t(i)])), qPrintable(QString("bf16 at %1").arg(i)));
        std::vector<std::uint8_t> c(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i)
            c[std::size_t(i)] = std::uint8_t(i * 7 + i / 256);
        const float scale = 0.37f;
        decodeFp8E4M3(c.data(), n, scale, y);
        for (std::int64_t i = 0; i < n; ++i)
            QVERIFY2(same(y[i], scale * fp8E4M3ToFloat(c[std::size_t(i)])), qPrintable(QString("e4m3 at %1").arg(i)));
        decodeFp8E5M2(c.data(), n, scale, y);
        for (std::int64_t i = 0; i < n; ++i)
            QVERIFY2(same(y[i], scale * fp8E5M2ToFloat(c[std::size_t(i)])), qPrintable(QString("e5m2 at %1").arg(i)));
        for (auto& v : c)
            v &= 15;
        decodeNf4(c.data(), n, scale, y);
        for (std::int64_t i = 0; i < n; ++i)
            QVERIFY2(same(y[i], scale * kNf4Levels[c[std::size_t(i)]]), qPrintable(QString("nf4 at %1").arg(i)));
        // The NF4 encoder's x̂ is the decode of its codes.
        std::vector<float> x(static_cast<std::size_t>(n)), xh(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i)
            x[std::size_t(i)] = std::sin(0.001f * float(i)) * 1.3f;
        std::vector<std::uint8_t> codes(static_cast<std::size_t>(n)), codes2(static_cast<std::size_t>(n));
        encodeNf4(x.data(), n, 1.3f, codes.data(), xh.data());
        encodeNf4(x.data(), n, 1.3f, codes2.data(), nullptr);
        QVERIFY(codes == codes2);
        decodeNf4(codes.data(), n, 1.3f, y);
        QVERIFY(std::memcmp(y, xh.data(), std::size_t(n) * sizeof(float)) == 0);
    }

    // The block-scale conversions (one F16C instruction where the build has it) give the bits of
    // dtype.h's software conversions: every half decodes alike, and every half, every midpoint
    // between neighbours and the stress values encode alike.
    void blockScaleF16ConversionsMatchSoftware()
    {
        std::vector<float> v = stressValues();
        for (int h = 0; h < 65536; ++h) {
            const float a = halfToFloat(std::uint16_t(h)), b = fromF16(std::uint16_t(h));
            if (std::isnan(a)) {
                QVERIFY2(std::isnan(b), qPrintable(QString("half 0x%1").arg(h, 4, 16, QChar('0'))));
                continue;
            }
            QVERIFY2(std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b),
                     qPrintable(QString("half 0x%1").arg(h, 4, 16, QChar('0'))));
            v.push_back(a);
            if ((h & 0x7FFF) < 0x7C00) {  // the midpoint towards the next magnitude
                const float next = halfToFloat(std::uint16_t(h + 1));
                if (std::isfinite(next))
                    v.push_back(float(0.5 * (double(a) + double(next))));
            }
        }
        v.push_back(std::numeric_limits<float>::quiet_NaN());
        v.push_back(-std::numeric_limits<float>::infinity());
        for (float f : v)
            QVERIFY2(toF16(f) == floatToHalf(f), qPrintable(QString::number(double(f), 'g', 10)));
    }

    void publishedTables()
    {
        const double nf4[16] = {-1.0,
                                -0.6961928009986877,
                                -0.5250730514526367,
                                -0.39491748809814453,
                                -0.28444138169288635,
                                -0.18477343022823334,
                                -0.09105003625154495,
                                0.0,
                                0.07958029955625534,
                                0.16093020141124725,
                                0.24611230194568634,
                                0.33791524171829224,
                                0.44070982933044434,
                                0.5626170039176941,
                                0.7229568362236023,
                                1.0};
        for (int k = 0; k < 16; ++k)
            QCOMPARE(kNf4Levels[k], float(nf4[k]));
        const int iq4[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
        for (int k = 0; k < 16; ++k)
            QCOMPARE(int(kIq4NlValues[k]), iq4[k]);
        const float e2m1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
        for (int k = 0; k < 8; ++k) {
            QCOMPARE(e2m1Value(k), e2m1[k]);
            QCOMPARE(e2m1Value(k | 8), -e2m1[k]);
            QCOMPARE(e2m1CodeRef(e2m1[k]), k);
        }
        // E2M1 ties go to the even code.
        QCOMPARE(e2m1CodeRef(0.25f), 0);
        QCOMPARE(e2m1CodeRef(0.75f), 2);
        QCOMPARE(e2m1CodeRef(2.5f), 4);
        QCOMPARE(e2m1CodeRef(5.0f), 6);
        QCOMPARE(e2m1CodeRef(100.0f), 7);
    }

    void nf4FastEqualsRefAndHandValues()
    {
        const Tensor t = randomTensor({16, 256}, Distribution::StudentT3, 5);
        std::vector<std::uint8_t> a(t.data.size()), b(t.data.size());
        std::vector<float> xa(t.data.size()), xb(t.data.size());
        encodeNf4(t.data.data(), t.numel(), 2.5f, a.data(), xa.data());
        encodeNf4Ref(t.data.data(), t.numel(), 2.5f, b.data(), xb.data());
        QVERIFY(a == b);
        QVERIFY(xa == xb);
        // One group of 4 by hand: absmax 2 → x/2 = {1, −0.5, 0.1, 0.3}.
        QuantSpec s = specOf(Format::NF4);
        s.granularity = Granularity{GranularityKind::Group, 0, 4};
        const Tensor h({1, 4}, {2.0f, -1.0f, 0.2f, 0.6f});
        const QuantResult r = mustQuantize(h, s);
        QCOMPARE(r.scales[0], 2.0f);
        QCOMPARE(r.codes[0], 15);
        QCOMPARE(r.codes[1], 2);   // −0.5 is nearest −0.52507
        QCOMPARE(r.codes[2], 8);   // 0.1 is nearest 0.07958
        QCOMPARE(r.codes[3], 11);  // 0.3 is nearest 0.33792
        QCOMPARE(r.dequant[1], 2.0f * kNf4Levels[2]);
        // Default group 64; double quantization through int8 scale storage.
        QCOMPARE(specOf(Format::NF4).granularity.groupSize, std::int64_t(64));
        QuantSpec dq = specOf(Format::NF4);
        dq.scaleStorage = ScaleStorage::Int8;
        QCOMPARE(bitsPerWeight(dq, Shape{64, 4096}), 4.0 + (8.0 + 32.0 / 256.0) / 64.0);
        QCOMPARE(bitsPerWeight(specOf(Format::NF4), Shape{64, 4096}), 4.5);
        const Tensor x = randomTensor({64, 4096}, Distribution::Normal, 9);
        const QuantResult plain = mustQuantize(x, specOf(Format::NF4));
        const QuantResult dqr = mustQuantize(x, dq);
        QVERIFY(dqr.metrics.sqnrDb > plain.metrics.sqnrDb - 0.2);
        QVERIFY(dqr.scales != plain.scales);
        // QLoRA's double quantization: the dynamic map, and the constants through it.
        const std::vector<float>& map = dynamicMap8();
        QCOMPARE(map.size(), std::size_t(256));
        QVERIFY(std::is_sorted(map.begin(), map.end()));
        QCOMPARE(map.back(), 1.0f);
        QCOMPARE(map.front(), float(-(1.0 - 0.9 / 128.0)));  // −0.99296875: no −1
        QCOMPARE(*std::upper_bound(map.begin(), map.end(), 0.0f), float(0.55e-6));
        QCOMPARE(std::count(map.begin(), map.end(), 0.0f), 1);
        std::vector<float> sc = plain.scales;
        quantizeScalesQlora(sc);
        QCOMPARE(dqr.scales, sc);
        // By hand: {1, 3} has mean 2, so ±1 around it; +1 is in the map, −1 becomes −0.99296875.
        std::vector<float> two{1.0f, 3.0f};
        quantizeScalesQlora(two);
        QCOMPARE(two[0], 2.0f - float(1.0 - 0.9 / 128.0));
        QCOMPARE(two[1], 3.0f);
        // Error bound: each constant moves by at most half the widest map gap (0.9/64, next to ±1)
        // times its block's absmax of c − mean.
        double mean = 0.0;
        for (float v : plain.scales)
            mean += v;
        mean /= double(plain.scales.size());
        for (std::size_t b = 0; b < sc.size(); b += 256) {
            double amax = 0.0;
            for (std::size_t i = b; i < std::min(sc.size(), b + 256); ++i)
                amax = std::max(amax, std::fabs(plain.scales[i] - mean));
            for (std::size_t i = b; i < std::min(sc.size(), b + 256); ++i)
                QVERIFY(std::fabs(double(sc[i]) - plain.scales[i]) <= amax * 0.9 / 128.0 * (1 + 1e-5) + 1e-7);
        }
    }

    void mxfp4AndNvfp4()
    {
        // Hand-built MXFP4 block: e = 128 (scale 2), nibbles 0x3 (1.5) and 0xF (−6).
        BlockMxfp4 blk{};
        blk.e = 128;
        blk.qs[0] = 0x3 | (0xF << 4);
        float y[32];
        formatTraits(Format::MXFP4).decodeBlocks(reinterpret_cast<const std::uint8_t*>(&blk), 1, y);
        QCOMPARE(y[0], 3.0f);
        QCOMPARE(y[16], -12.0f);
        QCOMPARE(y[1], 0.0f);
        // Encode: amax 5 → shared exponent floor(log2 5) − 2 = 0, scale 1; 5 → 4 (tie to even), 0.7 → 0.5.
        std::vector<float> x(32, 0.0f);
        x[0] = 5.0f;
        x[1] = 0.7f;
        x[2] = -2.6f;
        const Tensor t({1, 32}, x);
        const QuantResult r = mustQuantize(t, specOf(Format::MXFP4));
        QCOMPARE(int(r.blocks[0]), 127);
        QCOMPARE(r.dequant[0], 4.0f);
        QCOMPARE(r.dequant[1], 0.5f);
        QCOMPARE(r.dequant[2], -3.0f);
        QCOMPARE(bitsPerWeight(specOf(Format::MXFP4), Shape{4, 64}), 4.25);
        QCOMPARE(r.blocks.size(), std::size_t(17));
        // NVFP4: blocks of 16 with an E4M3 scale; fast equals reference.
        const Tensor n = randomTensor({32, 256}, Distribution::StudentT3, 2);
        const float g = nvfp4TensorScale(n.data.data(), n.numel());
        std::vector<std::uint8_t> a(n.numel() / 16 * 9), b(a.size());
        encodeNvfp4(n.data.data(), n.numel(), g, a.data());
        encodeNvfp4Ref(n.data.data(), n.numel(), g, b.data());
        QVERIFY(a == b);
        // A row that ends in a partial batch of 16 blocks (21 blocks).
        std::vector<std::uint8_t> c(21 * 9), d(c.size());
        encodeNvfp4(n.data.data() + 16, 21 * 16, g, c.data());
        encodeNvfp4Ref(n.data.data() + 16, 21 * 16, g, d.data());
        QVERIFY(c == d);
        // Values on and next to the E2M1 rounding thresholds of their block scale: blocks whose
        // largest value 6·c makes the scale exactly the E4M3 value c (tensor scale 1), across c from
        // 2^−9 to 448, and the same blocks scaled down to tiny values.
        {
            const float ties[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f};
            std::vector<float> tx;
            for (int code = 1; code <= 0x7E; ++code)
                for (float tensor : {1.0f, 0x1p-100f}) {
                    const float c = fp8E4M3ToFloat(std::uint8_t(code)) * tensor;
                    for (int rep = 0; rep < 3; ++rep) {
                        tx.push_back(6.0f * c);
                        for (int i = 1; i < 16; ++i) {
                            const float t = ties[(i + rep * 5 + code) % 13] * c;
                            const float v = rep == 0 ? t : std::nextafter(t, rep == 1 ? INFINITY : 0.0f);
                            tx.push_back(i % 2 ? -v : v);
                        }
                    }
                }
            std::vector<std::uint8_t> ta(tx.size() / 16 * 9), tb(ta.size());
            for (float tg : {1.0f, 0x1p-100f}) {
                encodeNvfp4(tx.data(), std::int64_t(tx.size()), tg, ta.data());
                encodeNvfp4Ref(tx.data(), std::int64_t(tx.size()), tg, tb.data());
                QVERIFY(ta == tb);
            }
        }
        // Decoders: fast equals reference on the odd block count too.
        std::vector<float> ya(21 * 16), yb(ya.size());
        decodeNvfp4(c.data(), 21, g, ya.data());
        decodeNvfp4Ref(c.data(), 21, g, yb.data());
        QVERIFY(ya == yb);
        // MXFP4 fast equals reference, with a zero block, a subnormal block and a partial batch.
        const RowKernels* mk = rowKernels(Format::MXFP4);
        QVERIFY(mk);
        std::vector<float> mx(n.data.begin(), n.data.begin() + 21 * 32);
        std::fill(mx.begin() + 32, mx.begin() + 64, 0.0f);
        for (int i = 64; i < 96; ++i)
            mx[std::size_t(i)] = float(i - 80) * 1e-41f;
        std::vector<std::uint8_t> e(21 * 17), f(e.size());
        mk->encode(mx.data(), nullptr, std::int64_t(mx.size()), e.data());
        mk->encodeRef(mx.data(), nullptr, std::int64_t(mx.size()), f.data());
        QVERIFY(e == f);
        // Values within 40 ulps of every E2M1 level and rounding threshold, both signs, in blocks
        // whose scale is 1 (amax 7.9): the fast code computation equals the nearest-level search.
        std::vector<float> vals, near;
        for (float t : {0.25f, 0.5f, 0.75f, 1.0f, 1.25f, 1.5f, 1.75f, 2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 5.0f, 6.0f, 7.0f}) {
            float v = t;
            for (int i = 0; i < 40; ++i)
                v = std::nextafter(v, 0.0f);
            for (int i = 0; i < 80; ++i, v = std::nextafter(v, 100.0f)) {
                vals.push_back(v);
                vals.push_back(-v);
            }
        }
        for (std::size_t i = 0; i < vals.size(); ++i) {
            if (near.size() % 32 == 0)
                near.push_back(7.9f);
            near.push_back(vals[i]);
        }
        near.resize((near.size() + 31) / 32 * 32, 0.0f);
        std::vector<std::uint8_t> g1(near.size() / 32 * 17), g2(g1.size());
        mk->encode(near.data(), nullptr, std::int64_t(near.size()), g1.data());
        mk->encodeRef(near.data(), nullptr, std::int64_t(near.size()), g2.data());
        QVERIFY(g1 == g2);
        std::vector<float> d1(near.size()), d2(near.size());
        mk->decode(g1.data(), std::int64_t(near.size() / 32), d1.data());
        mk->decodeRef(g1.data(), std::int64_t(near.size() / 32), d2.data());
        QVERIFY(d1 == d2);
        const QuantResult nr = mustQuantize(n, specOf(Format::NVFP4));
        QVERIFY(nr.metrics.sqnrDb > 15.0);
        QCOMPARE(bitsPerWeight(specOf(Format::NVFP4), Shape{32, 256}), 4.5 + 32.0 / 8192.0);
    }

    void fp8WithScales()
    {
        const Tensor t = randomTensor({64, 512}, Distribution::StudentT3, 4);
        QuantSpec s = specOf(Format::F8E4M3);
        QCOMPARE(int(s.granularity.kind), int(GranularityKind::Channel));
        const QuantResult r = mustQuantize(t, s);
        QCOMPARE(r.scales.size(), std::size_t(64));
        // Per channel: the channel absmax maps to 448 exactly (up to the scale rounding).
        float amax = 0.0f;
        for (int i = 0; i < 512; ++i)
            amax = std::max(amax, std::fabs(t.data[i]));
        QCOMPARE(r.scales[0], amax / 448.0f);
        QVERIFY(r.metrics.sqnrDb > 28.0);
        QCOMPARE(bitsPerWeight(s, t.shape), 8.0 + 32.0 / 512.0);
        s.range = RangeMethod{RangeKind::Mse};
        const QuantResult m = mustQuantize(t, s);
        QVERIFY(m.metrics.sqnrDb >= r.metrics.sqnrDb - 0.05);
        s.format = Format::F8E5M2;
        s.granularity = Granularity{};
        s.range = RangeMethod{};
        const QuantResult e = mustQuantize(t, s);
        QCOMPARE(e.scales.size(), std::size_t(1));
        QVERIFY(e.metrics.sqnrDb > 22.0);
    }

    void pow2Codes()
    {
        for (int bits : {2, 3, 4, 6}) {
            Rng rng(bits);
            for (int i = 0; i < 5000; ++i) {
                const float v = float((rng.uniform() - 0.5) * 3.0 * std::exp2(-12.0 * rng.uniform()));
                QCOMPARE(pow2Code(v, 1.25f, bits), pow2CodeRef(v, 1.25f, bits));
            }
        }
        // 4 bits: levels 0, ±2^−6 … ±1 (times the scale); 0.3 → 0.25, 0.4 → 0.5 (midpoint 0.375).
        QCOMPARE(pow2Value(pow2Code(0.3f, 1.0f, 4), 1.0f, 4), 0.25f);
        QCOMPARE(pow2Value(pow2Code(0.4f, 1.0f, 4), 1.0f, 4), 0.5f);
        QCOMPARE(pow2Value(pow2Code(-3.0f, 1.0f, 4), 1.0f, 4), -1.0f);
        QCOMPARE(pow2Code(0.007f, 1.0f, 4), 0);  // below half of 2^−6
        const Tensor t = randomTensor({8, 256}, Distribution::Normal, 3);
        const QuantResult r = mustQuantize(t, specOf(Format::Pow2));
        QCOMPARE(gridLevels(r, 0).size(), std::size_t(15));
    }

    void kmeansCodebooks()
    {
        // Two clusters: the 1-bit codebook is their means.
        const Tensor two({1, 8}, {1.0f, 1.2f, 0.8f, 1.0f, -3.0f, -3.2f, -2.8f, -3.0f});
        QuantSpec s = specOf(Format::KMeans);
        s.bits = 1;
        s.granularity = Granularity{};
        const QuantResult r = mustQuantize(two, s);
        QCOMPARE(r.scales.size(), std::size_t(2));
        QVERIFY(std::fabs(r.scales[0] + 3.0f) < 1e-6f);
        QVERIFY(std::fabs(r.scales[1] - 1.0f) < 1e-6f);
        QCOMPARE(r.codes[4], 0);
        QCOMPARE(r.codes[0], 1);
        // Fast (sorted prefix sums) equals plain Lloyd.
        const Tensor t = randomTensor({1, 3000}, Distribution::StudentT3, 8);
        const auto fast = kmeansCodebook(t.data.data(), t.numel(), 16, false);
        const auto ref = kmeansCodebookRef(t.data.data(), t.numel(), 16);
        for (int k = 0; k < 16; ++k)
            QVERIFY2(std::fabs(fast[k] - ref[k]) <= 1e-5f * (1.0f + std::fabs(ref[k])), qPrintable(QString::number(k)));
        // Histogram path on a large segment stays close to exact Lloyd in error.
        const Tensor big = randomTensor({1, 1 << 17}, Distribution::Normal, 12);
        const auto h = kmeansCodebook(big.data.data(), big.numel(), 16, true);
        QuantSpec ks = specOf(Format::KMeans);
        ks.granularity = Granularity{};
        const QuantResult kr = mustQuantize(big, ks);
        QVERIFY(kr.metrics.sqnrDb > 20.0);  // Lloyd-Max 4-bit on a Gaussian: 20.2 dB
        QCOMPARE(kr.scales.size(), std::size_t(16));
        QCOMPARE(kr.scales[3], h[3]);
        QCOMPARE(bitsPerWeight(ks, big.shape), 4.0 + 16.0 * 32.0 / double(1 << 17));
    }

    void binaryTernaryByHand()
    {
        const Tensor t({2, 4}, {1.0f, -2.0f, 3.0f, -0.2f, 0.5f, 0.5f, -0.5f, 0.0f});
        QuantSpec b = specOf(Format::Binary);
        const QuantResult rb = mustQuantize(t, b);
        // Row 0: α = 6.2 / 4 = 1.55; row 1: α = 1.5 / 4 = 0.375; sign(0) = +1.
        QCOMPARE(rb.scales[0], 1.55f);
        QCOMPARE(rb.dequant[1], -1.55f);
        QCOMPARE(rb.dequant[7], 0.375f);
        QCOMPARE(rb.codes[7], 1);
        QuantSpec te = specOf(Format::Ternary);
        const QuantResult rt = mustQuantize(t, te);
        // Row 0: Δ = 0.7 · 1.55 = 1.085 → keep −2, 3: α = 2.5. Row 1: Δ = 0.2625 → keep ±0.5: α = 0.5.
        QCOMPARE(rt.scales[0], 2.5f);
        QCOMPARE(rt.dequant[0], 0.0f);
        QCOMPARE(rt.dequant[1], -2.5f);
        QCOMPARE(rt.dequant[3], 0.0f);
        QCOMPARE(rt.dequant[6], -0.5f);
        QCOMPARE(rt.codes[7], 0);
        QCOMPARE(rt.metrics.clipped, std::int64_t(0));
        QCOMPARE(bitsPerWeight(te, t.shape), 1.6 + 32.0 / 4.0);
    }

    void nonFinitePassThrough()
    {
        std::vector<float> v(2 * 64);
        for (std::size_t i = 0; i < v.size(); ++i)
            v[i] = std::sin(float(i));
        v[5] = std::numeric_limits<float>::quiet_NaN();
        v[70] = INFINITY;
        const Tensor t({2, 64}, v);
        for (Format f : {Format::F8E4M3, Format::NF4, Format::Pow2, Format::KMeans, Format::Binary, Format::Ternary,
                         Format::MXFP4, Format::NVFP4, Format::F16, Format::BF16}) {
            const QuantResult r = mustQuantize(t, specOf(f));
            QVERIFY2(std::isnan(r.dequant[5]), formatTraits(f).name.data());
            QVERIFY2(std::isinf(r.dequant[70]), formatTraits(f).name.data());
            QCOMPARE(r.metrics.nonfinite, std::int64_t(2));
            QVERIFY(std::isfinite(r.metrics.sqnrDb));
            QVERIFY(!r.warnings.empty());
        }
    }

    // encode ∘ decode ∘ encode: quantizing x̂ again gives the same codes.
    void requantizeIsIdentity()
    {
        const Tensor t = randomTensor({8, 512}, Distribution::StudentT3, 21);
        for (Format f : {Format::F16, Format::BF16, Format::F8E4M3, Format::F8E5M2, Format::MXFP4, Format::NVFP4,
                         Format::NF4, Format::Pow2, Format::Binary}) {
            const QuantResult a = mustQuantize(t, specOf(f));
            const Tensor back(t.shape, a.dequant);
            const QuantResult b = mustQuantize(back, specOf(f));
            QVERIFY2(a.codes == b.codes, formatTraits(f).name.data());
            QVERIFY2(a.dequant == b.dequant, formatTraits(f).name.data());
        }
        // Ternary refits α and Δ on x̂ and keeps the codes.
        const QuantResult ta = mustQuantize(t, specOf(Format::Ternary));
        const QuantResult tb = mustQuantize(Tensor(t.shape, ta.dequant), specOf(Format::Ternary));
        QVERIFY(ta.codes == tb.codes);
        // k-means: x̂ holds at most 16 distinct values per codebook, which become the codebook.
        const QuantResult ka = mustQuantize(t, specOf(Format::KMeans));
        const QuantResult kb = mustQuantize(Tensor(t.shape, ka.dequant), specOf(Format::KMeans));
        QVERIFY(ka.codes == kb.codes);
        QVERIFY(ka.dequant == kb.dequant);
        // The same on one segment above the exact-Lloyd limit (the histogram path).
        const Tensor big = randomTensor({1, 70000}, Distribution::Normal, 22);
        QuantSpec one = specOf(Format::KMeans);
        one.granularity = Granularity{};
        const QuantResult ba = mustQuantize(big, one);
        const QuantResult bb = mustQuantize(Tensor(big.shape, ba.dequant), one);
        QVERIFY(ba.codes == bb.codes);
    }

    void sameBytesWithOneAndTwoThreads()
    {
        const Tensor t = randomTensor({64, 1024}, Distribution::StudentT3, 31);
        const int saved = omp_get_max_threads();
        for (const FormatTraits& ft : allFormats()) {
            if (ft.format == Format::Int || ft.format == Format::F32)
                continue;
            QuantSpec s = specOf(ft.format);
            if (ft.format == Format::F8E4M3 || ft.format == Format::Pow2 || ft.format == Format::KMeans)
                s.granularity = Granularity{};  // one big segment: split across threads
            omp_set_num_threads(1);
            const QuantResult a = mustQuantize(t, s);
            omp_set_num_threads(2);
            const QuantResult b = mustQuantize(t, s);
            QVERIFY2(a.blocks == b.blocks, ft.name.data());
            QVERIFY2(a.codes == b.codes, ft.name.data());
            QVERIFY2(a.dequant == b.dequant, ft.name.data());
            QVERIFY2(a.scales == b.scales, ft.name.data());
            QCOMPARE(a.metrics.sumErr2, b.metrics.sumErr2);
        }
        omp_set_num_threads(saved);
    }

    void levelsForPlots()
    {
        const Tensor t = randomTensor({4, 256}, Distribution::Normal, 1);
        for (const FormatTraits& ft : allFormats()) {
            if (ft.format == Format::F32 || ft.format == Format::F16 || ft.format == Format::BF16)
                continue;
            const QuantResult r = mustQuantize(t, specOf(ft.format));
            const auto lv = gridLevels(r, 0);
            QVERIFY2(!lv.empty(), ft.name.data());
            QVERIFY2(std::is_sorted(lv.begin(), lv.end()), ft.name.data());
            QVERIFY(gridLevels(r, 1 << 30).empty());
        }
    }
};

QTEST_APPLESS_MAIN(TestFormats)
#include "tst_formats.moc"
