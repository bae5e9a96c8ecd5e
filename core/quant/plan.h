#pragma once
// QuantPlan: the default spec plus per-tensor overrides, resolved per tensor name.

#include "core/base/result.h"
#include "core/quant/spec.h"

#include <optional>
#include <string>
#include <vector>

namespace ql {

enum class PatternKind : std::uint8_t { Exact, Glob, Regex };

/// One override: tensors whose name matches `pattern` get `spec` (later overrides win).
struct PlanOverride {
    PatternKind kind = PatternKind::Exact;
    std::string pattern;
    QuantSpec spec;

    bool operator==(const PlanOverride&) const = default;
};

struct QuantPlan {
    QuantSpec defaultSpec;
    std::vector<PlanOverride> overrides;  ///< in order; the last match wins
    std::vector<std::string> skip;        ///< glob patterns of tensors left unquantized (kept as stored)

    bool operator==(const QuantPlan&) const = default;

    /// The spec for a tensor, or nullopt if it is skipped. Precedence: the last matching override
    /// (exact, glob or regex) gives the spec; a skip pattern keeps the tensor as stored unless an
    /// exact-name override names it (a rule written for one tensor beats a pattern for many, so
    /// editing or resetting a tensor always takes effect).
    std::optional<QuantSpec> specFor(const std::string& tensorName) const;
    /// Sets an exact-name override for one tensor (replacing an earlier exact override of it) and
    /// lifts an exact skip of it (skipTensor), so an edit always takes effect.
    void setSpec(const std::string& tensorName, const QuantSpec& spec);
    /// Removes the exact-name override of a tensor, if any.
    void clearSpec(const std::string& tensorName);
    /// True when a glob or regex override matches the tensor (exact overrides do not count).
    bool matchedByPattern(const std::string& tensorName) const;
    /// True when a skip pattern other than the tensor's own exact skip matches it.
    bool skippedByPattern(const std::string& tensorName) const;
    /// Keeps one tensor as stored: removes its exact override and adds the skip pattern
    /// globEscape(tensorName) (once).
    void skipTensor(const std::string& tensorName);
};

/// A glob matching exactly `text`: '*', '?' and '[' are written as one-character sets ("[*]").
std::string globEscape(const std::string& text);

/// Shell-style glob: '*' any run, '?' one character, '[abc]' a set. Whole-string match.
bool globMatch(const std::string& pattern, const std::string& text);
/// Tests a pattern of any kind against a name (an invalid regex never matches).
bool patternMatches(PatternKind kind, const std::string& pattern, const std::string& name);
/// Checks a regex compiles (InvalidArgument with the reason otherwise).
Result<void> validatePattern(PatternKind kind, const std::string& pattern);

} // namespace ql
