// quantlens-cli train-demo: regenerates the bundled demo models and data files from digits.csv.gz.

#include "app/cli/cli_args.h"
#include "app/cli/cli_commands.h"
#include "core/nn/demo.h"

#include <chrono>
#include <cstdio>

namespace ql::cli {

int runTrainDemo(const std::vector<std::string>& argv)
{
    const char* usage =
        "usage: quantlens-cli train-demo [--out DIR]\n"
        "Trains the demo MLP and CNN from their fixed seeds on DIR/digits.csv.gz and writes\n"
        "mlp.safetensors, cnn.safetensors, digits_calibration.safetensors, digits_test.safetensors,\n"
        "mlp_calibration.safetensors and cnn_calibration.safetensors into DIR\n"
        "(default: the bundled resources directory, see QUANTLENS_RESOURCES).\n";
    auto args = Args::parse(argv, {"help"});
    if (!args) {
        printError(args.error().toString());
        return kExitUsage;
    }
    if (args->has("help")) {
        std::fputs(usage, stdout);
        return kExitOk;
    }
    if (auto ok = args->allowOnly({"out", "help"}); !ok || !args->positionals().empty()) {
        printError(ok ? "train-demo takes no positional arguments" : ok.error().toString());
        return kExitUsage;
    }
    std::string dir;
    if (auto out = args->get("out")) {
        dir = *out;
    } else {
        auto found = nn::findDemoResources();
        if (!found) {
            printError(found.error().toString());
            return kExitFailure;
        }
        dir = *found;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto r = nn::writeDemoResources(dir);
    if (!r) {
        printError(r.error().toString());
        return kExitFailure;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("mlp test accuracy  %.4f\ncnn test accuracy  %.4f\ntime               %.2f s\n", r->mlpTestAccuracy,
                r->cnnTestAccuracy, s);
    for (const auto& f : r->filesWritten)
        std::printf("wrote              %s\n", f.c_str());
    return kExitOk;
}

} // namespace ql::cli
