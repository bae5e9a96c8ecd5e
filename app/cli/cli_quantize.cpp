// quantlens-cli quantize: export a model under a config or one spec; quantlens-cli config: validate a
// config, start one from a model, write the plan for other tools.

#include "app/cli/cli_args.h"
#include "app/cli/cli_commands.h"
#include "app/cli/cli_json.h"
#include "core/export/config.h"
#include "core/export/exporter.h"
#include "core/export/plan_export.h"
#include "core/io/atomic_file.h"
#include "core/io/model.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>

namespace ql::cli {

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void onSigint(int)
{
    g_interrupted.store(true);
}

const char* kQuantizeUsage =
    "usage: quantlens-cli quantize MODEL (--config CFG.json | [spec flags]) -o OUT.(safetensors|gguf|h5)\n"
    "                              [--fake-quant] [--skip GLOB[,GLOB...]] [--json] [--quiet]\n"
    "Quantizes every tensor of MODEL under a plan and writes the result (docs/export.md).\n"
    "  --config FILE           the plan: a QuantLens config (docs/config.md); or use the spec flags\n"
    "                          below for one spec for all tensors\n"
    "  -o, --output FILE       .safetensors (codes, scales, zero points), .gguf (GGUF v3), .h5 (HDF5)\n"
    "  --fake-quant            .safetensors of the dequantized weights in the source dtype\n"
    "  --skip GLOBS            with spec flags: tensors left unquantized (comma-separated globs)\n"
    "  --json                  one JSON report on stdout instead of a table\n"
    "  --quiet                 no progress on stderr\n"
    "Tensors whose shape does not fit the spec fall back (listed in the report, docs/export.md).\n"
    "Ctrl+C cancels; the partial output is removed and an existing OUT is left as it was.\n"
    "exit codes: 0 ok, 1 failure or cancelled, 2 bad usage or input\n";

/// A TaskContext that reads the SIGINT flag and prints progress on stderr.
struct CliProgress {
    bool quiet = false;
    bool tty = isatty(STDERR_FILENO) != 0;
    int lastPercent = -1;
    std::string label;

    TaskContext context()
    {
        TaskContext ctx;
        ctx.isCancelled = [] { return g_interrupted.load(); };
        ctx.reportProgress = [this](std::int64_t done, std::int64_t total) {
            if (quiet || total <= 0)
                return;
            const int pct = int(100 * done / total);
            if (pct == lastPercent || (!tty && pct % 10 != 0 && pct != 100))
                return;
            lastPercent = pct;
            std::fprintf(stderr, tty ? "\r%s %3d%%" : "%s %3d%%\n", label.c_str(), pct);
            if (tty && pct == 100)
                std::fputc('\n', stderr);
            std::fflush(stderr);
        };
        return ctx;
    }
};

void installSigint()
{
    g_interrupted.store(false);
    struct sigaction sa {};
    sa.sa_handler = onSigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
}

int exitCodeFor(const Error& e)
{
    switch (e.code) {
    case ErrorCode::InvalidArgument:
    case ErrorCode::InvalidSpec:
    case ErrorCode::Truncated:
    case ErrorCode::Corrupt:
    case ErrorCode::Unsupported:
    case ErrorCode::NotFound: return kExitUsage;
    default: return kExitFailure;
    }
}

std::vector<std::string> splitList(const std::string& s)
{
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == ',') {
            if (!cur.empty())
                out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty())
        out.push_back(cur);
    return out;
}

bool specFlagsGiven(const Args& a)
{
    for (const auto& n : specOptionNames())
        if (a.has(n))
            return true;
    return false;
}

nlohmann::json reportJson(const ExportReport& r)
{
    nlohmann::json j;
    j["output"] = r.path;
    j["format"] = exportFormatName(r.format);
    j["file_bytes"] = r.fileBytes;
    j["seconds"] = number(r.seconds);
    nlohmann::json ts = nlohmann::json::array();
    nlohmann::json fb = nlohmann::json::array();
    for (const auto& t : r.tensors) {
        nlohmann::json e = {{"name", t.name},
                            {"shape", t.shape},
                            {"source_type", t.sourceType},
                            {"stored_as", t.storedAs},
                            {"scheme", storageSchemeName(t.scheme)},
                            {"bytes", t.bytes},
                            {"bits_per_weight", number(t.bitsPerWeight)},
                            {"fallback", t.fallback},
                            {"reason", t.reason}};
        e["spec"] = t.used ? specToJson(*t.used) : nlohmann::json(nullptr);
        e["requested_spec"] = t.requested ? specToJson(*t.requested) : nlohmann::json(nullptr);
        e["sqnr_db"] = t.used ? number(t.sqnrDb) : nlohmann::json(nullptr);
        ts.push_back(e);
        if (t.fallback)
            fb.push_back({{"name", t.name}, {"stored_as", t.storedAs}, {"reason", t.reason}});
    }
    j["tensors"] = ts;
    j["fallbacks"] = fb;
    j["warnings"] = r.warnings;
    return j;
}

} // namespace

int runQuantize(const std::vector<std::string>& argv)
{
    std::set<std::string> flags = specFlagNames();
    flags.insert({"json", "help", "fake-quant", "quiet"});
    auto args = Args::parse(argv, flags);
    if (!args) {
        printError(args.error().toString());
        return kExitUsage;
    }
    if (args->has("help")) {
        std::fputs(kQuantizeUsage, stdout);
        std::fputs(specFlagsHelp(), stdout);
        return kExitOk;
    }
    std::set<std::string> allowed = specOptionNames();
    allowed.insert({"json", "help", "fake-quant", "quiet", "config", "output", "skip"});
    if (auto ok = args->allowOnly(allowed); !ok) {
        printError(ok.error().toString());
        return kExitUsage;
    }
    if (args->positionals().size() != 1) {
        printError("quantize needs exactly one MODEL (see quantlens-cli quantize --help)");
        return kExitUsage;
    }
    const auto out = args->get("output");
    if (!out || out->empty()) {
        printError("quantize needs -o OUT (see quantlens-cli quantize --help)");
        return kExitUsage;
    }
    if (args->has("config") && (specFlagsGiven(*args) || args->has("skip"))) {
        printError("give either --config or spec flags, not both");
        return kExitUsage;
    }
    auto format = exportFormatForPath(*out, args->has("fake-quant"));
    if (!format) {
        printError(format.error().toString());
        return kExitUsage;
    }
    QuantConfig config;
    if (auto cfgPath = args->get("config")) {
        auto c = loadConfig(*cfgPath);
        if (!c) {
            printError(c.error().toString());
            return kExitUsage;
        }
        config = *c;
    } else {
        auto spec = specFromArgs(*args);
        if (!spec) {
            printError(spec.error().toString());
            return kExitUsage;
        }
        config.plan.defaultSpec = *spec;
        if (auto skip = args->get("skip"))
            config.plan.skip = splitList(*skip);
    }
    const std::string modelPath = args->positionals()[0];
    auto model = openModel(modelPath);
    if (!model) {
        printError(model.error().toString());
        return kExitUsage;
    }
    const bool quiet = args->has("quiet");
    for (const auto& w : checkConfigAgainstModel(config, **model))
        std::fprintf(stderr, "quantlens-cli: warning: %s\n", w.c_str());

    installSigint();
    CliProgress progress;
    progress.quiet = quiet;
    progress.label = "quantize";
    TaskContext ctx = progress.context();
    ExportOptions options;
    options.format = *format;
    options.config = config;
    auto report = exportModel(**model, config.plan, *out, options, ctx);
    signal(SIGINT, SIG_DFL);
    if (!report) {
        if (report.error().code == ErrorCode::Cancelled) {
            printError("cancelled; " + *out + " was not written");
            return kExitFailure;
        }
        printError(report.error().toString());
        return exitCodeFor(report.error());
    }
    if (args->has("json")) {
        std::cout << reportJson(*report).dump(2) << "\n";
        return kExitOk;
    }
    std::printf("%-48s %-26s %10s %9s  %s\n", "tensor", "stored as", "bits/w", "SQNR dB", "note");
    for (const auto& t : report->tensors) {
        char sq[32] = "-";
        if (t.used && std::isfinite(t.sqnrDb))
            std::snprintf(sq, sizeof sq, "%.2f", t.sqnrDb);
        std::printf("%-48s %-26s %10.4f %9s  %s%s\n", t.name.c_str(), t.storedAs.c_str(), t.bitsPerWeight, sq,
                    t.fallback ? "FALLBACK: " : "", t.fallback ? t.reason.c_str() : "");
    }
    const auto fbs = report->fallbacks();
    std::printf("\nwrote %s (%s, %lld bytes, %.2f s), %zu tensors, %zu fallbacks\n", report->path.c_str(),
                exportFormatName(report->format), static_cast<long long>(report->fileBytes), report->seconds,
                report->tensors.size(), fbs.size());
    for (const auto* t : fbs)
        std::printf("fallback  %s -> %s: %s\n", t->name.c_str(), t->storedAs.c_str(), t->reason.c_str());
    for (const auto& w : report->warnings)
        std::printf("warning   %s\n", w.c_str());
    return kExitOk;
}

namespace {

const char* kConfigUsage =
    "usage: quantlens-cli config validate CFG.json [--model MODEL]\n"
    "       quantlens-cli config init MODEL [spec flags] [--skip GLOBS] -o CFG.json\n"
    "       quantlens-cli config export-plan CFG.json --model MODEL --tool TOOL [-o OUT]\n"
    "Config files (docs/config.md).\n"
    "  validate     checks a config; with --model also lists overrides naming tensors the model lacks\n"
    "  init         writes a config with one default spec and the model's identity\n"
    "  export-plan  writes the plan for TOOL: llama.cpp (--tensor-type-file), gptqmodel (`dynamic` map,\n"
    "               Python), llm-compressor (recipe YAML); stdout without -o\n"
    "exit codes: 0 ok, 1 failure, 2 bad usage or input (an invalid config)\n";

} // namespace

int runConfig(const std::vector<std::string>& argv)
{
    std::set<std::string> flags = specFlagNames();
    flags.insert({"help", "json"});
    auto args = Args::parse(argv, flags);
    if (!args) {
        printError(args.error().toString());
        return kExitUsage;
    }
    if (args->has("help") || args->positionals().empty()) {
        std::fputs(kConfigUsage, args->has("help") ? stdout : stderr);
        if (args->has("help"))
            std::fputs(specFlagsHelp(), stdout);
        return args->has("help") ? kExitOk : kExitUsage;
    }
    const std::string sub = args->positionals()[0];
    if (args->positionals().size() != 2) {
        printError("config " + sub + " needs one file argument (see quantlens-cli config --help)");
        return kExitUsage;
    }
    const std::string file = args->positionals()[1];
    if (sub == "validate") {
        if (auto ok = args->allowOnly({"help", "model", "json"}); !ok) {
            printError(ok.error().toString());
            return kExitUsage;
        }
        auto c = loadConfig(file);
        if (!c) {
            printError(c.error().toString());
            return kExitUsage;
        }
        std::vector<std::string> warnings;
        if (auto m = args->get("model")) {
            auto model = openModel(*m);
            if (!model) {
                printError(model.error().toString());
                return kExitUsage;
            }
            warnings = checkConfigAgainstModel(*c, **model);
        }
        if (args->has("json")) {
            std::cout << nlohmann::json{{"valid", true}, {"warnings", warnings}}.dump(2) << "\n";
        } else {
            std::printf("%s: valid config (format version %d, %zu overrides, %zu skip patterns)\n", file.c_str(),
                        c->formatVersion, c->plan.overrides.size(), c->plan.skip.size());
            for (const auto& w : warnings)
                std::printf("warning: %s\n", w.c_str());
        }
        return kExitOk;
    }
    if (sub == "init") {
        std::set<std::string> allowed = specOptionNames();
        allowed.insert({"help", "output", "skip"});
        if (auto ok = args->allowOnly(allowed); !ok) {
            printError(ok.error().toString());
            return kExitUsage;
        }
        const auto out = args->get("output");
        if (!out) {
            printError("config init needs -o CFG.json");
            return kExitUsage;
        }
        auto spec = specFromArgs(*args);
        if (!spec) {
            printError(spec.error().toString());
            return kExitUsage;
        }
        auto model = openModel(file);
        if (!model) {
            printError(model.error().toString());
            return kExitUsage;
        }
        QuantConfig c;
        c.plan.defaultSpec = *spec;
        if (auto skip = args->get("skip"))
            c.plan.skip = splitList(*skip);
        c.source = identifyModel(**model);
        if (auto ok = saveConfig(*out, c); !ok) {
            printError(ok.error().toString());
            return kExitFailure;
        }
        return kExitOk;
    }
    if (sub == "export-plan") {
        if (auto ok = args->allowOnly({"help", "model", "tool", "output"}); !ok) {
            printError(ok.error().toString());
            return kExitUsage;
        }
        const auto modelPath = args->get("model");
        const auto toolName = args->get("tool");
        if (!modelPath || !toolName) {
            printError("config export-plan needs --model MODEL and --tool TOOL");
            return kExitUsage;
        }
        auto tool = planToolFromName(*toolName);
        if (!tool) {
            printError(tool.error().toString());
            return kExitUsage;
        }
        auto c = loadConfig(file);
        if (!c) {
            printError(c.error().toString());
            return kExitUsage;
        }
        auto model = openModel(*modelPath);
        if (!model) {
            printError(model.error().toString());
            return kExitUsage;
        }
        for (const auto& w : checkConfigAgainstModel(*c, **model))
            std::fprintf(stderr, "quantlens-cli: warning: %s\n", w.c_str());
        std::vector<PlanTensor> ts;
        for (const auto& t : (*model)->tensors())
            ts.push_back({t.name, t.logicalShape});
        const std::string text = exportPlanForTool(c->plan, ts, *tool);
        if (auto o = args->get("output")) {
            auto ok = writeFileAtomically(*o, [&](AtomicFile& f) { return f.write(text.data(), text.size()); });
            if (!ok) {
                printError(ok.error().toString());
                return kExitFailure;
            }
        } else {
            std::fputs(text.c_str(), stdout);
        }
        return kExitOk;
    }
    printError("unknown config subcommand '" + sub + "' (validate, init, export-plan)");
    return kExitUsage;
}

} // namespace ql::cli
