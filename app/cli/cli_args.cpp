#include "app/cli/cli_args.h"

#include "core/quant/format_traits.h"

#include <cstdio>

namespace ql::cli {

Result<Args> Args::parse(const std::vector<std::string>& argv, const std::set<std::string>& flags)
{
    Args a;
    for (std::size_t i = 0; i < argv.size(); ++i) {
        const std::string& s = argv[i];
        if (s.size() > 2 && s.rfind("--", 0) == 0) {
            std::string name = s.substr(2), value;
            const auto eq = name.find('=');
            if (eq != std::string::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
            } else if (!flags.count(name)) {
                if (i + 1 >= argv.size())
                    return makeError(ErrorCode::InvalidArgument, "option --" + name + " needs a value");
                value = argv[++i];
            }
            if (a.m_options.count(name))
                return makeError(ErrorCode::InvalidArgument, "option --" + name + " given twice");
            a.m_options[name] = value;
        } else if (s == "-o") {
            if (i + 1 >= argv.size())
                return makeError(ErrorCode::InvalidArgument, "option -o needs a value");
            a.m_options["output"] = argv[++i];
        } else {
            a.m_positionals.push_back(s);
        }
    }
    return a;
}

std::optional<std::string> Args::get(const std::string& name) const
{
    auto it = m_options.find(name);
    if (it == m_options.end())
        return std::nullopt;
    return it->second;
}

std::string Args::getOr(const std::string& name, const std::string& fallback) const
{
    return get(name).value_or(fallback);
}

Result<void> Args::allowOnly(const std::set<std::string>& allowed) const
{
    for (const auto& [k, v] : m_options)
        if (!allowed.count(k))
            return makeError(ErrorCode::InvalidArgument, "unknown option --" + k);
    return {};
}

const std::set<std::string>& specOptionNames()
{
    static const std::set<std::string> k{"format",      "bits",  "symmetric",     "full-range",
                                         "granularity", "range", "scale-storage", "rounding"};
    return k;
}

const std::set<std::string>& specFlagNames()
{
    static const std::set<std::string> k{"symmetric", "full-range"};
    return k;
}

const char* specFlagsHelp()
{
    return "  --format NAME           quantization format (see `quantlens-cli formats`; default int)\n"
           "  --bits B                bits per code (int: 2..16; default: the format's)\n"
           "  --symmetric             symmetric signed codes, restricted range (default: asymmetric)\n"
           "  --full-range            with --symmetric: use the full signed range [-2^(b-1), 2^(b-1)-1]\n"
           "  --granularity G         tensor | channel[:AXIS] | group:SIZE[:AXIS] (default channel:0)\n"
           "  --range R               minmax | percentile:P | mse | kl (default minmax)\n"
           "  --scale-storage S       f32 | f16 | bf16 | int8 (double quantization; default f32)\n"
           "  --rounding R            half_even | half_away (default half_even)\n";
}

Result<QuantSpec> specFromArgs(const Args& args)
{
    QuantSpec s;
    s.granularity = Granularity{GranularityKind::Channel, 0, 128};
    if (auto f = args.get("format")) {
        auto fmt = formatFromName(*f);
        if (!fmt)
            return makeError(ErrorCode::InvalidArgument, "unknown format '" + *f + "' (see `quantlens-cli formats`)");
        s = defaultSpec(*fmt);
        if (formatTraits(*fmt).blockSize == 0 && formatTraits(*fmt).allows(GranularityKind::Channel))
            s.granularity = Granularity{GranularityKind::Channel, 0, 128};
    }
    if (auto b = args.get("bits")) {
        try {
            std::size_t used = 0;
            s.bits = std::stoi(*b, &used);
            if (used != b->size())
                throw std::invalid_argument("x");
        } catch (const std::exception&) {
            return makeError(ErrorCode::InvalidArgument, "--bits needs an integer, got '" + *b + "'");
        }
    }
    if (args.has("symmetric"))
        s.scheme = args.has("full-range") ? Scheme::SymmetricFull : Scheme::Symmetric;
    else if (args.has("full-range"))
        return makeError(ErrorCode::InvalidArgument, "--full-range needs --symmetric");
    if (auto g = args.get("granularity")) {
        auto gr = parseGranularity(*g);
        if (!gr)
            return gr.error();
        s.granularity = *gr;
    }
    if (auto r = args.get("range")) {
        auto rm = parseRangeMethod(*r);
        if (!rm)
            return rm.error();
        s.range = *rm;
    }
    if (auto st = args.get("scale-storage")) {
        auto v = scaleStorageFromName(*st);
        if (!v)
            return makeError(ErrorCode::InvalidArgument, v.error().message);
        s.scaleStorage = *v;
    }
    if (auto r = args.get("rounding")) {
        if (*r == "half_even")
            s.rounding = Rounding::HalfEven;
        else if (*r == "half_away")
            s.rounding = Rounding::HalfAwayFromZero;
        else
            return makeError(ErrorCode::InvalidArgument, "--rounding takes half_even or half_away");
    }
    return s;
}

void printError(const std::string& message)
{
    std::fprintf(stderr, "quantlens-cli: %s\n", message.c_str());
}

} // namespace ql::cli
