// Demo-model benchmarks: end-to-end evaluation of the CNN on its test set under a plan, and
// calibration statistics (engine run + observers) for 256 samples.
// Targets on 2 cores: evaluation ≤ 100 ms, calibration statistics ≤ 200 ms.

#include "bench/bench_util.h"
#include "core/calib/calibration.h"
#include "core/nn/demo.h"

#include <omp.h>

#include <cstdio>

using namespace ql;

int main()
{
    auto cnn = nn::loadDemoModel(nn::DemoKind::Cnn);
    auto mlp = nn::loadDemoModel(nn::DemoKind::Mlp);
    if (!cnn || !mlp) {
        std::fprintf(stderr, "bench_nn: %s\n", (!cnn ? cnn.error() : mlp.error()).toString().c_str());
        return 1;
    }
    std::printf("threads: %d\n", omp_get_max_threads());
    QuantPlan plan;
    plan.defaultSpec.bits = 4;
    plan.defaultSpec.granularity = Granularity{GranularityKind::Channel, 0, 128};
    nn::ActQuantConfig act;
    act.enabled = true;
    act.bits = 8;

    struct Case {
        const char* name;
        const nn::DemoModel* model;
        bool activations;
        bool sensitivity;
        double targetMs;
    };
    const Case cases[] = {
        {"cnn evaluate: int4 ch weights, 360 test samples", &*cnn, false, false, 100},
        {"cnn evaluate: int4 ch weights + int8 static act (minmax)", &*cnn, true, false, 100},
        {"cnn evaluate: + per-layer sensitivity (3 layers)", &*cnn, true, true, 0},
        {"mlp evaluate: int4 ch weights + int8 static act + sensitivity", &*mlp, true, true, 0},
    };
    for (const Case& c : cases) {
        nn::EvalOptions eo;
        eo.sensitivity = c.sensitivity;
        double acc = 0.0;
        const double t = bench::bestOf(10, [&] {
            auto r = nn::evaluate(*c.model, plan, c.activations ? act : nn::ActQuantConfig{}, eo);
            acc = r ? r->accuracy : -1.0;
        });
        std::printf("%-62s %8.2f ms  (accuracy %.4f)%s\n", c.name, 1e3 * t, acc,
                    c.targetMs > 0 ? (1e3 * t <= c.targetMs ? "  [target <= 100 ms: met]" : "  [target <= 100 ms: MISSED]")
                                   : "");
    }

    // Calibration statistics for 256 samples: record every layer's inputs with the engine, then the
    // observers over them.
    for (const char* obs : {"minmax", "ema", "percentile:99.99", "mse", "kl"}) {
        calib::ObserverOptions oo;
        oo.observer = *calib::parseObserver(obs);
        for (bool perChannel : {false, true}) {
            oo.perChannel = perChannel;
            const double t = bench::bestOf(5, [&] {
                auto set = nn::recordCalibrationSet(cnn->net, cnn->calibration, 256);
                if (set)
                    (void)calib::observeRanges(*set, oo);
            });
            std::printf("cnn calibration stats, 256 samples, %-17s %-11s %8.2f ms%s\n", obs,
                        perChannel ? "per-channel" : "per-tensor", 1e3 * t,
                        1e3 * t <= 200 ? "  [target <= 200 ms: met]" : "  [target <= 200 ms: MISSED]");
        }
    }
    return 0;
}
