// quantlens-cli evaluate: accuracy of a bundled demo model under a quantization plan.

#include "app/cli/cli_args.h"
#include "app/cli/cli_commands.h"
#include "app/cli/cli_json.h"
#include "core/export/config.h"
#include "core/nn/demo.h"

#include <charconv>
#include <cstdio>
#include <iostream>

namespace ql::cli {

namespace {

const char* kUsage =
    "usage: quantlens-cli evaluate --demo mlp|cnn [spec flags] [activation flags] [--json]\n"
    "Fake-quantizes the weights of a demo model (every '<layer>.weight' under the spec; biases stay\n"
    "float), optionally its activations, and reports test accuracy, agreement with the float model\n"
    "(top-1 match rate, mean KL of the softmax outputs) and per-layer sensitivity.\n"
    "  --demo mlp|cnn          the bundled model to evaluate\n"
    "  --config CFG.json       take the weight plan (default spec, overrides, skips) from a config\n"
    "  --weights-float         keep weights in float (activation quantization only)\n"
    "  --act-bits B            quantize the input of every layer to B bits (2..16)\n"
    "  --act-observer O        minmax | ema | percentile:P | mse | kl (static ranges; default minmax)\n"
    "  --act-symmetric         symmetric activation grid (default asymmetric)\n"
    "  --act-per-channel       one activation range per input channel\n"
    "  --dynamic               per-sample min-max activation ranges at run time\n"
    "  --calib FILE            calibration set to use instead of the bundled inputs\n"
    "  --calib-samples N       use only the first N calibration samples\n"
    "  --no-sensitivity        skip the one-layer-at-a-time evaluations\n"
    "  --resources DIR         demo resources directory (default: found automatically)\n"
    "  --json                  one JSON object instead of a table\n";

Result<std::int64_t> parseInt(const std::string& flag, const std::string& v, std::int64_t lo, std::int64_t hi)
{
    std::int64_t x = 0;
    const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || p != v.data() + v.size() || x < lo || x > hi)
        return makeError(ErrorCode::InvalidArgument,
                         "--" + flag + " needs an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                             ", got '" + v + "'");
    return x;
}

nlohmann::json rangesJson(const std::vector<ClipRange>& r)
{
    nlohmann::json a = nlohmann::json::array();
    for (const auto& c : r)
        a.push_back({number(c.lo), number(c.hi)});
    return a;
}

} // namespace

int runEvaluate(const std::vector<std::string>& argv)
{
    std::set<std::string> flags = specFlagNames();
    flags.insert({"json", "help", "dynamic", "act-symmetric", "act-per-channel", "no-sensitivity", "weights-float"});
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
    allowed.insert({"json", "help", "dynamic", "act-symmetric", "act-per-channel", "no-sensitivity", "weights-float",
                    "demo", "act-bits", "act-observer", "calib", "calib-samples", "resources", "config"});
    if (auto ok = args->allowOnly(allowed); !ok) {
        printError(ok.error().toString());
        return kExitUsage;
    }
    if (!args->positionals().empty() || !args->has("demo")) {
        printError("evaluate needs --demo mlp|cnn and no positional arguments (see quantlens-cli evaluate --help)");
        return kExitUsage;
    }
    auto kind = nn::demoKindFromName(*args->get("demo"));
    if (!kind) {
        printError(kind.error().toString());
        return kExitUsage;
    }
    auto spec = specFromArgs(*args);
    if (!spec) {
        printError(spec.error().toString());
        return kExitUsage;
    }
    QuantPlan plan;
    plan.defaultSpec = *spec;
    if (auto cfgPath = args->get("config")) {
        for (const auto& name : specOptionNames())
            if (args->has(name)) {
                printError("--config and --" + name + " cannot be combined (the config holds the plan)");
                return kExitUsage;
            }
        auto cfg = loadConfig(*cfgPath);
        if (!cfg) {
            printError(cfg.error().toString());
            return kExitUsage;
        }
        plan = cfg->plan;
    }
    if (args->has("weights-float"))
        plan.defaultSpec.format = Format::F32;

    nn::ActQuantConfig act;
    if (auto b = args->get("act-bits")) {
        auto bits = parseInt("act-bits", *b, 2, 16);
        if (!bits) {
            printError(bits.error().toString());
            return kExitUsage;
        }
        act.enabled = true;
        act.bits = int(*bits);
    }
    const bool actFlags = args->has("act-observer") || args->has("act-symmetric") || args->has("act-per-channel") ||
                          args->has("dynamic");
    if (actFlags && !act.enabled) {
        printError("activation flags need --act-bits");
        return kExitUsage;
    }
    if (auto o = args->get("act-observer")) {
        auto obs = calib::parseObserver(*o);
        if (!obs) {
            printError(obs.error().toString());
            return kExitUsage;
        }
        act.observer = *obs;
    }
    act.scheme = args->has("act-symmetric") ? Scheme::Symmetric : Scheme::Asymmetric;
    act.perChannel = args->has("act-per-channel");
    act.dynamic = args->has("dynamic");
    if (auto n = args->get("calib-samples")) {
        auto v = parseInt("calib-samples", *n, 1, std::int64_t(1) << 30);
        if (!v) {
            printError(v.error().toString());
            return kExitUsage;
        }
        act.calibrationSamples = *v;
    }

    auto model = nn::loadDemoModel(*kind, args->getOr("resources", ""));
    if (!model) {
        printError(model.error().toString());
        return kExitFailure;
    }
    std::optional<calib::CalibrationSet> userCal;
    nn::EvalOptions eo;
    eo.sensitivity = !args->has("no-sensitivity");
    if (auto c = args->get("calib")) {
        auto set = calib::loadCalibrationSet(*c);
        if (!set) {
            printError(set.error().toString());
            return kExitUsage;
        }
        userCal = std::move(*set);
        eo.calibration = &*userCal;
    }
    auto rep = nn::evaluate(*model, plan, act, eo);
    if (!rep) {
        printError(rep.error().toString());
        const ErrorCode c = rep.error().code;
        return c == ErrorCode::InvalidSpec || c == ErrorCode::NotFound || c == ErrorCode::ShapeMismatch ? kExitUsage
                                                                                                      : kExitFailure;
    }
    if (args->has("json")) {
        nlohmann::json j;
        j["model"] = rep->model;
        j["spec"] = specToJson(plan.defaultSpec);
        j["spec_short"] = plan.defaultSpec.format == Format::F32 ? "f32" : specShortName(plan.defaultSpec);
        j["activations"] = act.enabled ? nlohmann::json{{"bits", act.bits},
                                                        {"scheme", schemeName(act.scheme)},
                                                        {"per_channel", act.perChannel},
                                                        {"dynamic", act.dynamic},
                                                        {"observer", calib::observerName(act.observer)}}
                                       : nlohmann::json(nullptr);
        j["test_samples"] = rep->testSamples;
        j["calibration_samples"] = rep->calibrationSamples;
        j["float_accuracy"] = rep->floatAccuracy;
        j["accuracy"] = rep->accuracy;
        j["accuracy_drop"] = rep->floatAccuracy - rep->accuracy;
        j["agreement"] = rep->agreement;
        j["mean_kl"] = rep->meanKl;
        nlohmann::json layers = nlohmann::json::array();
        for (const auto& l : rep->layers)
            layers.push_back({{"layer", l.layer},
                              {"tensor", l.weightName},
                              {"kind", l.kind},
                              {"shape", l.weightShape},
                              {"quantized", l.quantized},
                              {"spec", l.spec},
                              {"bits_per_weight", l.bitsPerWeight},
                              {"weight_sqnr_db", number(l.weightSqnrDb)},
                              {"output_error", number(l.outputError)},
                              {"activation_ranges", rangesJson(l.actRanges)},
                              {"accuracy", l.accuracy},
                              {"accuracy_drop", l.accuracyDrop},
                              {"agreement", l.agreement}});
        j["layers"] = layers;
        j["warnings"] = rep->warnings;
        std::cout << j.dump(2) << "\n";
        return kExitOk;
    }
    std::printf("model            %s (%lld test samples, %lld calibration samples)\n", rep->model.c_str(),
                static_cast<long long>(rep->testSamples), static_cast<long long>(rep->calibrationSamples));
    std::printf("weights          %s\n",
                plan.defaultSpec.format == Format::F32 ? "f32" : specShortName(plan.defaultSpec).c_str());
    if (act.enabled)
        std::printf("activations      int%d %s%s %s\n", act.bits, schemeName(act.scheme),
                    act.perChannel ? " per-channel" : "",
                    act.dynamic ? "dynamic" : ("static " + calib::observerName(act.observer)).c_str());
    std::printf("float accuracy   %.2f %%\n", 100.0 * rep->floatAccuracy);
    std::printf("accuracy         %.2f %% (drop %.2f points)\n", 100.0 * rep->accuracy,
                100.0 * (rep->floatAccuracy - rep->accuracy));
    std::printf("agreement        %.2f %%\n", 100.0 * rep->agreement);
    std::printf("mean KL          %.6g nats\n", rep->meanKl);
    std::printf("\n%-8s %-22s %-24s %10s %12s %10s %10s\n", "layer", "shape", "spec", "SQNR dB", "output err",
                "acc %", "drop pts");
    for (const auto& l : rep->layers)
        std::printf("%-8s %-22s %-24s %10.2f %12.5f %10.2f %10.2f\n", l.layer.c_str(),
                    shapeToString(l.weightShape).c_str(), l.spec.c_str(), l.weightSqnrDb, l.outputError,
                    100.0 * l.accuracy, 100.0 * l.accuracyDrop);
    return kExitOk;
}

} // namespace ql::cli
