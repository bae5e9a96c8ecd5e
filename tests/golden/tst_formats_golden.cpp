// Golden outputs of every format of the zoo on small seeded inputs: the block bytes (or codes) and x̂
// of each format are hashed and compared with tests/data/golden/formats_golden.json. Regenerate
// (and review the diff) with QL_REGEN_GOLDEN=1. Each case also runs with 1 and 2 OpenMP threads.

#include "core/base/random.h"
#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <QtTest>

#include <nlohmann/json.hpp>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

using namespace ql;

namespace {

std::string fnv1a(const void* data, std::size_t n)
{
    std::uint64_t h = 1469598103934665603ull;
    const auto* p = static_cast<const std::uint8_t*>(data);
    for (std::size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

const char* kGoldenPath = QL_TEST_DATA_DIR "/golden/formats_golden.json";

struct Case {
    std::string name;
    QuantSpec spec;
};

std::vector<Case> cases()
{
    std::vector<Case> out;
    for (const FormatTraits& t : allFormats()) {
        if (t.format == Format::Int || t.format == Format::F32)
            continue;
        out.push_back({std::string(t.name), defaultSpec(t.format)});
    }
    QuantSpec nf4dq = defaultSpec(Format::NF4);
    nf4dq.scaleStorage = ScaleStorage::Int8;
    out.push_back({"nf4_double_quant", nf4dq});
    QuantSpec fp8mse = defaultSpec(Format::F8E4M3);
    fp8mse.range = RangeMethod{RangeKind::Mse};
    out.push_back({"fp8_e4m3_mse", fp8mse});
    QuantSpec km2 = defaultSpec(Format::KMeans);
    km2.bits = 2;
    km2.granularity = Granularity{};
    out.push_back({"kmeans2_tensor", km2});
    return out;
}

nlohmann::json runCase(const Case& c, const Tensor& x)
{
    auto r = quantize(x.view(), c.spec);
    if (!r)
        qFatal("%s: %s", c.name.c_str(), r.error().toString().c_str());
    nlohmann::json j;
    if (!r->blocks.empty())
        j["blocks"] = fnv1a(r->blocks.data(), r->blocks.size());
    j["codes"] = fnv1a(r->codes.data(), r->codes.size() * sizeof(std::int32_t));
    j["dequant"] = fnv1a(r->dequant.data(), r->dequant.size() * sizeof(float));
    j["sqnr_db"] = std::round(r->metrics.sqnrDb * 1e4) / 1e4;
    j["bits_per_weight"] = r->bitsPerWeight;
    return j;
}

} // namespace

class TestFormatsGolden : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void frozenOutputs()
    {
        const Tensor x = randomTensor({8, 512}, Distribution::StudentT3, 2024);
        const int saved = omp_get_max_threads();
        nlohmann::json now = nlohmann::json::object();
        for (const Case& c : cases()) {
            omp_set_num_threads(1);
            const nlohmann::json one = runCase(c, x);
            omp_set_num_threads(2);
            const nlohmann::json two = runCase(c, x);
            QVERIFY2(one == two, c.name.c_str());
            now[c.name] = one;
        }
        omp_set_num_threads(saved);
        if (qEnvironmentVariableIntValue("QL_REGEN_GOLDEN") == 1) {
            std::ofstream(kGoldenPath) << now.dump(2) << "\n";
            QWARN("golden outputs regenerated: review the diff of tests/data/golden/formats_golden.json");
            return;
        }
        std::ifstream in(kGoldenPath);
        QVERIFY2(in.good(), "missing golden file (run once with QL_REGEN_GOLDEN=1)");
        const nlohmann::json frozen = nlohmann::json::parse(in);
        for (auto it = now.begin(); it != now.end(); ++it) {
            QVERIFY2(frozen.contains(it.key()), it.key().c_str());
            QVERIFY2(frozen[it.key()] == it.value(),
                     (it.key() + ": " + frozen[it.key()].dump() + " != " + it.value().dump()).c_str());
        }
    }

    // Tier 1 (round-trip error bound): x̂ is within the format's worst-case step of x on N(0,1).
    void roundTripErrorBounds_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<double>("minSqnr");
        const std::pair<const char*, double> rows[] = {
            {"f16", 70},   {"bf16", 50},   {"fp8_e4m3", 28}, {"fp8_e5m2", 22}, {"mxfp4", 17}, {"nvfp4", 19},
            {"nf4", 19.5}, {"pow2", 12},   {"kmeans", 19},   {"binary", 4},    {"ternary", 6.5}, {"q8_0", 45},
            {"q4_0", 21},  {"q4_1", 21.8}, {"q5_0", 27},     {"q5_1", 28},     {"q2_k", 10.5}, {"q3_k", 16.3},
            {"q4_k", 22.9}, {"q5_k", 28.8}, {"q6_k", 35},    {"iq4_nl", 22.2}};
        for (auto [n, s] : rows)
            QTest::newRow(n) << QString::fromLatin1(n) << s;
    }

    void roundTripErrorBounds()
    {
        QFETCH(QString, name);
        QFETCH(double, minSqnr);
        static const Tensor x = randomTensor({64, 4096}, Distribution::Normal, 99);
        const auto f = formatFromName(name.toStdString());
        QVERIFY(f);
        QuantOptions o;
        o.keepCodes = false;
        auto r = quantize(x.view(), defaultSpec(*f), o);
        QVERIFY(r);
        QVERIFY2(r->metrics.sqnrDb >= minSqnr, qPrintable(QString::number(r->metrics.sqnrDb)));
    }
};

QTEST_APPLESS_MAIN(TestFormatsGolden)
#include "tst_formats_golden.moc"
