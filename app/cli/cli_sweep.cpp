// quantlens-cli sweep: the per-tensor error table for every combination of formats, bits and
// granularities (the data behind the trade-off charts).

#include "app/cli/cli_args.h"
#include "app/cli/cli_commands.h"
#include "app/cli/cli_json.h"
#include "core/io/model.h"
#include "core/quant/format_traits.h"
#include "core/quant/plan.h"
#include "core/quant/quantize.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>

namespace ql::cli {

namespace {

std::atomic<bool> g_sweepInterrupted{false};

extern "C" void onSweepSigint(int)
{
    g_sweepInterrupted.store(true);
}

const char* kSweepUsage =
    "usage: quantlens-cli sweep MODEL [--bits LO..HI|B,B,...] [--formats F,F,...] [--granularity G;G...]\n"
    "                           [--range R] [--symmetric] [--tensors GLOB] [--csv | --json] [--quiet]\n"
    "Quantizes every floating-point tensor under every combination and prints one row per\n"
    "(tensor, format, bits, granularity): bits per weight, SQNR, MSE, max |error|, cosine.\n"
    "  --bits       2..8 (a range) or 2,4,8 (default 4); formats with fixed bits use their own once\n"
    "  --formats    format names (see `quantlens-cli formats`; default int)\n"
    "  --granularity  comma-separated: tensor, channel[:AXIS], group:SIZE[:AXIS] (default channel)\n"
    "  --range      range method for every combination (default minmax)\n"
    "  --symmetric  symmetric codes for formats that have a scheme\n"
    "  --tensors    only tensors whose name matches this glob\n"
    "  --csv        comma-separated values; --json: a JSON array\n"
    "A combination that does not fit a tensor is listed with status \"n/a\" and the reason.\n"
    "exit codes: 0 ok, 1 failure or cancelled, 2 bad usage or input\n";

std::vector<std::string> split(const std::string& s, char sep)
{
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

Result<std::vector<int>> parseBits(const std::string& s)
{
    std::vector<int> out;
    auto toInt = [](const std::string& t) -> std::optional<int> {
        if (t.empty() || t.size() > 3 || t.find_first_not_of("0123456789") != std::string::npos)
            return std::nullopt;
        return std::stoi(t);
    };
    if (const auto dots = s.find(".."); dots != std::string::npos) {
        auto lo = toInt(s.substr(0, dots)), hi = toInt(s.substr(dots + 2));
        if (!lo || !hi || *lo > *hi)
            return makeError(ErrorCode::InvalidArgument, "bad --bits range '" + s + "' (expected LO..HI)");
        for (int b = *lo; b <= *hi; ++b)
            out.push_back(b);
        return out;
    }
    for (const auto& p : split(s, ',')) {
        auto b = toInt(p);
        if (!b)
            return makeError(ErrorCode::InvalidArgument, "bad --bits value '" + p + "'");
        out.push_back(*b);
    }
    return out;
}

std::string csvQuote(const std::string& s)
{
    if (s.find_first_of(",\"\n") == std::string::npos)
        return s;
    std::string q = "\"";
    for (char c : s)
        q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

} // namespace

int runSweep(const std::vector<std::string>& argv)
{
    auto args = Args::parse(argv, {"help", "csv", "json", "symmetric", "quiet"});
    if (!args) {
        printError(args.error().toString());
        return kExitUsage;
    }
    if (args->has("help")) {
        std::fputs(kSweepUsage, stdout);
        return kExitOk;
    }
    if (auto ok = args->allowOnly({"help", "csv", "json", "symmetric", "quiet", "bits", "formats", "granularity",
                                   "range", "tensors"});
        !ok) {
        printError(ok.error().toString());
        return kExitUsage;
    }
    if (args->positionals().size() != 1) {
        printError("sweep needs exactly one MODEL (see quantlens-cli sweep --help)");
        return kExitUsage;
    }
    if (args->has("csv") && args->has("json")) {
        printError("give --csv or --json, not both");
        return kExitUsage;
    }
    auto bits = parseBits(args->getOr("bits", "4"));
    if (!bits) {
        printError(bits.error().toString());
        return kExitUsage;
    }
    std::vector<Format> formats;
    for (const auto& n : split(args->getOr("formats", "int"), ',')) {
        auto f = formatFromName(n);
        if (!f) {
            printError("unknown format '" + n + "' (see quantlens-cli formats)");
            return kExitUsage;
        }
        formats.push_back(*f);
    }
    std::vector<Granularity> grans;
    for (const auto& g : split(args->getOr("granularity", "channel"), ',')) {
        auto r = parseGranularity(g);
        if (!r) {
            printError(r.error().toString());
            return kExitUsage;
        }
        grans.push_back(*r);
    }
    RangeMethod range;
    if (auto r = args->get("range")) {
        auto m = parseRangeMethod(*r);
        if (!m) {
            printError(m.error().toString());
            return kExitUsage;
        }
        range = *m;
    }
    const std::string modelPath = args->positionals()[0];
    auto model = openModel(modelPath);
    if (!model) {
        printError(model.error().toString());
        return kExitUsage;
    }

    // The combinations, each with its spec (fixed-bit formats once, whatever --bits says).
    struct Combo {
        QuantSpec spec;
        std::string granText;
    };
    std::vector<Combo> combos;
    const auto granTexts = split(args->getOr("granularity", "channel"), ',');
    for (Format f : formats) {
        const FormatTraits& t = formatTraits(f);
        std::vector<int> fb;
        for (int b : *bits)
            if (b >= t.minBits && b <= t.maxBits)
                fb.push_back(b);
        if (fb.empty())
            fb.push_back(t.defaultBits);
        for (int b : fb)
            for (std::size_t g = 0; g < grans.size(); ++g) {
                QuantSpec s = defaultSpec(f);
                s.bits = b;
                if (t.blockSize <= 0)
                    s.granularity = grans[g];
                else if (g > 0)
                    continue;  // block formats fix their own granularity: one row
                s.range = range;
                if (args->has("symmetric") && t.has(kParamScheme))
                    s.scheme = Scheme::Symmetric;
                combos.push_back({s, t.blockSize > 0 ? "block" + std::to_string(t.blockSize) : granTexts[g]});
            }
    }

    const auto glob = args->get("tensors");
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < (*model)->tensors().size(); ++i) {
        const auto& t = (*model)->tensors()[i];
        const bool isFloat = t.storedFormat || (t.dtype && (*t.dtype == DType::F32 || *t.dtype == DType::F16 ||
                                                          *t.dtype == DType::BF16 || *t.dtype == DType::F64));
        if (!t.supported || !isFloat || (glob && !globMatch(*glob, t.name)))
            continue;
        todo.push_back(i);
    }

    g_sweepInterrupted.store(false);
    struct sigaction sa {};
    sa.sa_handler = onSweepSigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    TaskContext ctx;
    ctx.isCancelled = [] { return g_sweepInterrupted.load(); };
    const bool quiet = args->has("quiet");
    const bool tty = isatty(STDERR_FILENO) != 0;

    const bool csv = args->has("csv"), json = args->has("json");
    nlohmann::json rows = nlohmann::json::array();
    if (csv)
        std::puts("tensor,format,bits,granularity,spec,status,bits_per_weight,sqnr_db,mse,max_abs_error,cosine,reason");
    else if (!json)
        std::printf("%-44s %-9s %4s %-11s %9s %9s %12s %12s  %s\n", "tensor", "format", "bits", "granularity",
                    "bits/w", "SQNR dB", "MSE", "max |err|", "status");
    for (std::size_t k = 0; k < todo.size(); ++k) {
        if (g_sweepInterrupted.load()) {
            printError("cancelled");
            signal(SIGINT, SIG_DFL);
            return kExitFailure;
        }
        const auto& info = (*model)->tensors()[todo[k]];
        if (!quiet)
            std::fprintf(stderr, tty ? "\rsweep %zu/%zu %-40.40s" : "sweep %zu/%zu %s\n", k + 1, todo.size(),
                         info.name.c_str());
        auto x = (*model)->readTensor(todo[k], ctx);
        if (!x) {
            if (x.error().code == ErrorCode::Cancelled)
                continue;
            printError(x.error().toString());
            signal(SIGINT, SIG_DFL);
            return kExitFailure;
        }
        for (const auto& c : combos) {
            QuantOptions opt;
            opt.keepCodes = false;
            opt.keepDequant = false;
            auto r = quantize(x->view(), c.spec, opt, ctx);
            if (!r && r.error().code == ErrorCode::Cancelled)
                break;
            const std::string fmt(formatTraits(c.spec.format).name);
            if (json) {
                nlohmann::json e = {{"tensor", info.name},     {"shape", info.logicalShape}, {"format", fmt},
                                    {"bits", c.spec.bits},     {"granularity", c.granText},
                                    {"spec", specToJson(c.spec)}, {"spec_short", specShortName(c.spec)}};
                if (r) {
                    e["status"] = "ok";
                    e["metrics"] = metricsJson(r->metrics);
                    e["bits_per_weight"] = number(r->bitsPerWeight);
                } else {
                    e["status"] = "n/a";
                    e["reason"] = r.error().toString();
                }
                rows.push_back(e);
            } else if (csv) {
                if (r)
                    std::printf("%s,%s,%d,%s,%s,ok,%.6f,%.6f,%.9g,%.9g,%.9f,\n", csvQuote(info.name).c_str(),
                                fmt.c_str(), c.spec.bits, csvQuote(c.granText).c_str(),
                                csvQuote(specShortName(c.spec)).c_str(), r->bitsPerWeight, r->metrics.sqnrDb,
                                r->metrics.mse, r->metrics.maxAbsError, r->metrics.cosine);
                else
                    std::printf("%s,%s,%d,%s,%s,n/a,,,,,,%s\n", csvQuote(info.name).c_str(), fmt.c_str(), c.spec.bits,
                                csvQuote(c.granText).c_str(), csvQuote(specShortName(c.spec)).c_str(),
                                csvQuote(r.error().message).c_str());
            } else {
                if (r)
                    std::printf("%-44s %-9s %4d %-11s %9.4f %9.3f %12.6g %12.6g  ok\n", info.name.c_str(), fmt.c_str(),
                                c.spec.bits, c.granText.c_str(), r->bitsPerWeight, r->metrics.sqnrDb, r->metrics.mse,
                                r->metrics.maxAbsError);
                else
                    std::printf("%-44s %-9s %4d %-11s %9s %9s %12s %12s  n/a: %s\n", info.name.c_str(), fmt.c_str(),
                                c.spec.bits, c.granText.c_str(), "-", "-", "-", "-", r.error().message.c_str());
            }
        }
        std::fflush(stdout);
    }
    if (!quiet && tty)
        std::fputc('\n', stderr);
    signal(SIGINT, SIG_DFL);
    if (g_sweepInterrupted.load()) {
        printError("cancelled");
        return kExitFailure;
    }
    if (json)
        std::cout << rows.dump(2) << "\n";
    return kExitOk;
}

} // namespace ql::cli
