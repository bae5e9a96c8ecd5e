// GGUF v3 writer: "GGUF", u32 version 3, u64 tensor count, u64 metadata count, the key/values, the
// tensor infos (name, n_dims, ne[], ggml type, offset relative to the data section), zero padding
// to general.alignment, then every tensor's data starting on an aligned offset.

#include "core/export/export_detail.h"

#include "core/io/atomic_file.h"
#include "core/io/gguf.h"
#include "core/io/mapped_file.h"
#include "core/io/model.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>

namespace ql::export_detail {

namespace {

class Bytes {
public:
    void u32(std::uint32_t v) { raw(&v, 4); }
    void u64(std::uint64_t v) { raw(&v, 8); }
    void str(const std::string& s)
    {
        u64(s.size());
        raw(s.data(), s.size());
    }
    void raw(const void* p, std::size_t n)
    {
        const auto* b = static_cast<const std::uint8_t*>(p);
        m_data.insert(m_data.end(), b, b + n);
    }
    void kvString(const std::string& key, const std::string& value)
    {
        str(key);
        u32(std::uint32_t(GgufValueType::String));
        str(value);
    }
    void kvU32(const std::string& key, std::uint32_t value)
    {
        str(key);
        u32(std::uint32_t(GgufValueType::U32));
        u32(value);
    }
    const std::vector<std::uint8_t>& data() const { return m_data; }

private:
    std::vector<std::uint8_t> m_data;
};

std::uint64_t alignUp(std::uint64_t v, std::uint64_t a)
{
    return (v + a - 1) / a * a;
}

} // namespace

Result<void> writeGgufExport(const Model& model, std::vector<Job>& jobs, const QuantConfig& config,
                             const std::string& path, const ExportOptions& options, TaskContext& ctx)
{
    // A GGUF source keeps all of its metadata, copied record by record as stored.
    MappedFilePtr srcFile;
    std::optional<GgufFile> src;
    if (model.format() == FileFormat::Gguf) {
        auto f = MappedFile::open(model.path());
        if (!f)
            return f.error();
        srcFile = *f;
        auto g = parseGguf(srcFile->data(), srcFile->size());
        if (!g)
            return g.error().within(model.path());
        src = std::move(*g);
    }
    std::uint64_t alignment = options.ggufAlignment ? options.ggufAlignment : src ? src->alignment : 32;
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        return makeError(ErrorCode::InvalidArgument, "GGUF alignment must be a power of two", path);

    std::map<std::string, const GgufTensorInfo*> srcTensors;
    if (src)
        for (const auto& t : src->tensors)
            srcTensors[t.name] = &t;

    bool anyQuantized = false;
    for (auto& job : jobs) {
        if (job.te.scheme == StorageScheme::Copy && model.tensors()[job.index].storedFormat) {
            auto it = srcTensors.find(job.te.name);
            if (it == srcTensors.end())
                return makeError(ErrorCode::Internal, "tensor missing from the source GGUF", job.te.name);
            job.ggmlType = int(it->second->type);
            anyQuantized = true;
        }
        if (job.te.scheme == StorageScheme::Blocks)
            anyQuantized = true;
        if (job.ggmlType < 0)
            return makeError(ErrorCode::Internal, "no GGUF type for tensor", job.te.name);
    }

    Bytes kv;
    std::uint64_t kvCount = 0;
    bool haveQuantVersion = false;
    if (src) {
        for (const auto& r : src->metadata) {
            if (r.key == "general.alignment" || r.key.rfind("quantlens.", 0) == 0)
                continue;
            if (r.key == "general.quantization_version")
                haveQuantVersion = true;
            kv.raw(srcFile->data() + r.offset, r.bytes);
            ++kvCount;
        }
    } else {
        std::string name = options.modelName;
        if (name.empty())
            name = std::filesystem::path(model.path()).stem().string();
        kv.kvString("general.name", name);
        kv.kvString("general.quantized_by", std::string("QuantLens ") + QL_VERSION);
        kv.kvString("general.source.file", std::filesystem::path(model.path()).filename().string());
        kvCount += 3;
    }
    kv.kvU32("general.alignment", std::uint32_t(alignment));
    ++kvCount;
    if (anyQuantized && !haveQuantVersion) {
        kv.kvU32("general.quantization_version", 2);  // the ggml block layouts of current llama.cpp
        ++kvCount;
    }
    kv.kvString("quantlens.plan", configToJson(config).dump());
    ++kvCount;

    Bytes head;
    head.raw("GGUF", 4);
    head.u32(3);
    head.u64(jobs.size());
    head.u64(kvCount);
    head.raw(kv.data().data(), kv.data().size());
    std::uint64_t offset = 0;
    std::vector<std::uint64_t> offsets;
    for (const auto& job : jobs) {
        const Shape& shape = model.tensors()[job.index].logicalShape;
        head.str(job.te.name);
        if (shape.empty()) {
            head.u32(1);
            head.u64(1);
        } else {
            head.u32(std::uint32_t(shape.size()));
            for (auto it = shape.rbegin(); it != shape.rend(); ++it)  // ne[0] = the row length
                head.u64(std::uint64_t(*it));
        }
        head.u32(std::uint32_t(job.ggmlType));
        offset = alignUp(offset, alignment);
        offsets.push_back(offset);
        head.u64(offset);
        offset += job.parts.front().bytes;
    }

    auto file = AtomicFile::create(path);
    if (!file)
        return file.error();
    QL_TRY(file->write(head.data().data(), head.data().size()));
    QL_TRY(file->writeZeros(alignUp(head.data().size(), alignment) - head.data().size()));
    const std::uint64_t dataStart = file->size();

    const std::int64_t total = totalElements(model, jobs);
    std::int64_t done = 0;
    ctx.progress(0, total);
    for (std::size_t k = 0; k < jobs.size(); ++k) {
        Job& job = jobs[k];
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "export cancelled", path);
        QL_TRY(file->writeZeros(dataStart + offsets[k] - file->size()));
        auto sink = [&](const Job& j, std::size_t part, const void* data, std::size_t bytes) -> Result<void> {
            if (part != 0 || bytes != j.parts[0].bytes)
                return makeError(ErrorCode::Internal, "size of '" + j.te.name + "' changed", path);
            return file->write(data, bytes);
        };
        auto ok = produceTensor(model, job, options.format, ctx, done, total, sink);
        releasePages(model, job.index);
        if (!ok)
            return ok.error();
        done += numel(model.tensors()[job.index].logicalShape);
        ctx.progress(done, total);
    }
    QL_TRY(file->writeZeros(alignUp(file->size(), alignment) - file->size()));
    if (ctx.cancelled())
        return makeError(ErrorCode::Cancelled, "export cancelled", path);
    return file->commit();
}

} // namespace ql::export_detail
