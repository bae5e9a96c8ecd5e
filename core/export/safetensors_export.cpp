// Streaming safetensors writer for quantized and fake-quant exports. The header (every tensor's
// dtype, shape and offsets, plus __metadata__) is known before any data is read, because each
// part's size follows from the spec and the shape; the data then streams tensor by tensor.

#include "core/export/export_detail.h"

#include "core/io/atomic_file.h"
#include "core/io/model.h"

#include <nlohmann/json.hpp>

namespace ql::export_detail {

std::int64_t totalElements(const Model& model, const std::vector<Job>& jobs)
{
    std::int64_t total = 0;
    for (const auto& j : jobs)
        total += numel(model.tensors()[j.index].logicalShape);
    return total;
}

Result<void> writeSafetensorsExport(const Model& model, std::vector<Job>& jobs, const QuantConfig& config,
                                    const std::string& path, const ExportOptions& options, TaskContext& ctx)
{
    const bool fake = options.format == ExportFormat::FakeQuantSafetensors;
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    meta["format"] = "pt";
    meta["quantlens.export"] = fake ? "fake-quant/1" : "quantized/1";
    meta["quantlens.version"] = QL_VERSION;
    meta["quantlens.config"] = configToJson(config).dump();
    nlohmann::json names = nlohmann::json::array();
    std::uint64_t offset = 0;
    for (const auto& job : jobs) {
        const TensorInfo& t = model.tensors()[job.index];
        names.push_back(t.name);
        meta["quantlens.tensor." + t.name] = tensorMetadata(job, t).dump();
        for (const auto& p : job.parts) {
            nlohmann::ordered_json e = nlohmann::ordered_json::object();
            e["dtype"] = std::string(dtypeName(p.dtype));
            e["shape"] = p.shape;
            e["data_offsets"] = {offset, offset + p.bytes};
            header[t.name + p.suffix] = e;
            offset += p.bytes;
        }
    }
    meta["quantlens.tensors"] = names.dump();
    header["__metadata__"] = meta;
    std::string text = header.dump();
    while ((8 + text.size()) % 8 != 0)
        text.push_back(' ');

    auto file = AtomicFile::create(path);
    if (!file)
        return file.error();
    const std::uint64_t len = text.size();
    std::uint8_t lenBytes[8];
    for (int k = 0; k < 8; ++k)
        lenBytes[k] = static_cast<std::uint8_t>(len >> (8 * k));
    QL_TRY(file->write(lenBytes, 8));
    QL_TRY(file->write(text.data(), text.size()));

    const std::int64_t total = totalElements(model, jobs);
    std::int64_t done = 0;
    ctx.progress(0, total);
    for (auto& job : jobs) {
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "export cancelled", path);
        auto sink = [&](const Job& j, std::size_t k, const void* data, std::size_t bytes) -> Result<void> {
            if (bytes != j.parts[k].bytes)
                return makeError(ErrorCode::Internal, "size of '" + j.te.name + j.parts[k].suffix + "' changed",
                                 path);
            return file->write(data, bytes);
        };
        auto ok = produceTensor(model, job, options.format, ctx, done, total, sink);
        releasePages(model, job.index);
        if (!ok)
            return ok.error();
        done += numel(model.tensors()[job.index].logicalShape);
        ctx.progress(done, total);
    }
    if (ctx.cancelled())
        return makeError(ErrorCode::Cancelled, "export cancelled", path);
    return file->commit();
}

} // namespace ql::export_detail
