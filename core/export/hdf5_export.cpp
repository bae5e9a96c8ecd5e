// HDF5 export through the HDF5 C API: one group per tensor holding the datasets codes, scales,
// zero_points, lut or blocks (or data for unquantized tensors), the spec as group attributes.
// HDF5 writes by path, so the atomic replace is done here: a temporary file in the target
// directory, renamed over the target only when complete.

#include "core/export/export_detail.h"

#include "core/io/model.h"
#include "core/quant/format_traits.h"

#include <hdf5.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>

namespace ql::export_detail {

namespace {

struct H5Handle {
    hid_t id = -1;
    herr_t (*close)(hid_t) = nullptr;
    H5Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
    H5Handle(const H5Handle&) = delete;
    H5Handle& operator=(const H5Handle&) = delete;
    ~H5Handle()
    {
        if (id >= 0 && close)
            close(id);
    }
    bool ok() const { return id >= 0; }
};

hid_t fileTypeOf(DType d)
{
    switch (d) {
    case DType::F64: return H5T_IEEE_F64LE;
    case DType::I64: return H5T_STD_I64LE;
    case DType::I32: return H5T_STD_I32LE;
    case DType::I16: return H5T_STD_I16LE;
    case DType::I8: return H5T_STD_I8LE;
    case DType::U8: return H5T_STD_U8LE;
    case DType::Bool: return H5T_STD_U8LE;
    default: return H5T_IEEE_F32LE;
    }
}

std::string datasetName(const Part& p)
{
    switch (p.content) {
    case PartContent::Codes: return "codes";
    case PartContent::Scales: return "scales";
    case PartContent::Zeros: return "zero_points";
    case PartContent::Lut: return "lut";
    case PartContent::Blocks: return "blocks";
    default: return "data";
    }
}

Result<void> setStringAttr(hid_t obj, const char* name, const std::string& value)
{
    H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.id, value.empty() ? 1 : value.size());
    H5Tset_cset(type.id, H5T_CSET_UTF8);
    H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    H5Handle attr(H5Acreate2(obj, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const std::string v = value.empty() ? std::string(1, '\0') : value;
    if (!attr.ok() || H5Awrite(attr.id, type.id, v.data()) < 0)
        return makeError(ErrorCode::Io, std::string("cannot write attribute ") + name);
    return {};
}

Result<void> setIntAttr(hid_t obj, const char* name, const std::vector<long long>& values)
{
    const hsize_t n = values.size();
    H5Handle space(values.size() == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
    H5Handle attr(H5Acreate2(obj, name, H5T_STD_I64LE, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!attr.ok() || H5Awrite(attr.id, H5T_NATIVE_LLONG, values.data()) < 0)
        return makeError(ErrorCode::Io, std::string("cannot write attribute ") + name);
    return {};
}

std::string tempPathFor(const std::string& path)
{
    static std::atomic<int> counter{0};
    const std::filesystem::path p(path);
    const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
    return (dir / ("." + p.filename().string() + ".tmp-" + std::to_string(getpid()) + "-" +
                   std::to_string(counter++)))
        .string();
}

} // namespace

Result<void> writeHdf5Export(const Model& model, std::vector<Job>& jobs, const QuantConfig& config,
                             const std::string& path, const ExportOptions& options, TaskContext& ctx)
{
    const std::string tmp = tempPathFor(path);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    struct Cleanup {
        std::string path;
        bool keep = false;
        ~Cleanup()
        {
            if (!keep)
                std::remove(path.c_str());
        }
    } cleanup{tmp};

    Result<void> result = [&]() -> Result<void> {
        H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
        // 1.8 object headers allow attributes beyond 64 KiB (the config can be long).
        H5Pset_libver_bounds(fapl.id, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
        H5Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.id), H5Fclose);
        if (!file.ok())
            return makeError(ErrorCode::Io, "cannot create a file in the target directory", path);
        H5Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
        H5Pset_create_intermediate_group(lcpl.id, 1);
        QL_TRY(setStringAttr(file.id, "quantlens.export", "hdf5/1"));
        QL_TRY(setStringAttr(file.id, "quantlens.version", QL_VERSION));
        QL_TRY(setStringAttr(file.id, "quantlens.config", configToJson(config).dump()));
        nlohmann::json names = nlohmann::json::array();
        for (const auto& job : jobs)
            names.push_back(model.tensors()[job.index].name);
        QL_TRY(setStringAttr(file.id, "quantlens.tensors", names.dump()));

        const std::int64_t total = totalElements(model, jobs);
        std::int64_t done = 0;
        ctx.progress(0, total);
        for (auto& job : jobs) {
            if (ctx.cancelled())
                return makeError(ErrorCode::Cancelled, "export cancelled", path);
            const TensorInfo& t = model.tensors()[job.index];
            H5Handle group(H5Gcreate2(file.id, t.name.c_str(), lcpl.id, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
            if (!group.ok())
                return makeError(ErrorCode::Io, "cannot create group '" + t.name + "'", path);
            const nlohmann::json meta = tensorMetadata(job, t);
            QL_TRY(setStringAttr(group.id, "quantlens", meta.dump()));
            QL_TRY(setStringAttr(group.id, "scheme", storageSchemeName(job.te.scheme)));
            QL_TRY(setStringAttr(group.id, "source_dtype", t.storedTypeName));
            std::vector<long long> shape(t.logicalShape.begin(), t.logicalShape.end());
            if (!shape.empty())
                QL_TRY(setIntAttr(group.id, "shape", shape));
            if (job.te.used) {
                const QuantSpec& s = *job.te.used;
                QL_TRY(setStringAttr(group.id, "spec", specToJson(s).dump()));
                QL_TRY(setStringAttr(group.id, "format", std::string(formatTraits(s.format).name)));
                QL_TRY(setIntAttr(group.id, "bits", {s.bits}));
                QL_TRY(setStringAttr(group.id, "quant_scheme", schemeName(s.scheme)));
                const char* g = s.granularity.kind == GranularityKind::Tensor    ? "tensor"
                                : s.granularity.kind == GranularityKind::Channel ? "channel"
                                                                                  : "group";
                QL_TRY(setStringAttr(group.id, "granularity", g));
                QL_TRY(setIntAttr(group.id, "axis", {s.granularity.axis}));
                if (s.granularity.kind == GranularityKind::Group)
                    QL_TRY(setIntAttr(group.id, "group_size", {static_cast<long long>(s.granularity.groupSize)}));
            }
            auto sink = [&](const Job& j, std::size_t k, const void* data, std::size_t bytes) -> Result<void> {
                const Part& p = j.parts[k];
                if (bytes != p.bytes)
                    return makeError(ErrorCode::Internal, "size of '" + j.te.name + "' changed", path);
                std::vector<hsize_t> dims(p.shape.begin(), p.shape.end());
                H5Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                                            : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
                               H5Sclose);
                H5Handle ftype(-1, H5Tclose);
                hid_t memType = fileTypeOf(p.dtype);
                if (p.dtype == DType::F16) {
                    // IEEE binary16 as an HDF5 float type (h5py reads it as float16).
                    ftype.id = H5Tcopy(H5T_IEEE_F32LE);
                    H5Tset_fields(ftype.id, 15, 10, 5, 0, 10);
                    H5Tset_precision(ftype.id, 16);
                    H5Tset_size(ftype.id, 2);
                    H5Tset_ebias(ftype.id, 15);
                    memType = ftype.id;
                }
                const hid_t fileType = ftype.ok() ? ftype.id : fileTypeOf(p.dtype);
                H5Handle ds(H5Dcreate2(group.id, datasetName(p).c_str(), fileType, space.id, H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT),
                            H5Dclose);
                if (!ds.ok())
                    return makeError(ErrorCode::Io, "cannot create dataset for '" + j.te.name + "'", path);
                if (bytes > 0 && H5Dwrite(ds.id, memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
                    return makeError(ErrorCode::Io, "cannot write '" + j.te.name + "' (disk full?)", path);
                return {};
            };
            auto ok = produceTensor(model, job, options.format, ctx, done, total, sink);
            releasePages(model, job.index);
            if (!ok)
                return ok.error();
            done += numel(t.logicalShape);
            ctx.progress(done, total);
        }
        if (H5Fflush(file.id, H5F_SCOPE_GLOBAL) < 0)
            return makeError(ErrorCode::Io, "cannot write the file (disk full?)", path);
        return {};
    }();
    if (!result)
        return result;
    if (ctx.cancelled())
        return makeError(ErrorCode::Cancelled, "export cancelled", path);
    if (int fd = ::open(tmp.c_str(), O_RDONLY); fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        return makeError(ErrorCode::Io, "cannot replace the target file", path);
    cleanup.keep = true;
    return {};
}

} // namespace ql::export_detail
