// The config document: round trips, validation errors with JSON paths, warnings against a model,
// and the plan written for llama.cpp, GPTQModel and llm-compressor (golden text).

#include "core/base/random.h"
#include "core/export/config.h"
#include "core/export/plan_export.h"
#include "core/io/model.h"
#include "core/io/safetensors.h"
#include "core/quant/format_traits.h"

#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>

using namespace ql;

namespace {

QuantSpec intSpec(int bits, Scheme scheme, GranularityKind k, std::int64_t group = 128)
{
    QuantSpec s;
    s.format = Format::Int;
    s.bits = bits;
    s.scheme = scheme;
    s.granularity = Granularity{k, 0, group};
    return s;
}

QuantConfig sampleConfig()
{
    QuantConfig c;
    c.plan.defaultSpec = intSpec(4, Scheme::Symmetric, GranularityKind::Group, 128);
    c.plan.overrides.push_back({PatternKind::Glob, "*.mlp.down_proj.weight", intSpec(8, Scheme::Asymmetric, GranularityKind::Channel)});
    QuantSpec mse = intSpec(3, Scheme::Asymmetric, GranularityKind::Group, 64);
    mse.range.kind = RangeKind::Mse;
    c.plan.overrides.push_back({PatternKind::Regex, "layers\\.1\\..*q_proj", mse});
    c.plan.overrides.push_back({PatternKind::Exact, "layers.0.self_attn.q_proj.weight", intSpec(2, Scheme::Symmetric, GranularityKind::Tensor)});
    c.plan.skip = {"*norm*", "lm_head.weight"};
    c.calibration = CalibrationRef{"calib/wiki.safetensors", "128 samples of wikitext"};
    c.source = SourceModelIdentity{"model.safetensors", "safetensors", 123456, 7, "fnv1a64:0011223344556677"};
    return c;
}

std::vector<PlanTensor> sampleTensors()
{
    return {{"embed.weight", {1000, 256}},
            {"layers.0.self_attn.q_proj.weight", {256, 256}},
            {"layers.0.mlp.down_proj.weight", {256, 1024}},
            {"layers.0.input_norm.weight", {256}},
            {"layers.1.self_attn.q_proj.weight", {256, 256}},
            {"layers.1.self_attn.q_proj.bias", {256}},
            {"lm_head.weight", {1000, 256}}};
}

} // namespace

class TestExportConfig : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void jsonRoundTrip()
    {
        const QuantConfig c = sampleConfig();
        const nlohmann::json j = configToJson(c);
        QCOMPARE(j.at("format_version").get<int>(), kConfigFormatVersion);
        auto back = configFromJson(j);
        QVERIFY2(back.has_value(), back ? "" : back.error().toString().c_str());
        QVERIFY(*back == c);
        // Text form, and again through a file.
        auto text = configFromText(j.dump(2));
        QVERIFY(text.has_value() && *text == c);
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("plan.json")).toStdString();
        QVERIFY(saveConfig(path, c).has_value());
        auto loaded = loadConfig(path);
        QVERIFY2(loaded.has_value(), loaded ? "" : loaded.error().toString().c_str());
        QVERIFY(*loaded == c);
    }

    void minimalConfig()
    {
        auto c = configFromText("{\"format_version\": 1, \"default\": {\"format\": \"int\", \"bits\": 4}}");
        QVERIFY2(c.has_value(), c ? "" : c.error().toString().c_str());
        QCOMPARE(c->plan.defaultSpec.bits, 4);
        QVERIFY(c->plan.overrides.empty());
        QVERIFY(!c->source);
    }

    void validationErrors_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("message");
        const QString d = QStringLiteral("'default': {'format': 'int', 'bits': 4}");
        QTest::newRow("not an object") << QStringLiteral("[1]") << QStringLiteral("$") << QStringLiteral("object");
        QTest::newRow("no version") << QStringLiteral("{'default': {}}") << QStringLiteral("$.format_version") << QStringLiteral("missing");
        QTest::newRow("newer version") << QStringLiteral("{'format_version': 9, 'default': {}}")
                                       << QStringLiteral("$.format_version") << QStringLiteral("newer");
        QTest::newRow("unknown top key") << QStringLiteral("{'format_version': 1, %1, 'colour': 1}").arg(d)
                                         << QStringLiteral("$.colour") << QStringLiteral("unknown key");
        QTest::newRow("no default") << QStringLiteral("{'format_version': 1}") << QStringLiteral("$.default") << QStringLiteral("missing");
        QTest::newRow("bad format") << QStringLiteral("{'format_version': 1, 'default': {'format': 'int99'}}")
                                    << QStringLiteral("$.default.format") << QStringLiteral("unknown format");
        QTest::newRow("bad bits type") << QStringLiteral("{'format_version': 1, 'default': {'bits': 'four'}}")
                                       << QStringLiteral("$.default.bits") << QStringLiteral("integer");
        QTest::newRow("unknown spec key")
            << QStringLiteral("{'format_version': 1, 'default': {'bitz': 4}}") << QStringLiteral("$.default.bitz") << QStringLiteral("unknown");
        QTest::newRow("override spec")
            << QStringLiteral("{'format_version': 1, %1, 'overrides': [{'match': 'glob', 'pattern': '*', 'spec': {}}, {'match': 'exact', 'pattern': 'a', 'spec': {'granularity': {'kind': 'rows'}}}]}")
                   .arg(d)
            << QStringLiteral("$.overrides[1].spec.granularity.kind") << QStringLiteral("granularity");
        QTest::newRow("override unknown key")
            << QStringLiteral("{'format_version': 1, %1, 'overrides': [{'match': 'glob', 'pattern': '*', 'spec': {}, 'x': 1}]}")
                   .arg(d)
            << QStringLiteral("$.overrides[0].x") << QStringLiteral("unknown key");
        QTest::newRow("bad match kind")
            << QStringLiteral("{'format_version': 1, %1, 'overrides': [{'match': 'fuzzy', 'pattern': '*', 'spec': {}}]}")
                   .arg(d)
            << QStringLiteral("$.overrides[0].match") << QStringLiteral("fuzzy");
        QTest::newRow("bad regex")
            << QStringLiteral("{'format_version': 1, %1, 'overrides': [{'match': 'regex', 'pattern': '(', 'spec': {}}]}")
                   .arg(d)
            << QStringLiteral("$.overrides[0].pattern") << QStringLiteral("regular expression");
        QTest::newRow("missing spec")
            << QStringLiteral("{'format_version': 1, %1, 'overrides': [{'match': 'glob', 'pattern': '*'}]}").arg(d)
            << QStringLiteral("$.overrides[0].spec") << QStringLiteral("missing");
        QTest::newRow("skip not strings") << QStringLiteral("{'format_version': 1, %1, 'skip': ['a', 2]}").arg(d)
                                          << QStringLiteral("$.skip[1]") << QStringLiteral("string");
        QTest::newRow("calibration key")
            << QStringLiteral("{'format_version': 1, %1, 'calibration': {'file': 'x'}}").arg(d)
            << QStringLiteral("$.calibration.file") << QStringLiteral("unknown key");
        QTest::newRow("source size")
            << QStringLiteral("{'format_version': 1, %1, 'source_model': {'size_bytes': -4}}").arg(d)
            << QStringLiteral("$.source_model.size_bytes") << QStringLiteral("non-negative");
    }

    void validationErrors()
    {
        QFETCH(QString, text);
        QFETCH(QString, path);
        QFETCH(QString, message);
        auto c = configFromText(text.replace(QLatin1Char('\''), QLatin1Char('"')).toStdString());
        QVERIFY(!c.has_value());
        QCOMPARE(QString::fromStdString(c.error().context), path);
        QVERIFY2(QString::fromStdString(c.error().message).contains(message),
                 c.error().toString().c_str());
    }

    void badFiles()
    {
        QTemporaryDir dir;
        const std::string missing = dir.filePath(QStringLiteral("none.json")).toStdString();
        auto c = loadConfig(missing);
        QVERIFY(!c.has_value());
        QCOMPARE(c.error().code, ErrorCode::Io);
        const std::string broken = dir.filePath(QStringLiteral("broken.json")).toStdString();
        std::ofstream(broken) << "{\"format_version\": 1, ";
        c = loadConfig(broken);
        QVERIFY(!c.has_value());
        QCOMPARE(c.error().code, ErrorCode::Corrupt);
        QVERIFY(c.error().toString().find("broken.json") != std::string::npos);
    }

    void warningsAgainstModel()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("m.safetensors")).toStdString();
        const Tensor a = randomTensor({4, 8}, Distribution::Normal, 1);
        std::vector<SafetensorsEntry> e{{"layers.0.self_attn.q_proj.weight", DType::F32, a.shape, a.data.data(), a.data.size() * 4},
                                        {"norm.weight", DType::F32, Shape{8}, a.data.data(), 32}};
        QVERIFY(writeSafetensors(path, e).has_value());
        auto model = openModel(path);
        QVERIFY(model.has_value());
        QuantConfig c = sampleConfig();
        c.plan.overrides.push_back({PatternKind::Exact, "ghost.weight", intSpec(8, Scheme::Asymmetric, GranularityKind::Tensor)});
        const auto w = checkConfigAgainstModel(c, **model);
        QString all;
        for (const auto& s : w)
            all += QString::fromStdString(s) + QLatin1Char('\n');
        QVERIFY2(all.contains(QStringLiteral("missing from the model: ghost.weight")), qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("match no tensor: *.mlp.down_proj.weight")), qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("skip pattern(s) match no tensor: lm_head.weight")), qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("different model")), qPrintable(all));
        // A config made for this model has no identity warning.
        c.source = identifyModel(**model);
        QVERIFY(c.source->indexHash.rfind("fnv1a64:", 0) == 0);
        QCOMPARE(c.source->tensorCount, std::int64_t(2));
        for (const auto& s : checkConfigAgainstModel(c, **model))
            QVERIFY2(s.find("different model") == std::string::npos, s.c_str());
    }

    void llamaCppTensorTypeFile()
    {
        QuantConfig c = sampleConfig();
        c.plan.defaultSpec = defaultSpec(Format::Q4_K);
        c.plan.overrides = {{PatternKind::Glob, "*.mlp.down_proj.weight", defaultSpec(Format::Q6_K)},
                            {PatternKind::Exact, "layers.1.self_attn.q_proj.weight", intSpec(4, Scheme::Symmetric, GranularityKind::Group)},
                            {PatternKind::Exact, "embed.weight", defaultSpec(Format::Q8_0)}};
        c.plan.skip = {"lm_head.weight"};
        const std::string text = exportPlanForTool(c.plan, sampleTensors(), PlanTool::LlamaCpp);
        const std::string expected =
            "#quantlens-note:default_q4_k:_give_it_as_the_type_argument_of_llama-quantize=f32\n"
            "#quantlens-note:first_matching_line_wins:_exact_names,_most_specific_first=f32\n"
            "#quantlens-note:layers_1_self_attn_q_proj_weight_int4_sym_g128_minmax_has_no_gguf_type:_left_at_the_default_type=f32\n"
            "#quantlens-note:lm_head_weight_is_skipped_by_the_plan:_llama_cpp_cannot_keep_a_tensor_as_stored,_f16_used=f32\n"
            "^embed\\.weight$=q8_0\n"
            "^layers\\.0\\.mlp\\.down_proj\\.weight$=q6_k\n"
            "^lm_head\\.weight$=f16\n";
        if (text != expected)
            qWarning("%s", text.c_str());
        QCOMPARE(QString::fromStdString(text), QString::fromStdString(expected));
        // Every token is "pattern=type" (llama-quantize's only syntax).
        for (const auto& line : QString::fromStdString(text).split(QLatin1Char('\n'), Qt::SkipEmptyParts)) {
            QVERIFY(!line.contains(QLatin1Char(' ')));
            QVERIFY(line.contains(QLatin1Char('=')));
        }
        // The skipped lm_head and the untranslatable int4 are said, not dropped.
        QVERIFY(text.find("lm_head_weight_is_skipped") != std::string::npos);
    }

    void gptqModelDynamic()
    {
        const QuantConfig c = sampleConfig();
        const std::string text = exportPlanForTool(c.plan, sampleTensors(), PlanTool::GptqModel);
        const std::string expected =
            "# GPTQModel settings exported by QuantLens.\n"
            "# Use: from gptqmodel import QuantizeConfig; QuantizeConfig(**quantize_config)\n"
            "# `dynamic` keys are Python regular expressions on module names; \"-:\" skips a module, \"+:\" overrides\n"
            "# its settings; the first matching key wins. GPTQ itself compensates rounding errors column by column,\n"
            "# so its results differ from QuantLens's round-to-nearest even with equal settings.\n"
            "# NOT TRANSLATED: layers.0.self_attn.q_proj.weight int2 sym tensor minmax (per-tensor granularity): the module is skipped (kept in float).\n"
            "# NOT TRANSLATED for layers.1.self_attn.q_proj.weight: range method mse.\n"
            "# NOT TRANSLATED: layers.1.self_attn.q_proj.bias (int3 asym g64 mse): not a Linear weight, GPTQModel does not quantize it.\n"
            "dynamic = {\n"
            "    r\"-:^layers\\.0\\.self_attn\\.q_proj$\": {},\n"
            "    r\"+:^layers\\.0\\.mlp\\.down_proj$\": {\"bits\": 8, \"group_size\": -1, \"sym\": False},\n"
            "    r\"+:^layers\\.1\\.self_attn\\.q_proj$\": {\"bits\": 3, \"group_size\": 64, \"sym\": False},\n"
            "    r\"-:^lm_head$\": {},\n"
            "}\n"
            "quantize_config = {\"bits\": 4, \"group_size\": 128, \"sym\": True, \"desc_act\": False, \"dynamic\": dynamic}\n";
        if (text != expected)
            qWarning("%s", text.c_str());
        QCOMPARE(QString::fromStdString(text), QString::fromStdString(expected));
    }

    void llmCompressorRecipe()
    {
        const QuantConfig c = sampleConfig();
        const std::string text = exportPlanForTool(c.plan, sampleTensors(), PlanTool::LlmCompressor);
        const std::string expected =
            "# llm-compressor recipe exported by QuantLens.\n"
            "# Round-to-nearest weight quantization (QuantizationModifier), one config group per distinct spec,\n"
            "# targets are exact module names (\"re:\" regular expressions), skipped modules are ignored.\n"
            "# NOT TRANSLATED for layers.1.self_attn.q_proj.weight: range method mse.\n"
            "# NOT TRANSLATED: layers.1.self_attn.q_proj.bias (int3 asym g64 mse): not a Linear weight, llm-compressor does not quantize it.\n"
            "quant_stage:\n"
            "  quant_modifiers:\n"
            "    QuantizationModifier:\n"
            "      ignore: ['re:^lm_head$']\n"
            "      config_groups:\n"
            "        group_0:\n"
            "          targets: ['re:^embed$']\n"
            "          weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 128}\n"
            "        group_1:\n"
            "          targets: ['re:^layers\\.0\\.self_attn\\.q_proj$']\n"
            "          weights: {num_bits: 2, type: int, symmetric: true, strategy: tensor}\n"
            "        group_2:\n"
            "          targets: ['re:^layers\\.0\\.mlp\\.down_proj$']\n"
            "          weights: {num_bits: 8, type: int, symmetric: false, strategy: channel}\n"
            "        group_3:\n"
            "          targets: ['re:^layers\\.1\\.self_attn\\.q_proj$']\n"
            "          weights: {num_bits: 3, type: int, symmetric: false, strategy: group, group_size: 64}\n";
        if (text != expected)
            qWarning("%s", text.c_str());
        QCOMPARE(QString::fromStdString(text), QString::fromStdString(expected));
    }

    void toolNames()
    {
        QCOMPARE(*planToolFromName("llama.cpp"), PlanTool::LlamaCpp);
        QCOMPARE(*planToolFromName("GPTQModel"), PlanTool::GptqModel);
        QCOMPARE(*planToolFromName("llm-compressor"), PlanTool::LlmCompressor);
        QVERIFY(!planToolFromName("onnx").has_value());
    }
};

QTEST_APPLESS_MAIN(TestExportConfig)
#include "tst_export_config.moc"
