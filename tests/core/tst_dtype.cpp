// Exact conversions of stored element types to float32.

#include "core/base/dtype.h"

#include <QtTest>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

using namespace ql;

class TestDType : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Every binary16 value survives half → float → half, and matches F16C where available.
    void halfRoundTripsAllCodes()
    {
        for (std::uint32_t h = 0; h < 65536; ++h) {
            const float f = halfToFloat(std::uint16_t(h));
            if (std::isnan(f)) {
                QVERIFY((h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0);
                continue;
            }
            QCOMPARE(floatToHalf(f), std::uint16_t(h));
        }
        QCOMPARE(halfToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
        QCOMPARE(halfToFloat(0x03FF), std::ldexp(1023.0f, -24));  // largest subnormal
        QCOMPARE(halfToFloat(0x7BFF), 65504.0f);
        QCOMPARE(halfToFloat(0x7C00), std::numeric_limits<float>::infinity());
        QCOMPARE(halfToFloat(0xFC00), -std::numeric_limits<float>::infinity());
        QCOMPARE(std::bit_cast<std::uint32_t>(halfToFloat(0x8000)), 0x80000000u);
    }

    void floatToHalfRoundsToNearestEven()
    {
        QCOMPARE(floatToHalf(65519.0f), std::uint16_t(0x7BFF));  // below the halfway point
        QCOMPARE(floatToHalf(65520.0f), std::uint16_t(0x7C00));  // ties to even → Inf
        QCOMPARE(floatToHalf(1.0f + std::ldexp(1.0f, -11)), std::uint16_t(0x3C00));  // tie → even (1.0)
        QCOMPARE(floatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), std::uint16_t(0x3C02));  // tie → even (up)
        QCOMPARE(floatToHalf(std::ldexp(1.0f, -25)), std::uint16_t(0x0000));  // half of the smallest → 0
        QCOMPARE(floatToHalf(std::ldexp(3.0f, -26)), std::uint16_t(0x0001));
        QCOMPARE(floatToHalf(1e-10f), std::uint16_t(0));
        QCOMPARE(floatToHalf(-1e9f), std::uint16_t(0xFC00));
        QVERIFY((floatToHalf(std::numeric_limits<float>::quiet_NaN()) & 0x7FFF) > 0x7C00);
    }

    void bf16()
    {
        QCOMPARE(bf16ToFloat(0x3F80), 1.0f);
        QCOMPARE(bf16ToFloat(0xC000), -2.0f);
        QCOMPARE(floatToBf16(1.0f), std::uint16_t(0x3F80));
        QCOMPARE(floatToBf16(std::bit_cast<float>(0x3F808000u)), std::uint16_t(0x3F80));  // tie → even
        QCOMPARE(floatToBf16(std::bit_cast<float>(0x3F818000u)), std::uint16_t(0x3F82));  // tie → even (up)
        QVERIFY(std::isnan(bf16ToFloat(floatToBf16(std::numeric_limits<float>::quiet_NaN()))));
        for (std::uint32_t b = 0; b < 65536; ++b) {
            const float f = bf16ToFloat(std::uint16_t(b));
            if (!std::isnan(f))
                QCOMPARE(floatToBf16(f), std::uint16_t(b));
        }
    }

    void fp8Tables()
    {
        QCOMPARE(fp8E4M3ToFloat(0x7E), 448.0f);  // largest finite E4M3
        QVERIFY(std::isnan(fp8E4M3ToFloat(0x7F)));
        QVERIFY(std::isnan(fp8E4M3ToFloat(0xFF)));
        QCOMPARE(fp8E4M3ToFloat(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
        QCOMPARE(fp8E4M3ToFloat(0x38), 1.0f);
        QCOMPARE(fp8E4M3ToFloat(0xB8), -1.0f);
        QCOMPARE(fp8E5M2ToFloat(0x7B), 57344.0f);  // largest finite E5M2
        QCOMPARE(fp8E5M2ToFloat(0x7C), std::numeric_limits<float>::infinity());
        QVERIFY(std::isnan(fp8E5M2ToFloat(0x7D)));
        QCOMPARE(fp8E5M2ToFloat(0x01), std::ldexp(1.0f, -16));
        QCOMPARE(fp8E5M2ToFloat(0x3C), 1.0f);
    }

    void convertAllDTypes()
    {
        float out[4];
        const std::int8_t i8[4] = {-128, -1, 0, 127};
        convertToFloat(DType::I8, i8, 4, out);
        QCOMPARE(out[0], -128.0f);
        QCOMPARE(out[3], 127.0f);
        const std::uint8_t u8[4] = {0, 1, 200, 255};
        convertToFloat(DType::U8, u8, 4, out);
        QCOMPARE(out[2], 200.0f);
        const std::int16_t i16[4] = {-32768, 5, 0, 32767};
        convertToFloat(DType::I16, i16, 4, out);
        QCOMPARE(out[0], -32768.0f);
        const std::int32_t i32[4] = {-7, 16777217, 0, 2147483647};
        convertToFloat(DType::I32, i32, 4, out);
        QCOMPARE(out[1], 16777216.0f);  // nearest even above 2^24
        const std::int64_t i64[2] = {-(std::int64_t(1) << 40), 3};
        convertToFloat(DType::I64, i64, 2, out);
        QCOMPARE(out[0], -std::ldexp(1.0f, 40));
        const double f64[4] = {1e300, -1e-300, 0.1, std::numeric_limits<double>::quiet_NaN()};
        convertToFloat(DType::F64, f64, 4, out);
        QCOMPARE(out[0], std::numeric_limits<float>::infinity());
        QCOMPARE(out[1], -0.0f);
        QCOMPARE(out[2], 0.1f);
        QVERIFY(std::isnan(out[3]));
        const std::uint8_t b[4] = {0, 1, 2, 0};
        convertToFloat(DType::Bool, b, 4, out);
        QCOMPARE(out[2], 1.0f);
        // Unaligned F16 source, longer than one vector, matches the scalar conversion.
        std::vector<std::uint8_t> raw(2 * 37 + 1);
        for (std::size_t i = 0; i < raw.size(); ++i)
            raw[i] = std::uint8_t(i * 29 + 3);
        std::vector<float> v(37);
        convertToFloat(DType::F16, raw.data() + 1, 37, v.data());
        for (int i = 0; i < 37; ++i) {
            std::uint16_t h;
            std::memcpy(&h, raw.data() + 1 + 2 * i, 2);
            const float e = halfToFloat(h);
            QVERIFY(std::isnan(e) ? std::isnan(v[i]) : v[i] == e);
        }
        // Big-endian F32.
        const std::uint8_t be[4] = {0x3F, 0x80, 0x00, 0x00};
        convertToFloatBigEndian(DType::F32, be, 1, out);
        QCOMPARE(out[0], 1.0f);
        QCOMPARE(dtypeFromName("F8_E4M3").value(), DType::F8E4M3);
        QVERIFY(!dtypeFromName("F7").has_value());
        QCOMPARE(dtypeSize(DType::BF16), std::size_t(2));
    }
};

QTEST_APPLESS_MAIN(TestDType)
#include "tst_dtype.moc"
