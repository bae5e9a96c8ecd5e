// quantlens-cli: the QuantLens core for scripts and headless jobs.

#include "app/cli/cli_args.h"
#include "app/cli/cli_commands.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace ql::cli {

const std::vector<Command>& commands()
{
    static const std::vector<Command> k{
        {"stats", "metrics of one quantization spec on one tensor", &runStats},
        {"formats", "list every quantization format and its properties", &runFormats},
        {"inspect", "the tensors of a model file: types, shapes, sizes, layers, roles", &runInspect},
        {"calibrate", "activation ranges per layer from a calibration set", &runCalibrate},
        {"evaluate", "accuracy of a demo model under a quantization plan", &runEvaluate},
        {"train-demo", "regenerate the bundled demo models from their seeds", &runTrainDemo},
        {"quantize", "export a model quantized under a config or one spec", &runQuantize},
        {"sweep", "per-tensor error table for every format x bits x granularity", &runSweep},
        {"config", "validate a config, start one, write the plan for other tools", &runConfig},
    };
    return k;
}

} // namespace ql::cli

namespace {

void printHelp()
{
    std::puts("usage: quantlens-cli COMMAND [ARGS] (COMMAND --help for its options)\n\ncommands:");
    for (const auto& c : ql::cli::commands())
        std::printf("  %-10s %s\n", c.name, c.summary);
    std::puts("\nexit codes: 0 ok, 1 failure, 2 bad usage or input");
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
        printHelp();
        return argc < 2 ? ql::cli::kExitUsage : ql::cli::kExitOk;
    }
    if (std::strcmp(argv[1], "--version") == 0) {
        std::puts("quantlens-cli " QL_VERSION);
        return 0;
    }
    const std::vector<std::string> rest(argv + 2, argv + argc);
    for (const auto& c : ql::cli::commands())
        if (c.name == std::string(argv[1]))
            return c.run(rest);
    ql::cli::printError(std::string("unknown command '") + argv[1] + "' (see quantlens-cli --help)");
    return ql::cli::kExitUsage;
}
