// quantlens-cli stats: the metrics of one spec on one tensor.

#include "app/cli/cli_args.h"
#include "app/cli/cli_commands.h"
#include "app/cli/cli_json.h"
#include "app/cli/cli_load.h"
#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <cstdio>
#include <iostream>

namespace ql::cli {

namespace {

const char* kUsage =
    "usage: quantlens-cli stats FILE [--tensor NAME] [spec flags] [--json]\n"
    "Quantizes one tensor under one spec and prints its error metrics.\n"
    "  --tensor NAME           tensor to use in a multi-tensor file\n"
    "  --json                  one JSON object instead of a table\n";

} // namespace

int runStats(const std::vector<std::string>& argv)
{
    std::set<std::string> flags = specFlagNames();
    flags.insert({"json", "help"});
    auto args = Args::parse(argv, flags);
    if (!args) {
        printError(args.error().toString());
        return kExitUsage;
    }
    if (args->has("help")) {
        std::fputs(kUsage, stdout);
        std::fputs(specFlagsHelp(), stdout);
        return kExitOk;
    }
    std::set<std::string> allowed = specOptionNames();
    allowed.insert({"json", "tensor", "help"});
    if (auto ok = args->allowOnly(allowed); !ok) {
        printError(ok.error().toString());
        return kExitUsage;
    }
    if (args->positionals().size() != 1) {
        printError("stats needs exactly one FILE (see quantlens-cli stats --help)");
        return kExitUsage;
    }
    auto spec = specFromArgs(*args);
    if (!spec) {
        printError(spec.error().toString());
        return kExitUsage;
    }
    const std::string path = args->positionals()[0];
    auto tensor = loadTensor(path, args->get("tensor"));
    if (!tensor) {
        printError(tensor.error().toString());
        return kExitUsage;
    }
    QuantOptions opt;
    opt.keepCodes = false;
    opt.keepDequant = false;
    auto r = quantize(tensor->view(), *spec, opt);
    if (!r) {
        printError(r.error().within(path).toString());
        return r.error().code == ErrorCode::InvalidSpec ? kExitUsage : kExitFailure;
    }
    const Metrics& m = r->metrics;
    if (args->has("json")) {
        nlohmann::json j = metricsJson(m);
        j["bits_per_weight"] = r->bitsPerWeight;
        j["spec"] = specToJson(*spec);
        j["spec_short"] = specShortName(*spec);
        j["shape"] = tensor->shape;
        j["storage_bytes"] = r->storageBytes;
        j["warnings"] = r->warnings;
        std::cout << j.dump(2) << "\n";
        return kExitOk;
    }
    std::printf("tensor           %s %s\n", path.c_str(), shapeToString(tensor->shape).c_str());
    std::printf("spec             %s\n", specShortName(*spec).c_str());
    std::printf("elements         %lld (%lld non-finite)\n", static_cast<long long>(m.elements),
                static_cast<long long>(m.nonfinite));
    std::printf("SQNR             %.3f dB\n", m.sqnrDb);
    std::printf("MSE              %.6g (clipping %.6g + rounding %.6g)\n", m.mse, m.clipMse, m.roundMse);
    std::printf("RMSE             %.6g\n", m.rmse);
    std::printf("max |error|      %.6g\n", m.maxAbsError);
    std::printf("cosine           %.8f\n", m.cosine);
    std::printf("clipped          %.4f %% (%lld)\n", 100.0 * m.clipFraction, static_cast<long long>(m.clipped));
    std::printf("bits per weight  %.4f\n", r->bitsPerWeight);
    for (const auto& w : r->warnings)
        std::printf("warning          %s\n", w.c_str());
    return kExitOk;
}

int runFormats(const std::vector<std::string>& argv)
{
    auto args = Args::parse(argv, {"json", "help"});
    if (!args || args->allowOnly({"json", "help"}).has_value() == false || !args->positionals().empty()) {
        printError("usage: quantlens-cli formats [--json]");
        return kExitUsage;
    }
    if (args->has("help")) {
        std::puts("usage: quantlens-cli formats [--json]\nLists every quantization format and its properties.");
        return kExitOk;
    }
    const Shape ref{4096, 4096};
    if (args->has("json")) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& t : allFormats()) {
            const QuantSpec s = defaultSpec(t.format);
            list.push_back({{"name", std::string(t.name)},
                            {"display_name", std::string(t.displayName)},
                            {"family", familyName(t.family)},
                            {"min_bits", t.minBits},
                            {"max_bits", t.maxBits},
                            {"default_bits", t.defaultBits},
                            {"block_size", t.blockSize},
                            {"gguf_type", t.ggufType},
                            {"bits_per_weight_4096x4096", t.bitsPerWeight(s, ref)},
                            {"bits_formula", std::string(t.bitsFormula)},
                            {"parameters", formatParamNames(t)},
                            {"granularities", formatGranularityNames(t)},
                            {"description", std::string(t.description)}});
        }
        std::cout << list.dump(2) << "\n";
        return kExitOk;
    }
    const auto joined = [](const std::vector<std::string_view>& names) {
        std::string out;
        for (const auto& n : names)
            out.append(out.empty() ? "" : ",").append(n);
        return out.empty() ? std::string("-") : out;
    };
    std::printf("%-10s %-12s %-7s %-9s %-22s %-52s %s\n", "name", "family", "bits", "bpw*", "granularity",
                "parameters", "description");
    for (const auto& t : allFormats()) {
        const QuantSpec s = defaultSpec(t.format);
        const std::string bits =
            t.minBits == t.maxBits ? std::to_string(t.minBits) : std::to_string(t.minBits) + "-" + std::to_string(t.maxBits);
        std::printf("%-10s %-12s %-7s %-9.4f %-22s %-52s %s\n", std::string(t.name).c_str(), familyName(t.family),
                    bits.c_str(), t.bitsPerWeight(s, ref), joined(formatGranularityNames(t)).c_str(),
                    joined(formatParamNames(t)).c_str(), std::string(t.description).c_str());
    }
    std::puts("* bits per weight of the default spec on a 4096x4096 tensor, scales and zero points included");
    return kExitOk;
}

} // namespace ql::cli
