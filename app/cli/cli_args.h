#pragma once
// Minimal, strict command-line parsing for quantlens-cli (Qt-free, so the CLI runs headless).

#include "core/base/result.h"
#include "core/quant/spec.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ql::cli {

/// Exit codes (documented in the README).
enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitUsage = 2 };

/// Parsed arguments: positionals in order, options by name ("--bits 4" → {"bits","4"}),
/// flags ("--json") as options with an empty value.
class Args {
public:
    /// Parses argv[first..]. `flags` lists options that take no value; every other option takes one.
    /// Unknown options are an error only when checked with allowOnly().
    static Result<Args> parse(const std::vector<std::string>& argv, const std::set<std::string>& flags);

    const std::vector<std::string>& positionals() const { return m_positionals; }
    bool has(const std::string& name) const { return m_options.count(name) != 0; }
    std::optional<std::string> get(const std::string& name) const;
    std::string getOr(const std::string& name, const std::string& fallback) const;
    /// Error if any option is not in `allowed`.
    Result<void> allowOnly(const std::set<std::string>& allowed) const;

private:
    std::vector<std::string> m_positionals;
    std::map<std::string, std::string> m_options;
};

/// Option names of the spec flags shared by stats, evaluate, quantize ...
const std::set<std::string>& specOptionNames();
/// Flags (no value) among them.
const std::set<std::string>& specFlagNames();
/// Usage text of the spec flags.
const char* specFlagsHelp();

/// Builds a QuantSpec from --format --bits --symmetric --full-range --granularity --range
/// --scale-storage --rounding. Without flags: int8 asymmetric per-channel (axis 0) min-max.
Result<QuantSpec> specFromArgs(const Args& args);

/// Prints "quantlens-cli: <message>" on stderr (one line).
void printError(const std::string& message);

} // namespace ql::cli
