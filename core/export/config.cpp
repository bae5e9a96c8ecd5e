#include "core/export/config.h"

#include "core/io/atomic_file.h"
#include "core/io/model.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

namespace ql {

namespace {

const char* patternKindName(PatternKind k)
{
    switch (k) {
    case PatternKind::Exact: return "exact";
    case PatternKind::Glob: return "glob";
    case PatternKind::Regex: return "regex";
    }
    return "exact";
}

Error bad(const std::string& path, const std::string& what)
{
    return makeError(ErrorCode::InvalidArgument, what, path);
}

// specFromJson reports paths as "spec.key..."; re-root them at the spec's place in the document.
Result<QuantSpec> specAt(const nlohmann::json& j, const std::string& path)
{
    auto s = specFromJson(j);
    if (s)
        return s;
    Error e = s.error();
    std::string ctx = e.context;
    if (ctx.rfind("spec", 0) == 0)
        ctx = path + ctx.substr(4);
    else
        ctx = ctx.empty() ? path : path + ": " + ctx;
    e.context = ctx;
    e.code = ErrorCode::InvalidArgument;
    return e;
}

Result<std::string> stringAt(const nlohmann::json& v, const std::string& path)
{
    if (!v.is_string())
        return bad(path, "bad value: expected a string");
    return v.get<std::string>();
}

std::string hex64(std::uint64_t v)
{
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

} // namespace

nlohmann::json configToJson(const QuantConfig& c)
{
    nlohmann::json j = nlohmann::json::object();
    j["format_version"] = c.formatVersion;
    j["default"] = specToJson(c.plan.defaultSpec);
    nlohmann::json ov = nlohmann::json::array();
    for (const auto& o : c.plan.overrides)
        ov.push_back({{"match", patternKindName(o.kind)}, {"pattern", o.pattern}, {"spec", specToJson(o.spec)}});
    j["overrides"] = ov;
    j["skip"] = c.plan.skip;
    if (c.calibration)
        j["calibration"] = {{"path", c.calibration->path}, {"description", c.calibration->description}};
    else
        j["calibration"] = nullptr;
    if (c.source)
        j["source_model"] = {{"path", c.source->path},
                             {"file_format", c.source->fileFormat},
                             {"size_bytes", c.source->sizeBytes},
                             {"tensor_count", c.source->tensorCount},
                             {"index_hash", c.source->indexHash}};
    else
        j["source_model"] = nullptr;
    return j;
}

Result<QuantConfig> configFromJson(const nlohmann::json& j)
{
    if (!j.is_object())
        return bad("$", "bad value: a config is a JSON object");
    QuantConfig c;
    // The version first, so a newer document gets "newer version" rather than "unknown key".
    const auto ver = j.find("format_version");
    if (ver == j.end())
        return bad("$.format_version", "missing key (the config format version, " +
                                           std::to_string(kConfigFormatVersion) + " for this build)");
    if (!ver->is_number_integer())
        return bad("$.format_version", "bad value: expected an integer");
    c.formatVersion = ver->get<int>();
    if (c.formatVersion < 1)
        return bad("$.format_version", "bad value: " + std::to_string(c.formatVersion) + " (versions start at 1)");
    if (c.formatVersion > kConfigFormatVersion)
        return makeError(ErrorCode::Unsupported,
                         "config format version " + std::to_string(c.formatVersion) + " is newer than this build (" +
                             std::to_string(kConfigFormatVersion) + ")",
                         "$.format_version");

    bool haveDefault = false;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& key = it.key();
        const auto& v = it.value();
        const std::string path = "$." + key;
        if (key == "format_version") {
            continue;
        } else if (key == "default") {
            auto s = specAt(v, path);
            if (!s)
                return s.error();
            c.plan.defaultSpec = *s;
            haveDefault = true;
        } else if (key == "overrides") {
            if (!v.is_array())
                return bad(path, "bad value: expected an array");
            for (std::size_t i = 0; i < v.size(); ++i) {
                const auto& o = v[i];
                const std::string op = path + "[" + std::to_string(i) + "]";
                if (!o.is_object())
                    return bad(op, "bad value: expected an object {match, pattern, spec}");
                PlanOverride po;
                bool havePattern = false, haveSpec = false;
                for (auto f = o.begin(); f != o.end(); ++f) {
                    const std::string fp = op + "." + f.key();
                    if (f.key() == "match") {
                        auto s = stringAt(f.value(), fp);
                        if (!s)
                            return s.error();
                        if (*s == "exact")
                            po.kind = PatternKind::Exact;
                        else if (*s == "glob")
                            po.kind = PatternKind::Glob;
                        else if (*s == "regex")
                            po.kind = PatternKind::Regex;
                        else
                            return bad(fp, "bad value '" + *s + "' (expected exact, glob or regex)");
                    } else if (f.key() == "pattern") {
                        auto s = stringAt(f.value(), fp);
                        if (!s)
                            return s.error();
                        if (s->empty())
                            return bad(fp, "bad value: empty pattern");
                        po.pattern = *s;
                        havePattern = true;
                    } else if (f.key() == "spec") {
                        auto s = specAt(f.value(), fp);
                        if (!s)
                            return s.error();
                        po.spec = *s;
                        haveSpec = true;
                    } else {
                        return bad(fp, "unknown key (an override has match, pattern and spec)");
                    }
                }
                if (!havePattern)
                    return bad(op + ".pattern", "missing key");
                if (!haveSpec)
                    return bad(op + ".spec", "missing key");
                if (auto ok = validatePattern(po.kind, po.pattern); !ok)
                    return bad(op + ".pattern", "bad value: " + ok.error().message);
                c.plan.overrides.push_back(std::move(po));
            }
        } else if (key == "skip") {
            if (!v.is_array())
                return bad(path, "bad value: expected an array of glob patterns");
            for (std::size_t i = 0; i < v.size(); ++i) {
                auto s = stringAt(v[i], path + "[" + std::to_string(i) + "]");
                if (!s)
                    return s.error();
                c.plan.skip.push_back(*s);
            }
        } else if (key == "calibration") {
            if (v.is_null())
                continue;
            if (!v.is_object())
                return bad(path, "bad value: expected an object {path, description} or null");
            CalibrationRef cr;
            for (auto f = v.begin(); f != v.end(); ++f) {
                const std::string fp = path + "." + f.key();
                auto s = stringAt(f.value(), fp);
                if (f.key() == "path") {
                    if (!s)
                        return s.error();
                    cr.path = *s;
                } else if (f.key() == "description") {
                    if (!s)
                        return s.error();
                    cr.description = *s;
                } else {
                    return bad(fp, "unknown key (calibration has path and description)");
                }
            }
            c.calibration = cr;
        } else if (key == "source_model") {
            if (v.is_null())
                continue;
            if (!v.is_object())
                return bad(path, "bad value: expected an object or null");
            SourceModelIdentity id;
            for (auto f = v.begin(); f != v.end(); ++f) {
                const std::string fp = path + "." + f.key();
                if (f.key() == "path" || f.key() == "file_format" || f.key() == "index_hash") {
                    auto s = stringAt(f.value(), fp);
                    if (!s)
                        return s.error();
                    (f.key() == "path" ? id.path : f.key() == "file_format" ? id.fileFormat : id.indexHash) = *s;
                } else if (f.key() == "size_bytes" || f.key() == "tensor_count") {
                    if (!f.value().is_number_integer() || f.value().get<std::int64_t>() < 0)
                        return bad(fp, "bad value: expected a non-negative integer");
                    (f.key() == "size_bytes" ? id.sizeBytes : id.tensorCount) = f.value().get<std::int64_t>();
                } else {
                    return bad(fp, "unknown key (source_model has path, file_format, size_bytes, tensor_count, "
                                   "index_hash)");
                }
            }
            c.source = id;
        } else {
            return bad(path, "unknown key (a config has format_version, default, overrides, skip, calibration, "
                             "source_model)");
        }
    }
    if (!haveDefault)
        return bad("$.default", "missing key (the spec of every tensor no override matches)");
    return c;
}

Result<QuantConfig> configFromText(const std::string& text)
{
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        return makeError(ErrorCode::Corrupt, std::string("not valid JSON: ") + e.what());
    }
    return configFromJson(j);
}

Result<QuantConfig> loadConfig(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return makeError(ErrorCode::Io, "cannot open config file", path);
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::int64_t>(in.tellg());
    if (size < 0)
        return makeError(ErrorCode::Io, "cannot read config file", path);
    if (size > (64ll << 20))
        return makeError(ErrorCode::TooLarge, "config file larger than 64 MiB", path);
    in.seekg(0);
    std::string text(static_cast<std::size_t>(size), '\0');
    in.read(text.data(), size);
    if (!in)
        return makeError(ErrorCode::Io, "cannot read config file", path);
    auto c = configFromText(text);
    if (!c)
        return c.error().within(path);
    return c;
}

Result<void> saveConfig(const std::string& path, const QuantConfig& config)
{
    const std::string text = configToJson(config).dump(2) + "\n";
    return writeFileAtomically(path, [&](AtomicFile& f) { return f.write(text.data(), text.size()); });
}

SourceModelIdentity identifyModel(const Model& model)
{
    SourceModelIdentity id;
    id.path = model.path();
    id.fileFormat = fileFormatName(model.format());
    std::uint64_t h = 0xcbf29ce484222325ull;
    auto mix = [&](const std::string& s) {
        for (unsigned char ch : s) {
            h ^= ch;
            h *= 0x100000001b3ull;
        }
        h ^= 0xff;  // field separator
        h *= 0x100000001b3ull;
    };
    for (const auto& t : model.tensors()) {
        mix(t.name);
        mix(t.storedTypeName);
        mix(shapeToString(t.shape));
        mix(std::to_string(t.bytes));
        id.sizeBytes += t.bytes;
    }
    id.tensorCount = static_cast<std::int64_t>(model.tensors().size());
    id.indexHash = "fnv1a64:" + hex64(h);
    return id;
}

std::vector<std::string> checkConfigAgainstModel(const QuantConfig& config, const Model& model)
{
    std::vector<std::string> warnings;
    const auto& ts = model.tensors();
    auto anyMatch = [&](PatternKind k, const std::string& p) {
        for (const auto& t : ts)
            if (patternMatches(k, p, t.name))
                return true;
        return false;
    };
    std::vector<std::string> missing, unmatched, unmatchedSkip;
    for (const auto& o : config.plan.overrides) {
        if (anyMatch(o.kind, o.pattern))
            continue;
        (o.kind == PatternKind::Exact ? missing : unmatched).push_back(o.pattern);
    }
    for (const auto& s : config.plan.skip)
        if (!anyMatch(PatternKind::Glob, s))
            unmatchedSkip.push_back(s);
    auto join = [](const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v)
            s += (s.empty() ? "" : ", ") + x;
        return s;
    };
    if (!missing.empty())
        warnings.push_back(std::to_string(missing.size()) + " override(s) name tensors missing from the model: " +
                           join(missing));
    if (!unmatched.empty())
        warnings.push_back(std::to_string(unmatched.size()) + " glob/regex override(s) match no tensor: " +
                           join(unmatched));
    if (!unmatchedSkip.empty())
        warnings.push_back(std::to_string(unmatchedSkip.size()) + " skip pattern(s) match no tensor: " +
                           join(unmatchedSkip));
    if (config.source) {
        const SourceModelIdentity id = identifyModel(model);
        if (!config.source->indexHash.empty() && config.source->indexHash != id.indexHash)
            warnings.push_back("the config was made for a different model (" + config.source->path + ", " +
                               config.source->indexHash + "; this model has " + id.indexHash + ")");
    }
    return warnings;
}

} // namespace ql
