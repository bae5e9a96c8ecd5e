// quantlens-cli calibrate: activation ranges per layer from a calibration set, and the layer-output
// error of a weight spec on those activations.

#include "app/cli/cli_args.h"
#include "app/cli/cli_commands.h"
#include "app/cli/cli_json.h"
#include "core/calib/calibration.h"
#include "core/io/model.h"
#include "core/quant/quantize.h"

#include <charconv>
#include <cstdio>
#include <iostream>

namespace ql::cli {

namespace {

const char* kUsage =
    "usage: quantlens-cli calibrate MODEL CALIB [--observer O] [--per-channel] [--act-bits B]\n"
    "                               [--act-symmetric] [spec flags] [--json]\n"
    "Reads a calibration set (one tensor per layer, named after the layer it feeds, shape\n"
    "[samples, features] or [samples, C, H, W]; safetensors, .npz, .npy folder or HDF5), matches each\n"
    "layer to its weight in MODEL, prints the activation ranges the observer chooses and the\n"
    "layer-output error ||X W^T - X Wq^T||_F / ||X W^T||_F of the weight spec (spec flags).\n"
    "  --observer O            minmax | ema | percentile:P | mse | kl (default minmax)\n"
    "  --per-channel           one range per input channel (dim 1 of the samples)\n"
    "  --act-bits B            activation grid for percentile/mse/kl (default 8)\n"
    "  --act-symmetric         symmetric activation grid (default asymmetric)\n"
    "  --json                  one JSON object instead of a table\n";

} // namespace

int runCalibrate(const std::vector<std::string>& argv)
{
    std::set<std::string> flags = specFlagNames();
    flags.insert({"json", "help", "per-channel", "act-symmetric"});
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
    allowed.insert({"json", "help", "per-channel", "act-symmetric", "observer", "act-bits"});
    if (auto ok = args->allowOnly(allowed); !ok) {
        printError(ok.error().toString());
        return kExitUsage;
    }
    if (args->positionals().size() != 2) {
        printError("calibrate needs MODEL and CALIB (see quantlens-cli calibrate --help)");
        return kExitUsage;
    }
    auto spec = specFromArgs(*args);
    if (!spec) {
        printError(spec.error().toString());
        return kExitUsage;
    }
    calib::ObserverOptions oo;
    if (auto o = args->get("observer")) {
        auto obs = calib::parseObserver(*o);
        if (!obs) {
            printError(obs.error().toString());
            return kExitUsage;
        }
        oo.observer = *obs;
    }
    if (auto b = args->get("act-bits")) {
        int bits = 0;
        const auto [p, ec] = std::from_chars(b->data(), b->data() + b->size(), bits);
        if (ec != std::errc() || p != b->data() + b->size() || bits < 2 || bits > 16) {
            printError("--act-bits needs an integer in 2..16, got '" + *b + "'");
            return kExitUsage;
        }
        oo.bits = bits;
    }
    oo.perChannel = args->has("per-channel");
    oo.scheme = args->has("act-symmetric") ? Scheme::Symmetric : Scheme::Asymmetric;

    const std::string modelPath = args->positionals()[0], calPath = args->positionals()[1];
    auto model = openModel(modelPath);
    if (!model) {
        printError(model.error().toString());
        return kExitUsage;
    }
    auto set = calib::loadCalibrationSet(calPath);
    if (!set) {
        printError(set.error().toString());
        return kExitUsage;
    }
    auto bindings = calib::bindToModel(*set, **model);
    if (!bindings) {
        printError(bindings.error().toString());
        return kExitUsage;
    }
    auto ranges = calib::observeRanges(*set, oo);
    if (!ranges) {
        printError(ranges.error().toString());
        return kExitFailure;
    }
    nlohmann::json layers = nlohmann::json::array();
    if (!args->has("json")) {
        std::printf("model            %s\ncalibration      %s\nobserver         %s%s, activation grid int%d %s\n",
                    modelPath.c_str(), calPath.c_str(), calib::observerName(oo.observer).c_str(),
                    oo.perChannel ? " per-channel" : " per-tensor", oo.bits, schemeName(oo.scheme));
        std::printf("weight spec      %s\n\n", specShortName(*spec).c_str());
        std::printf("%-12s %-20s %-18s %12s %12s %12s %12s %10s\n", "layer", "samples", "weight", "min", "max", "lo",
                    "hi", "out err");
    }
    QuantOptions qo;
    qo.keepCodes = false;
    for (std::size_t i = 0; i < bindings->size(); ++i) {
        const auto& b = (*bindings)[i];
        const auto& cl = set->layers[b.calibIndex];
        const auto& lr = (*ranges)[b.calibIndex];
        auto w = (**model).readTensor(b.tensorIndex);
        if (!w) {
            printError(w.error().toString());
            return kExitFailure;
        }
        QuantSpec s = *spec;
        if (b.inOutLayout && s.granularity.kind != GranularityKind::Tensor)
            s.granularity.axis = 1;  // Keras Dense [in, out]: output channels are axis 1
        auto q = quantize(w->view(), s, qo);
        if (!q) {
            printError(q.error().within(b.weightName).toString());
            return q.error().code == ErrorCode::InvalidSpec ? kExitUsage : kExitFailure;
        }
        auto err = calib::layerOutputError(cl.samples.view(), w->view(), q->dequant.data(), b.inOutLayout);
        if (!err) {
            printError(err.error().within("calibration layer '" + cl.layer + "'").toString());
            return kExitUsage;
        }
        if (args->has("json")) {
            nlohmann::json r = nlohmann::json::array();
            for (const auto& c : lr.ranges)
                r.push_back({number(c.lo), number(c.hi)});
            layers.push_back({{"layer", cl.layer},
                              {"tensor", b.weightName},
                              {"samples", cl.sampleCount()},
                              {"sample_shape", Shape(cl.samples.shape.begin() + 1, cl.samples.shape.end())},
                              {"min", number(lr.minMax.lo)},
                              {"max", number(lr.minMax.hi)},
                              {"ranges", r},
                              {"weight_sqnr_db", number(q->metrics.sqnrDb)},
                              {"output_error", number(*err)}});
        } else {
            const ClipRange r0 = lr.ranges.front();
            std::printf("%-12s %-20s %-18s %12.5g %12.5g %12.5g %12.5g %10.5f\n", cl.layer.c_str(),
                        shapeToString(cl.samples.shape).c_str(), shapeToString(w->shape).c_str(), lr.minMax.lo,
                        lr.minMax.hi, r0.lo, r0.hi, *err);
            if (lr.ranges.size() > 1)
                for (std::size_t c = 1; c < lr.ranges.size(); ++c)
                    std::printf("%-12s %-20s %-18s %12s %12s %12.5g %12.5g\n", "", ("  channel " + std::to_string(c)).c_str(),
                                "", "", "", lr.ranges[c].lo, lr.ranges[c].hi);
        }
    }
    if (args->has("json")) {
        nlohmann::json j;
        j["model"] = modelPath;
        j["calibration"] = calPath;
        j["observer"] = calib::observerName(oo.observer);
        j["per_channel"] = oo.perChannel;
        j["act_bits"] = oo.bits;
        j["act_scheme"] = schemeName(oo.scheme);
        j["weight_spec"] = specToJson(*spec);
        j["weight_spec_short"] = specShortName(*spec);
        j["layers"] = layers;
        std::cout << j.dump(2) << "\n";
    }
    return kExitOk;
}

} // namespace ql::cli
