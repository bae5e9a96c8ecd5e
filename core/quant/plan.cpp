#include "core/quant/plan.h"

#include <algorithm>
#include <regex>

namespace ql {

bool globMatch(const std::string& pattern, const std::string& text)
{
    // Iterative matcher with backtracking to the last '*'.
    std::size_t p = 0, t = 0, starP = std::string::npos, starT = 0;
    auto matchSet = [&](std::size_t& pp, char c) {
        // pattern[pp] == '['; returns whether c is in the set and moves pp past ']'.
        std::size_t q = pp + 1;
        bool negate = q < pattern.size() && (pattern[q] == '!' || pattern[q] == '^');
        if (negate)
            ++q;
        bool found = false;
        const std::size_t start = q;
        while (q < pattern.size() && (pattern[q] != ']' || q == start)) {
            if (q + 2 < pattern.size() && pattern[q + 1] == '-' && pattern[q + 2] != ']') {
                if (c >= pattern[q] && c <= pattern[q + 2])
                    found = true;
                q += 3;
            } else {
                if (c == pattern[q])
                    found = true;
                ++q;
            }
        }
        if (q >= pattern.size())
            return std::make_pair(false, false);  // unterminated set: treat '[' literally
        pp = q + 1;
        return std::make_pair(true, found != negate);
    };
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            starP = p++;
            starT = t;
            continue;
        }
        if (p < pattern.size()) {
            if (pattern[p] == '?') {
                ++p, ++t;
                continue;
            }
            if (pattern[p] == '[') {
                std::size_t pp = p;
                auto [valid, ok] = matchSet(pp, text[t]);
                if (valid && ok) {
                    p = pp, ++t;
                    continue;
                }
                if (!valid && text[t] == '[') {
                    ++p, ++t;
                    continue;
                }
            } else if (pattern[p] == text[t]) {
                ++p, ++t;
                continue;
            }
        }
        if (starP == std::string::npos)
            return false;
        p = starP + 1;
        t = ++starT;
    }
    while (p < pattern.size() && pattern[p] == '*')
        ++p;
    return p == pattern.size();
}

bool patternMatches(PatternKind kind, const std::string& pattern, const std::string& name)
{
    switch (kind) {
    case PatternKind::Exact: return pattern == name;
    case PatternKind::Glob: return globMatch(pattern, name);
    case PatternKind::Regex:
        try {
            return std::regex_search(name, std::regex(pattern, std::regex::ECMAScript));
        } catch (const std::regex_error&) {
            return false;
        }
    }
    return false;
}

Result<void> validatePattern(PatternKind kind, const std::string& pattern)
{
    if (kind != PatternKind::Regex)
        return {};
    try {
        std::regex re(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        return makeError(ErrorCode::InvalidArgument, std::string("bad regular expression: ") + e.what(), pattern);
    }
    return {};
}

std::optional<QuantSpec> QuantPlan::specFor(const std::string& tensorName) const
{
    const QuantSpec* spec = &defaultSpec;
    bool named = false;
    for (const auto& o : overrides)
        if (patternMatches(o.kind, o.pattern, tensorName)) {
            spec = &o.spec;
            named = named || o.kind == PatternKind::Exact;
        }
    if (!named)
        for (const auto& s : skip)
            if (globMatch(s, tensorName))
                return std::nullopt;
    return *spec;
}

void QuantPlan::setSpec(const std::string& tensorName, const QuantSpec& spec)
{
    clearSpec(tensorName);
    std::erase(skip, globEscape(tensorName));
    overrides.push_back(PlanOverride{PatternKind::Exact, tensorName, spec});
}

void QuantPlan::clearSpec(const std::string& tensorName)
{
    std::erase_if(overrides, [&](const PlanOverride& o) { return o.kind == PatternKind::Exact && o.pattern == tensorName; });
}

bool QuantPlan::matchedByPattern(const std::string& tensorName) const
{
    return std::any_of(overrides.begin(), overrides.end(), [&](const PlanOverride& o) {
        return o.kind != PatternKind::Exact && patternMatches(o.kind, o.pattern, tensorName);
    });
}

bool QuantPlan::skippedByPattern(const std::string& tensorName) const
{
    const std::string own = globEscape(tensorName);
    return std::any_of(skip.begin(), skip.end(),
                       [&](const std::string& s) { return s != own && globMatch(s, tensorName); });
}

void QuantPlan::skipTensor(const std::string& tensorName)
{
    clearSpec(tensorName);
    const std::string pattern = globEscape(tensorName);
    if (std::find(skip.begin(), skip.end(), pattern) == skip.end())
        skip.push_back(pattern);
}

std::string globEscape(const std::string& text)
{
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '*' || c == '?' || c == '[') {
            out += '[';
            out += c;
            out += ']';
        } else {
            out += c;
        }
    }
    return out;
}

} // namespace ql
