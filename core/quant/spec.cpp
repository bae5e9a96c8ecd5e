#include "core/quant/spec.h"

#include "core/quant/format_traits.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>

namespace ql {

namespace {

template <typename E>
struct NameEntry {
    E value;
    const char* name;
};

constexpr NameEntry<Scheme> kSchemes[] = {
    {Scheme::Asymmetric, "asymmetric"}, {Scheme::Symmetric, "symmetric"}, {Scheme::SymmetricFull, "symmetric_full"}};
constexpr NameEntry<RangeKind> kRanges[] = {
    {RangeKind::MinMax, "minmax"}, {RangeKind::Percentile, "percentile"}, {RangeKind::Mse, "mse"}, {RangeKind::Kl, "kl"}};
constexpr NameEntry<ScaleStorage> kStorages[] = {
    {ScaleStorage::F32, "f32"}, {ScaleStorage::F16, "f16"}, {ScaleStorage::BF16, "bf16"}, {ScaleStorage::Int8, "int8"}};
constexpr NameEntry<GranularityKind> kGrans[] = {
    {GranularityKind::Tensor, "tensor"}, {GranularityKind::Channel, "channel"}, {GranularityKind::Group, "group"}};
constexpr NameEntry<Rounding> kRoundings[] = {{Rounding::HalfEven, "half_even"},
                                              {Rounding::HalfAwayFromZero, "half_away"}};

template <typename E, std::size_t N>
const char* nameOf(const NameEntry<E> (&table)[N], E v)
{
    for (const auto& e : table)
        if (e.value == v)
            return e.name;
    return "?";
}

template <typename E, std::size_t N>
Result<E> valueOf(const NameEntry<E> (&table)[N], const std::string& s, const char* what)
{
    for (const auto& e : table)
        if (s == e.name)
            return e.value;
    std::string names;
    for (const auto& e : table)
        names += std::string(names.empty() ? "" : ", ") + e.name;
    return makeError(ErrorCode::InvalidSpec, "unknown " + std::string(what) + " '" + s + "' (expected " + names + ")");
}

std::string formatNumber(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

bool parseInt64(const std::string& s, std::int64_t& out)
{
    if (s.empty() || s.size() > 18)
        return false;
    std::size_t i = s[0] == '-' ? 1 : 0;
    if (i == s.size())
        return false;
    for (std::size_t k = i; k < s.size(); ++k)
        if (s[k] < '0' || s[k] > '9')
            return false;
    out = std::stoll(s);
    return true;
}

} // namespace

const char* schemeName(Scheme s) { return nameOf(kSchemes, s); }
const char* rangeKindName(RangeKind r) { return nameOf(kRanges, r); }
const char* scaleStorageName(ScaleStorage s) { return nameOf(kStorages, s); }
Result<Scheme> schemeFromName(const std::string& s) { return valueOf(kSchemes, s, "scheme"); }
Result<RangeKind> rangeKindFromName(const std::string& s) { return valueOf(kRanges, s, "range method"); }
Result<ScaleStorage> scaleStorageFromName(const std::string& s) { return valueOf(kStorages, s, "scale storage"); }

Result<int> resolveAxis(int axis, int rank)
{
    const int a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank)
        return makeError(ErrorCode::InvalidSpec,
                         "axis " + std::to_string(axis) + " is out of range for a rank-" + std::to_string(rank) + " tensor");
    return a;
}

std::string specShortName(const QuantSpec& spec)
{
    const FormatTraits& t = formatTraits(spec.format);
    std::string s(t.name);
    if (t.has(kParamBits) && t.minBits != t.maxBits)
        s += std::to_string(spec.bits);
    if (t.has(kParamScheme))
        s += spec.scheme == Scheme::Asymmetric ? " asym" : (spec.scheme == Scheme::Symmetric ? " sym" : " symfull");
    if (t.has(kParamGranularity)) {
        switch (spec.granularity.kind) {
        case GranularityKind::Tensor: s += " tensor"; break;
        case GranularityKind::Channel: s += " ch" + std::to_string(spec.granularity.axis); break;
        case GranularityKind::Group:
            s += " g" + std::to_string(spec.granularity.groupSize);
            if (spec.granularity.axis != 0)
                s += "@" + std::to_string(spec.granularity.axis);
            break;
        }
    }
    if (t.has(kParamRange)) {
        s += std::string(" ") + rangeKindName(spec.range.kind);
        if (spec.range.kind == RangeKind::Percentile)
            s += formatNumber(spec.range.percentile);
    }
    if (t.has(kParamScaleStorage) && spec.scaleStorage != ScaleStorage::F32)
        s += std::string(" s:") + scaleStorageName(spec.scaleStorage);
    return s;
}

nlohmann::json specToJson(const QuantSpec& spec)
{
    nlohmann::json j;
    j["format"] = std::string(formatTraits(spec.format).name);
    j["bits"] = spec.bits;
    j["scheme"] = schemeName(spec.scheme);
    j["granularity"] = {{"kind", nameOf(kGrans, spec.granularity.kind)},
                        {"axis", spec.granularity.axis},
                        {"group_size", spec.granularity.groupSize}};
    j["range"] = {{"method", rangeKindName(spec.range.kind)}, {"percentile", spec.range.percentile}};
    j["scale_storage"] = scaleStorageName(spec.scaleStorage);
    j["rounding"] = nameOf(kRoundings, spec.rounding);
    j["option"] = spec.option;
    return j;
}

Result<QuantSpec> specFromJson(const nlohmann::json& j)
{
    auto bad = [](const std::string& path, const std::string& what) {
        return makeError(ErrorCode::InvalidSpec, what, path);
    };
    if (!j.is_object())
        return bad("spec", "expected an object");
    QuantSpec s;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& key = it.key();
        const auto& v = it.value();
        const std::string path = "spec." + key;
        if (key == "format") {
            if (!v.is_string())
                return bad(path, "expected a string");
            auto f = formatFromName(v.get<std::string>());
            if (!f)
                return bad(path, "unknown format '" + v.get<std::string>() + "'");
            s.format = *f;
        } else if (key == "bits") {
            if (!v.is_number_integer())
                return bad(path, "expected an integer");
            s.bits = v.get<int>();
        } else if (key == "scheme") {
            if (!v.is_string())
                return bad(path, "expected a string");
            auto r = schemeFromName(v.get<std::string>());
            if (!r)
                return r.error().within(path);
            s.scheme = *r;
        } else if (key == "granularity") {
            if (!v.is_object())
                return bad(path, "expected an object");
            for (auto g = v.begin(); g != v.end(); ++g) {
                const std::string gp = path + "." + g.key();
                if (g.key() == "kind") {
                    if (!g.value().is_string())
                        return bad(gp, "expected a string");
                    auto k = valueOf(kGrans, g.value().get<std::string>(), "granularity");
                    if (!k)
                        return k.error().within(gp);
                    s.granularity.kind = *k;
                } else if (g.key() == "axis") {
                    if (!g.value().is_number_integer())
                        return bad(gp, "expected an integer");
                    s.granularity.axis = g.value().get<int>();
                } else if (g.key() == "group_size") {
                    if (!g.value().is_number_integer())
                        return bad(gp, "expected an integer");
                    s.granularity.groupSize = g.value().get<std::int64_t>();
                } else {
                    return bad(gp, "unknown key");
                }
            }
        } else if (key == "range") {
            if (!v.is_object())
                return bad(path, "expected an object");
            for (auto g = v.begin(); g != v.end(); ++g) {
                const std::string gp = path + "." + g.key();
                if (g.key() == "method") {
                    if (!g.value().is_string())
                        return bad(gp, "expected a string");
                    auto k = rangeKindFromName(g.value().get<std::string>());
                    if (!k)
                        return k.error().within(gp);
                    s.range.kind = *k;
                } else if (g.key() == "percentile") {
                    if (!g.value().is_number())
                        return bad(gp, "expected a number");
                    s.range.percentile = g.value().get<double>();
                } else {
                    return bad(gp, "unknown key");
                }
            }
        } else if (key == "scale_storage") {
            if (!v.is_string())
                return bad(path, "expected a string");
            auto r = scaleStorageFromName(v.get<std::string>());
            if (!r)
                return r.error().within(path);
            s.scaleStorage = *r;
        } else if (key == "rounding") {
            if (!v.is_string())
                return bad(path, "expected a string");
            auto r = valueOf(kRoundings, v.get<std::string>(), "rounding");
            if (!r)
                return r.error().within(path);
            s.rounding = *r;
        } else if (key == "option") {
            if (!v.is_number_integer())
                return bad(path, "expected an integer");
            s.option = v.get<int>();
        } else {
            return bad(path, "unknown key");
        }
    }
    return s;
}

Result<Granularity> parseGranularity(const std::string& s)
{
    Granularity g;
    auto bad = [&] {
        return makeError(ErrorCode::InvalidArgument,
                         "bad granularity '" + s + "' (expected tensor, channel[:AXIS] or group:SIZE[:AXIS])");
    };
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t p = s.find(':', start);
        parts.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
        if (p == std::string::npos)
            break;
        start = p + 1;
    }
    std::int64_t v = 0;
    if (parts[0] == "tensor" && parts.size() == 1) {
        g.kind = GranularityKind::Tensor;
    } else if (parts[0] == "channel" && parts.size() <= 2) {
        g.kind = GranularityKind::Channel;
        if (parts.size() == 2) {
            if (!parseInt64(parts[1], v))
                return bad();
            g.axis = static_cast<int>(v);
        }
    } else if (parts[0] == "group" && (parts.size() == 2 || parts.size() == 3)) {
        g.kind = GranularityKind::Group;
        if (!parseInt64(parts[1], v) || v <= 0)
            return bad();
        g.groupSize = v;
        if (parts.size() == 3) {
            if (!parseInt64(parts[2], v))
                return bad();
            g.axis = static_cast<int>(v);
        }
    } else {
        return bad();
    }
    return g;
}

Result<RangeMethod> parseRangeMethod(const std::string& s)
{
    RangeMethod r;
    if (s.rfind("percentile", 0) == 0) {
        r.kind = RangeKind::Percentile;
        if (s.size() > 10) {
            if (s[10] != ':')
                return makeError(ErrorCode::InvalidArgument, "bad range method '" + s + "'");
            try {
                std::size_t used = 0;
                r.percentile = std::stod(s.substr(11), &used);
                if (used != s.size() - 11)
                    throw std::invalid_argument("trailing");
            } catch (const std::exception&) {
                return makeError(ErrorCode::InvalidArgument, "bad percentile in '" + s + "'");
            }
        }
        return r;
    }
    auto k = rangeKindFromName(s);
    if (!k)
        return makeError(ErrorCode::InvalidArgument,
                         "bad range method '" + s + "' (expected minmax, percentile:P, mse or kl)");
    r.kind = *k;
    return r;
}

} // namespace ql
