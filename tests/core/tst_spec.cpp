// QuantSpec naming, parsing, JSON round trips, layouts and plans.

#include "core/quant/format_traits.h"
#include "core/quant/layout.h"
#include "core/quant/plan.h"
#include "core/quant/spec.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <algorithm>
#include <set>

using namespace ql;

class TestSpec : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void shortNames()
    {
        QuantSpec s;
        s.bits = 4;
        s.granularity = Granularity{GranularityKind::Group, 0, 128};
        s.range = RangeMethod{RangeKind::Mse};
        QCOMPARE(specShortName(s), std::string("int4 asym g128 mse"));
        s.scheme = Scheme::Symmetric;
        s.granularity = Granularity{GranularityKind::Channel, 1, 0};
        s.range = RangeMethod{RangeKind::Percentile, 99.9};
        QCOMPARE(specShortName(s), std::string("int4 sym ch1 percentile99.9"));
    }

    void jsonRoundTrip()
    {
        QuantSpec s;
        s.bits = 6;
        s.scheme = Scheme::SymmetricFull;
        s.granularity = Granularity{GranularityKind::Group, -1, 64};
        s.range = RangeMethod{RangeKind::Percentile, 99.99};
        s.scaleStorage = ScaleStorage::BF16;
        s.rounding = Rounding::HalfAwayFromZero;
        auto back = specFromJson(specToJson(s));
        QVERIFY(back.has_value());
        QVERIFY(*back == s);
    }

    void jsonErrorsNameThePath()
    {
        auto j = specToJson(QuantSpec{});
        j["granularity"]["size"] = 3;
        auto r = specFromJson(j);
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::InvalidSpec);
        QCOMPARE(r.error().context, std::string("spec.granularity.size"));
        j = specToJson(QuantSpec{});
        j["scheme"] = "diagonal";
        r = specFromJson(j);
        QVERIFY(!r);
        QCOMPARE(r.error().context, std::string("spec.scheme"));
        j = specToJson(QuantSpec{});
        j["bits"] = "four";
        QVERIFY(!specFromJson(j));
        QVERIFY(!specFromJson(nlohmann::json::array()));
    }

    void parseCliForms()
    {
        auto g = parseGranularity("group:128");
        QVERIFY(g && g->kind == GranularityKind::Group && g->groupSize == 128 && g->axis == 0);
        g = parseGranularity("group:32:1");
        QVERIFY(g && g->axis == 1 && g->groupSize == 32);
        g = parseGranularity("channel:-1");
        QVERIFY(g && g->kind == GranularityKind::Channel && g->axis == -1);
        QVERIFY(parseGranularity("tensor").has_value());
        for (const char* bad : {"group", "group:", "group:0", "group:x", "channel:1:2", "tens", "", "group:12a"})
            QVERIFY2(!parseGranularity(bad), bad);
        auto r = parseRangeMethod("percentile:99.9");
        QVERIFY(r && r->kind == RangeKind::Percentile && r->percentile == 99.9);
        QVERIFY(parseRangeMethod("kl") && parseRangeMethod("kl")->kind == RangeKind::Kl);
        QVERIFY(!parseRangeMethod("percentile:abc"));
        QVERIFY(!parseRangeMethod("max"));
    }

    void layouts()
    {
        auto L = makeLayout({6, 8}, Granularity{GranularityKind::Channel, 1, 0});
        QVERIFY(L);
        QCOMPARE(L->segments, std::int64_t(8));
        QCOMPARE(L->segmentSize, std::int64_t(6));
        QCOMPARE(L->nRuns, std::int64_t(6));
        QCOMPARE(L->runBase(3), std::int64_t(3));
        L = makeLayout({4, 3, 3, 3}, Granularity{GranularityKind::Channel, 0, 0});  // conv [out, in, kh, kw]
        QVERIFY(L && L->contiguous() && L->segmentSize == 27);
        L = makeLayout({64, 16}, Granularity{GranularityKind::Group, 1, 8});  // Keras [in, out], groups along in
        QVERIFY(L);
        QCOMPARE(L->segments, std::int64_t(16 * 8));
        QCOMPARE(L->runBase(1), std::int64_t(8 * 16));  // channel 0, group 1 starts at row 8
        QCOMPARE(L->runBase(8), std::int64_t(1));       // channel 1, group 0
        std::vector<float> x(64 * 16), buf(8);
        for (std::size_t i = 0; i < x.size(); ++i)
            x[i] = float(i);
        L->gather(x.data(), 9, buf.data());  // channel 1, group 1: rows 8..15 of column 1
        for (int k = 0; k < 8; ++k)
            QCOMPARE(buf[k], float((8 + k) * 16 + 1));
        QVERIFY(!makeLayout({10, 10}, Granularity{GranularityKind::Group, 0, 3}));
        QVERIFY(!makeLayout({10, 10}, Granularity{GranularityKind::Channel, 2, 0}));
        QVERIFY(!makeLayout({2, 6, 4}, Granularity{GranularityKind::Group, 1, 3}));  // straddles rows of 4
    }

    void plans()
    {
        QuantPlan plan;
        plan.defaultSpec.bits = 4;
        QuantSpec eight;
        eight.bits = 8;
        plan.overrides.push_back(PlanOverride{PatternKind::Glob, "*.mlp.*", eight});
        QuantSpec six;
        six.bits = 6;
        plan.overrides.push_back(PlanOverride{PatternKind::Regex, "layers\\.[0-1]\\.mlp", six});
        plan.skip.push_back("*norm*");
        QCOMPARE(plan.specFor("model.layers.5.attn.q_proj.weight")->bits, 4);
        QCOMPARE(plan.specFor("model.layers.5.mlp.up_proj.weight")->bits, 8);
        QCOMPARE(plan.specFor("model.layers.1.mlp.up_proj.weight")->bits, 6);
        QVERIFY(!plan.specFor("model.layers.1.input_layernorm.weight"));
        // An exact-name override beats a skip pattern; a glob override does not.
        QVERIFY(plan.skippedByPattern("model.layers.1.input_layernorm.weight"));
        plan.overrides.push_back(PlanOverride{PatternKind::Glob, "*layernorm*", six});
        QVERIFY(!plan.specFor("model.layers.1.input_layernorm.weight"));
        plan.setSpec("model.layers.1.input_layernorm.weight", eight);
        QCOMPARE(plan.specFor("model.layers.1.input_layernorm.weight")->bits, 8);
        plan.clearSpec("model.layers.1.input_layernorm.weight");
        QVERIFY(!plan.specFor("model.layers.1.input_layernorm.weight"));
        plan.overrides.pop_back();
        plan.setSpec("model.layers.5.mlp.up_proj.weight", six);
        QCOMPARE(plan.specFor("model.layers.5.mlp.up_proj.weight")->bits, 6);
        plan.clearSpec("model.layers.5.mlp.up_proj.weight");
        QCOMPARE(plan.specFor("model.layers.5.mlp.up_proj.weight")->bits, 8);
        QVERIFY(plan.matchedByPattern("model.layers.5.mlp.up_proj.weight"));
        QVERIFY(!plan.matchedByPattern("model.layers.5.attn.q_proj.weight"));
        plan.setSpec("model.layers.5.attn.q_proj.weight", six);
        QVERIFY(!plan.matchedByPattern("model.layers.5.attn.q_proj.weight"));  // exact overrides do not count
        // An exact skip keeps one tensor as stored; a later edit of it lifts the skip.
        plan.skipTensor("odd*name[1]");
        QVERIFY(!plan.specFor("odd*name[1]"));
        QVERIFY(!plan.skippedByPattern("odd*name[1]"));  // its own exact skip does not count
        QVERIFY(plan.specFor("odd-name[1]").has_value());  // the escaped '*' matches only itself
        plan.skipTensor("odd*name[1]");
        QCOMPARE(std::count(plan.skip.begin(), plan.skip.end(), globEscape("odd*name[1]")), 1);
        plan.setSpec("odd*name[1]", six);
        QCOMPARE(plan.specFor("odd*name[1]")->bits, 6);
        QCOMPARE(globEscape("a*b?c[d"), std::string("a[*]b[?]c[[]d"));
        QVERIFY(globMatch(globEscape("a*b?c[d"), "a*b?c[d"));
        QVERIFY(!globMatch(globEscape("a*b?c[d"), "axxbyc[d"));
        QVERIFY(globMatch("a?c[0-9]*", "abc7xyz"));
        QVERIFY(!globMatch("a?c[0-9]*", "abcx"));
        QVERIFY(globMatch("*", ""));
        QVERIFY(!validatePattern(PatternKind::Regex, "(unclosed"));
        QVERIFY(!patternMatches(PatternKind::Regex, "(unclosed", "x"));
    }

    void traitsTableIsConsistent()
    {
        std::set<std::string> names;
        for (const auto& t : allFormats()) {
            QVERIFY(names.insert(std::string(t.name)).second);
            QVERIFY(t.quantize != nullptr);
            QVERIFY(t.bitsPerWeight != nullptr);
            QVERIFY(t.minBits <= t.defaultBits && t.defaultBits <= t.maxBits);
            QCOMPARE(formatFromName(t.name).value(), t.format);
            QCOMPARE(&formatTraits(t.format), &t);
        }
        QVERIFY(formatFromName("INT").has_value());
        QVERIFY(!formatFromName("int4x").has_value());
    }
};

QTEST_APPLESS_MAIN(TestSpec)
#include "tst_spec.moc"
