#include "core/export/plan_export.h"

#include "core/quant/format_traits.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <sstream>

namespace ql {

const char* planToolName(PlanTool t)
{
    switch (t) {
    case PlanTool::LlamaCpp: return "llama.cpp";
    case PlanTool::GptqModel: return "gptqmodel";
    case PlanTool::LlmCompressor: return "llm-compressor";
    }
    return "llama.cpp";
}

Result<PlanTool> planToolFromName(const std::string& name)
{
    std::string n = name;
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (n == "llama.cpp" || n == "llamacpp" || n == "llama-cpp")
        return PlanTool::LlamaCpp;
    if (n == "gptqmodel" || n == "gptq")
        return PlanTool::GptqModel;
    if (n == "llm-compressor" || n == "llmcompressor")
        return PlanTool::LlmCompressor;
    return makeError(ErrorCode::InvalidArgument,
                     "unknown tool '" + name + "' (expected llama.cpp, gptqmodel or llm-compressor)");
}

namespace {

// Escapes the characters that are special in ECMAScript and Python regular expressions.
std::string regexEscape(const std::string& s)
{
    std::string out;
    for (char c : s) {
        if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos)
            out += '\\';
        out += c;
    }
    return out;
}

// The spec a tensor gets, with the exporter's rule that 1-D tensors (biases, norms) stay as stored
// unless an override names them.
std::optional<QuantSpec> effectiveSpec(const QuantPlan& plan, const PlanTensor& t)
{
    auto spec = plan.specFor(t.name);
    if (!spec || t.shape.size() >= 2)
        return spec;
    for (const auto& o : plan.overrides)
        if (patternMatches(o.kind, o.pattern, t.name))
            return spec;
    return std::nullopt;
}

std::string exactRegex(const std::string& name)
{
    return "^" + regexEscape(name) + "$";
}

bool isLinearWeight(const PlanTensor& t)
{
    return t.shape.size() == 2 && t.name.size() > 7 && t.name.compare(t.name.size() - 7, 7, ".weight") == 0;
}

std::string moduleName(const std::string& weightName)
{
    return weightName.substr(0, weightName.size() - 7);
}

std::string ggufTypeName(const QuantSpec& s)
{
    if (s.format == Format::F16)
        return "f16";
    if (s.format == Format::BF16)
        return "bf16";
    if (s.format == Format::F32)
        return "f32";
    const FormatTraits* t = findFormatTraits(s.format);
    if (!t || t->ggufType < 0 || t->family != FormatFamily::GgufBlock)
        return {};
    std::string n(t->name);
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return n;
}

// llama-quantize reads whitespace-separated "pattern=type" tokens and has no comment syntax: a note
// is a token whose pattern can match no tensor name (it starts with '#') and whose type is valid.
std::string llamaNote(const std::string& text)
{
    std::string s = "#quantlens-note:";
    for (char c : text) {
        const unsigned char u = static_cast<unsigned char>(c);
        s += (std::isalnum(u) || c == '_' || c == ':' || c == ',' || c == '-') ? char(std::tolower(u)) : '_';
    }
    return s + "=f32";
}

std::string specText(const QuantSpec& s)
{
    return specShortName(s);
}

struct GptqArgs {
    int bits = 4;
    std::int64_t groupSize = 128;
    bool sym = true;
};

// GPTQModel: integer weights of 2, 3, 4 or 8 bits, per-channel (group_size −1) or per-group along the
// input dimension of a Linear [out, in] weight (groups inside channels of axis 0).
std::optional<GptqArgs> gptqArgs(const QuantSpec& s, std::string& why)
{
    if (s.format != Format::Int) {
        why = std::string(formatTraits(s.format).name) + " is not an integer format";
        return std::nullopt;
    }
    if (s.bits != 2 && s.bits != 3 && s.bits != 4 && s.bits != 8) {
        why = std::to_string(s.bits) + "-bit integers (GPTQModel has 2, 3, 4, 8)";
        return std::nullopt;
    }
    GptqArgs a;
    a.bits = s.bits;
    a.sym = s.scheme != Scheme::Asymmetric;
    if (s.granularity.kind == GranularityKind::Tensor) {
        why = "per-tensor granularity";
        return std::nullopt;
    }
    if (s.granularity.axis != 0) {
        why = "channel axis " + std::to_string(s.granularity.axis) + " (GPTQModel groups along the input of [out, in])";
        return std::nullopt;
    }
    a.groupSize = s.granularity.kind == GranularityKind::Channel ? -1 : s.granularity.groupSize;
    return a;
}

std::string gptqDict(const GptqArgs& a)
{
    return "{\"bits\": " + std::to_string(a.bits) + ", \"group_size\": " + std::to_string(a.groupSize) +
           ", \"sym\": " + (a.sym ? "True" : "False") + "}";
}

// The parts of a spec GPTQModel and llm-compressor do not carry.
std::vector<std::string> lostDetails(const QuantSpec& s)
{
    std::vector<std::string> out;
    if (s.range.kind != RangeKind::MinMax)
        out.push_back(std::string("range method ") + rangeKindName(s.range.kind));
    if (s.scaleStorage != ScaleStorage::F32)
        out.push_back(std::string("scale storage ") + scaleStorageName(s.scaleStorage));
    if (s.scheme == Scheme::SymmetricFull)
        out.push_back("full-range symmetric codes");
    if (s.rounding != Rounding::HalfEven)
        out.push_back("rounding half away from zero");
    return out;
}

std::string join(const std::vector<std::string>& v, const char* sep)
{
    std::string s;
    for (const auto& x : v)
        s += (s.empty() ? "" : sep) + x;
    return s;
}

std::string llamaCpp(const QuantPlan& plan, const std::vector<PlanTensor>& tensors)
{
    std::ostringstream out;
    std::vector<std::string> notes;
    const std::string defType = ggufTypeName(plan.defaultSpec);
    if (!defType.empty())
        notes.push_back("default " + defType + ": give it as the type argument of llama-quantize");
    else
        notes.push_back("default " + specText(plan.defaultSpec) + " has no gguf type: choose the type argument");
    notes.push_back("first matching line wins: exact names, most specific first");
    std::vector<std::string> lines;
    for (const auto& t : tensors) {
        const auto spec = effectiveSpec(plan, t);
        if (t.shape.size() < 2) {
            if (spec && spec->format != Format::F32 && spec->format != Format::F16)
                notes.push_back(t.name + " is 1-D: llama-quantize keeps it unquantized (plan: " + specText(*spec) + ")");
            continue;
        }
        if (!spec) {
            lines.push_back(exactRegex(t.name) + "=f16");
            notes.push_back(t.name + " is skipped by the plan: llama.cpp cannot keep a tensor as stored, f16 used");
            continue;
        }
        if (*spec == plan.defaultSpec && !defType.empty())
            continue;
        const std::string type = ggufTypeName(*spec);
        if (type.empty()) {
            notes.push_back(t.name + " " + specText(*spec) + " has no gguf type: left at the default type");
            continue;
        }
        if (type == defType)
            continue;
        lines.push_back(exactRegex(t.name) + "=" + type);
    }
    for (const auto& n : notes)
        out << llamaNote(n) << "\n";
    for (const auto& l : lines)
        out << l << "\n";
    return out.str();
}

std::string gptqModel(const QuantPlan& plan, const std::vector<PlanTensor>& tensors)
{
    std::ostringstream out;
    out << "# GPTQModel settings exported by QuantLens.\n"
        << "# Use: from gptqmodel import QuantizeConfig; QuantizeConfig(**quantize_config)\n"
        << "# `dynamic` keys are Python regular expressions on module names; \"-:\" skips a module, \"+:\" overrides\n"
        << "# its settings; the first matching key wins. GPTQ itself compensates rounding errors column by column,\n"
        << "# so its results differ from QuantLens's round-to-nearest even with equal settings.\n";
    std::string why;
    auto def = gptqArgs(plan.defaultSpec, why);
    if (!def) {
        out << "# NOT TRANSLATED: the default spec " << specText(plan.defaultSpec) << " (" << why
            << "); the base settings below are GPTQModel's common 4-bit, group 128, symmetric: review them.\n";
        def = GptqArgs{};
    } else if (auto lost = lostDetails(plan.defaultSpec); !lost.empty()) {
        out << "# NOT TRANSLATED for the default spec: " << join(lost, ", ") << ".\n";
    }
    std::vector<std::string> entries;
    for (const auto& t : tensors) {
        const auto spec = effectiveSpec(plan, t);
        if (!isLinearWeight(t)) {
            if (spec && spec->format != Format::F32 && spec->format != Format::F16 && spec->format != Format::BF16 &&
                t.shape.size() >= 1)
                out << "# NOT TRANSLATED: " << t.name << " (" << specText(*spec)
                    << "): not a Linear weight, GPTQModel does not quantize it.\n";
            continue;
        }
        const std::string key = exactRegex(moduleName(t.name));
        if (!spec || spec->format == Format::F32 || spec->format == Format::F16 || spec->format == Format::BF16) {
            entries.push_back("    r\"-:" + key + "\": {},");
            continue;
        }
        auto a = gptqArgs(*spec, why);
        if (!a) {
            out << "# NOT TRANSLATED: " << t.name << " " << specText(*spec) << " (" << why
                << "): the module is skipped (kept in float).\n";
            entries.push_back("    r\"-:" + key + "\": {},");
            continue;
        }
        if (auto lost = lostDetails(*spec); !lost.empty() && !(*spec == plan.defaultSpec))
            out << "# NOT TRANSLATED for " << t.name << ": " << join(lost, ", ") << ".\n";
        if (a->bits == def->bits && a->groupSize == def->groupSize && a->sym == def->sym)
            continue;
        entries.push_back("    r\"+:" + key + "\": " + gptqDict(*a) + ",");
    }
    out << "dynamic = {\n";
    for (const auto& e : entries)
        out << e << "\n";
    out << "}\n";
    out << "quantize_config = {\"bits\": " << def->bits << ", \"group_size\": " << def->groupSize
        << ", \"sym\": " << (def->sym ? "True" : "False") << ", \"desc_act\": False, \"dynamic\": dynamic}\n";
    return out.str();
}

// llm-compressor / compressed-tensors weight arguments of a spec, or empty with a reason.
std::string compressorWeights(const QuantSpec& s, std::string& why)
{
    std::string type;
    int bits = s.bits;
    if (s.format == Format::Int) {
        type = "int";
    } else if (s.format == Format::F8E4M3) {
        type = "float";
        bits = 8;
    } else {
        why = std::string(formatTraits(s.format).name) + " has no compressed-tensors equivalent";
        return {};
    }
    if (bits < 2 || bits > 8) {
        why = std::to_string(bits) + "-bit codes";
        return {};
    }
    std::string strategy;
    std::string group;
    if (s.granularity.kind == GranularityKind::Tensor) {
        strategy = "tensor";
    } else if (s.granularity.axis != 0) {
        why = "channel axis " + std::to_string(s.granularity.axis) + " (compressed-tensors uses the output axis)";
        return {};
    } else if (s.granularity.kind == GranularityKind::Channel) {
        strategy = "channel";
    } else {
        strategy = "group";
        group = ", group_size: " + std::to_string(s.granularity.groupSize);
    }
    const bool sym = s.format != Format::Int || s.scheme != Scheme::Asymmetric;
    return "{num_bits: " + std::to_string(bits) + ", type: " + type + ", symmetric: " + (sym ? "true" : "false") +
           ", strategy: " + strategy + group + "}";
}

std::string llmCompressor(const QuantPlan& plan, const std::vector<PlanTensor>& tensors)
{
    std::ostringstream out;
    out << "# llm-compressor recipe exported by QuantLens.\n"
        << "# Round-to-nearest weight quantization (QuantizationModifier), one config group per distinct spec,\n"
        << "# targets are exact module names (\"re:\" regular expressions), skipped modules are ignored.\n";
    std::vector<std::string> groupKeys;
    std::map<std::string, std::vector<std::string>> groups;
    std::vector<std::string> ignore;
    for (const auto& t : tensors) {
        const auto spec = effectiveSpec(plan, t);
        if (!isLinearWeight(t)) {
            if (spec && spec->format != Format::F32 && spec->format != Format::F16 && spec->format != Format::BF16)
                out << "# NOT TRANSLATED: " << t.name << " (" << specText(*spec)
                    << "): not a Linear weight, llm-compressor does not quantize it.\n";
            continue;
        }
        const std::string target = "re:" + exactRegex(moduleName(t.name));
        if (!spec || spec->format == Format::F32 || spec->format == Format::F16 || spec->format == Format::BF16) {
            ignore.push_back(target);
            continue;
        }
        std::string why;
        const std::string w = compressorWeights(*spec, why);
        if (w.empty()) {
            out << "# NOT TRANSLATED: " << t.name << " " << specText(*spec) << " (" << why
                << "): the module is ignored (kept in float).\n";
            ignore.push_back(target);
            continue;
        }
        if (auto lost = lostDetails(*spec); !lost.empty())
            out << "# NOT TRANSLATED for " << t.name << ": " << join(lost, ", ") << ".\n";
        if (!groups.count(w))
            groupKeys.push_back(w);
        groups[w].push_back(target);
    }
    auto quote = [](const std::string& s) {
        std::string q = "'";
        for (char c : s)
            q += c == '\'' ? std::string("''") : std::string(1, c);
        return q + "'";
    };
    out << "quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n";
    out << "      ignore: [";
    for (std::size_t i = 0; i < ignore.size(); ++i)
        out << (i ? ", " : "") << quote(ignore[i]);
    out << "]\n      config_groups:\n";
    if (groupKeys.empty())
        out << "        {}\n";
    for (std::size_t g = 0; g < groupKeys.size(); ++g) {
        out << "        group_" << g << ":\n          targets: [";
        const auto& ts = groups[groupKeys[g]];
        for (std::size_t i = 0; i < ts.size(); ++i)
            out << (i ? ", " : "") << quote(ts[i]);
        out << "]\n          weights: " << groupKeys[g] << "\n";
    }
    return out.str();
}

} // namespace

std::string exportPlanForTool(const QuantPlan& plan, const std::vector<PlanTensor>& tensors, PlanTool tool)
{
    switch (tool) {
    case PlanTool::LlamaCpp: return llamaCpp(plan, tensors);
    case PlanTool::GptqModel: return gptqModel(plan, tensors);
    case PlanTool::LlmCompressor: return llmCompressor(plan, tensors);
    }
    return {};
}

} // namespace ql
