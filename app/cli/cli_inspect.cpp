// quantlens-cli inspect: what a model file holds, tensor by tensor.
//
// JSON contract (stable; keys are only ever added):
// {
//   "file": "<path as given>", "format": "safetensors|gguf|hdf5|npy|npz",
//   "files": ["<every file holding data>"], "tensor_count": N, "parameters": N, "bytes": N,
//   "metadata": {"key": "value as text", ...},
//   "tensors": [{"name", "dtype" (element type, or the stored block format such as "Q4_K"),
//                "shape" (ints, the file's own order), "logical_shape" (row-major, for analysis),
//                "parameters", "bytes", "bits_per_weight", "layer" ("layers.7.mlp"), "layer_path" [..],
//                "role" (weight|bias|norm|embedding|other), "channel_axis", "supported", "note",
//                "file_index", "attributes" {..}}]
// }

#include "app/cli/cli_args.h"
#include "app/cli/cli_commands.h"
#include "core/io/model.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace ql::cli {

namespace {

const char* kUsage =
    "usage: quantlens-cli inspect FILE [--json]\n"
    "Lists the tensors of a model file (safetensors or its index JSON, GGUF, HDF5/Keras .h5, .npy, .npz):\n"
    "format, tensor count, parameters, size, and per tensor its type, shape, size, layer and role.\n"
    "  --json   one JSON object instead of a table\n";

std::string joinLayer(const std::vector<std::string>& path)
{
    std::string s;
    for (const auto& p : path)
    {
        if (!s.empty())
            s += '.';
        s += p;
    }
    return s;
}

std::string humanSize(double bytes)
{
    const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000.0 && u < 4) {
        bytes /= 1000.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

// Text made safe for JSON (nlohmann rejects invalid UTF-8 when dumping).
std::string safeText(const std::string& s)
{
    try {
        (void)nlohmann::json(s).dump();
        return s;
    } catch (const nlohmann::json::exception&) {
        std::string o;
        for (unsigned char c : s)
            o.push_back(c < 0x80 ? char(c) : '?');
        return o;
    }
}

} // namespace

int runInspect(const std::vector<std::string>& argv)
{
    auto args = Args::parse(argv, {"json", "help"});
    if (!args) {
        printError(args.error().toString());
        return kExitUsage;
    }
    if (args->has("help")) {
        std::fputs(kUsage, stdout);
        return kExitOk;
    }
    if (auto ok = args->allowOnly({"json", "help"}); !ok) {
        printError(ok.error().toString());
        return kExitUsage;
    }
    if (args->positionals().size() != 1) {
        printError("inspect needs exactly one FILE (see quantlens-cli inspect --help)");
        return kExitUsage;
    }
    const std::string path = args->positionals()[0];
    auto model = openModel(path);
    if (!model) {
        printError(model.error().toString());
        return kExitUsage;
    }
    const Model& m = **model;
    if (args->has("json")) {
        nlohmann::json j;
        j["file"] = safeText(path);
        j["format"] = fileFormatName(m.format());
        j["files"] = nlohmann::json::array();
        for (const auto& f : m.files())
            j["files"].push_back(safeText(f));
        j["tensor_count"] = m.tensors().size();
        j["parameters"] = m.parameterCount();
        j["bytes"] = m.totalBytes();
        nlohmann::json meta = nlohmann::json::object();
        for (const auto& [k, v] : m.metadata())
            meta[safeText(k)] = safeText(v);
        j["metadata"] = std::move(meta);
        nlohmann::json list = nlohmann::json::array();
        for (const auto& t : m.tensors()) {
            nlohmann::json e;
            e["name"] = safeText(t.name);
            e["dtype"] = safeText(t.storedTypeName);
            e["shape"] = t.shape;
            e["logical_shape"] = t.logicalShape;
            e["parameters"] = t.numel;
            e["bytes"] = t.bytes;
            e["bits_per_weight"] = t.storedBitsPerWeight;
            e["layer"] = safeText(joinLayer(t.layerPath));
            nlohmann::json lp = nlohmann::json::array();
            for (const auto& p : t.layerPath)
                lp.push_back(safeText(p));
            e["layer_path"] = std::move(lp);
            e["role"] = tensorRoleName(t.role);
            e["channel_axis"] = t.channelAxis;
            e["supported"] = t.supported;
            e["note"] = safeText(t.note);
            e["file_index"] = t.fileIndex;
            nlohmann::json attrs = nlohmann::json::object();
            for (const auto& [k, v] : t.attributes)
                attrs[safeText(k)] = safeText(v);
            e["attributes"] = std::move(attrs);
            list.push_back(std::move(e));
        }
        j["tensors"] = std::move(list);
        std::cout << j.dump(2) << "\n";
        return kExitOk;
    }
    std::printf("file        %s\n", path.c_str());
    std::printf("format      %s%s\n", fileFormatName(m.format()),
                m.files().size() > 1 ? (" (" + std::to_string(m.files().size()) + " shards)").c_str() : "");
    std::printf("tensors     %zu\n", m.tensors().size());
    std::printf("parameters  %lld\n", static_cast<long long>(m.parameterCount()));
    std::printf("size        %s (%lld bytes)\n", humanSize(double(m.totalBytes())).c_str(),
                static_cast<long long>(m.totalBytes()));
    std::size_t shown = 0;
    for (const auto& [k, v] : m.metadata()) {
        if (++shown > 20) {
            std::printf("meta        ... (%zu entries)\n", m.metadata().size());
            break;
        }
        const std::string val = v.size() > 100 ? v.substr(0, 100) + "..." : v;
        std::printf("meta        %s = %s\n", k.c_str(), val.c_str());
    }
    std::printf("\n%-48s %-8s %-20s %12s %12s %-10s %-24s\n", "name", "dtype", "shape", "params", "bytes", "role", "layer");
    for (const auto& t : m.tensors()) {
        std::string shape = "[";
        for (std::size_t i = 0; i < t.shape.size(); ++i)
        {
            if (i)
                shape += ',';
            shape += std::to_string(t.shape[i]);
        }
        shape += "]";
        std::printf("%-48s %-8s %-20s %12lld %12lld %-10s %-24s%s%s\n", t.name.c_str(), t.storedTypeName.c_str(),
                    shape.c_str(), static_cast<long long>(t.numel), static_cast<long long>(t.bytes),
                    tensorRoleName(t.role), joinLayer(t.layerPath).c_str(), t.supported ? "" : "  ",
                    t.supported ? "" : t.note.c_str());
    }
    return kExitOk;
}

} // namespace ql::cli
