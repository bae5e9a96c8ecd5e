#pragma once
// The subcommands of quantlens-cli. Each lives in its own cli_<name>.cpp.

#include <string>
#include <vector>

namespace ql::cli {

struct Command {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>& args);  ///< args after the command name
};

/// All commands in the order `--help` lists them.
const std::vector<Command>& commands();

int runStats(const std::vector<std::string>& args);
int runFormats(const std::vector<std::string>& args);
int runInspect(const std::vector<std::string>& args);
int runCalibrate(const std::vector<std::string>& args);
int runEvaluate(const std::vector<std::string>& args);
int runTrainDemo(const std::vector<std::string>& args);
int runQuantize(const std::vector<std::string>& args);
int runSweep(const std::vector<std::string>& args);
int runConfig(const std::vector<std::string>& args);

} // namespace ql::cli
