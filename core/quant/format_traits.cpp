#include "core/quant/format_traits.h"

#include "core/formats/codebook_formats.h"
#include "core/formats/extreme_formats.h"
#include "core/formats/float_formats.h"
#include "core/formats/gguf_formats.h"
#include "core/formats/normal_float.h"
#include "core/quant/int_quant.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace ql {

// Each format family appends its rows here. A family's file declares its append function in its
// own header; this is the only list of them.
namespace {

std::vector<FormatTraits> buildTable()
{
    std::vector<FormatTraits> t;
    appendIntegerFormats(t);
    appendFloatFormats(t);
    appendNormalFloatFormats(t);
    appendCodebookFormats(t);
    appendExtremeFormats(t);
    appendGgufLegacyFormats(t);
    appendGgufKQuantFormats(t);
    std::sort(t.begin(), t.end(), [](const FormatTraits& a, const FormatTraits& b) { return a.format < b.format; });
    return t;
}

const std::vector<FormatTraits>& table()
{
    static const std::vector<FormatTraits> kTable = buildTable();
    return kTable;
}

} // namespace

const char* familyName(FormatFamily f)
{
    switch (f) {
    case FormatFamily::Integer: return "integer";
    case FormatFamily::Float: return "float";
    case FormatFamily::NormalFloat: return "normal-float";
    case FormatFamily::Codebook: return "codebook";
    case FormatFamily::Extreme: return "extreme";
    case FormatFamily::GgufBlock: return "gguf-block";
    case FormatFamily::None: return "none";
    }
    return "none";
}

std::vector<std::string_view> formatParamNames(const FormatTraits& t)
{
    static constexpr std::pair<FormatParam, std::string_view> kNames[] = {
        {kParamBits, "bits"},   {kParamScheme, "scheme"},       {kParamGranularity, "granularity"},
        {kParamGroupSize, "group_size"}, {kParamRange, "range"}, {kParamScaleStorage, "scale_storage"},
        {kParamImportance, "importance"}, {kParamOption, "option"},
    };
    std::vector<std::string_view> out;
    for (const auto& [p, name] : kNames)
        if (t.has(p))
            out.push_back(name);
    return out;
}

std::vector<std::string_view> formatGranularityNames(const FormatTraits& t)
{
    std::vector<std::string_view> out;
    if (t.allows(GranularityKind::Tensor))
        out.push_back("tensor");
    if (t.allows(GranularityKind::Channel))
        out.push_back("channel");
    if (t.allows(GranularityKind::Group))
        out.push_back("group");
    return out;
}

const FormatTraits* findFormatTraits(Format f)
{
    for (const auto& row : table())
        if (row.format == f)
            return &row;
    return nullptr;
}

const FormatTraits& formatTraits(Format f)
{
    const FormatTraits* row = findFormatTraits(f);
    QL_ASSERT(row != nullptr);
    if (!row)
        return *findFormatTraits(Format::F32);
    return *row;
}

std::span<const FormatTraits> allFormats()
{
    return table();
}

std::optional<Format> formatFromName(std::string_view name)
{
    auto lower = [](std::string_view s) {
        std::string o(s);
        std::transform(o.begin(), o.end(), o.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        return o;
    };
    const std::string want = lower(name);
    for (const auto& row : table())
        if (lower(row.name) == want)
            return row.format;
    return std::nullopt;
}

const FormatTraits* formatFromGgufType(int ggufType)
{
    if (ggufType < 0)
        return nullptr;
    for (const auto& row : table())
        if (row.ggufType == ggufType)
            return &row;
    return nullptr;
}

QuantSpec defaultSpec(Format f)
{
    const FormatTraits& t = formatTraits(f);
    QuantSpec s;
    s.format = f;
    s.bits = t.defaultBits;
    if (t.blockSize > 0) {
        // Block formats lay their blocks out along rows themselves; the granularity is not used.
        s.granularity = Granularity{GranularityKind::Tensor, 0, t.blockSize};
    } else if (t.defaultGroupSize > 0) {
        s.granularity = Granularity{GranularityKind::Group, 0, t.defaultGroupSize};
    } else if (t.allows(GranularityKind::Channel)) {
        s.granularity = Granularity{GranularityKind::Channel, 0, 128};
    }
    return s;
}

} // namespace ql
