// exportModel: per-tensor decisions (planExport), the streaming writers and the read-back path.

#include "core/export/exporter.h"

#include "core/export/export_detail.h"
#include "core/io/atomic_file.h"
#include "core/io/gguf.h"
#include "core/io/mapped_file.h"
#include "core/io/model.h"
#include "core/quant/format_traits.h"
#include "core/quant/layout.h"
#include "core/quant/quantize.h"

#include <nlohmann/json.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

namespace ql {

using namespace export_detail;

const char* exportFormatName(ExportFormat f)
{
    switch (f) {
    case ExportFormat::Safetensors: return "safetensors";
    case ExportFormat::FakeQuantSafetensors: return "fake-quant-safetensors";
    case ExportFormat::Gguf: return "gguf";
    case ExportFormat::Hdf5: return "hdf5";
    }
    return "safetensors";
}

const char* storageSchemeName(StorageScheme s)
{
    switch (s) {
    case StorageScheme::Copy: return "copy";
    case StorageScheme::Float: return "float";
    case StorageScheme::Affine: return "affine";
    case StorageScheme::Blocks: return "blocks";
    case StorageScheme::Lut: return "lut";
    }
    return "copy";
}

Result<ExportFormat> exportFormatForPath(const std::string& path, bool fakeQuant)
{
    std::string ext = std::filesystem::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (ext == ".safetensors")
        return fakeQuant ? ExportFormat::FakeQuantSafetensors : ExportFormat::Safetensors;
    if (fakeQuant)
        return makeError(ErrorCode::InvalidArgument, "fake-quant export writes .safetensors files", path);
    if (ext == ".gguf")
        return ExportFormat::Gguf;
    if (ext == ".h5" || ext == ".hdf5")
        return ExportFormat::Hdf5;
    return makeError(ErrorCode::InvalidArgument,
                     "unknown export type '" + ext + "' (expected .safetensors, .gguf, .h5 or .hdf5)", path);
}

std::vector<const TensorExport*> ExportReport::fallbacks() const
{
    std::vector<const TensorExport*> out;
    for (const auto& t : tensors)
        if (t.fallback)
            out.push_back(&t);
    return out;
}

namespace export_detail {

bool isFloatDType(DType d)
{
    return d == DType::F64 || d == DType::F32 || d == DType::F16 || d == DType::BF16 || d == DType::F8E4M3 ||
           d == DType::F8E5M2;
}

int ggmlTypeOfDType(DType d)
{
    switch (d) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::I8: return 24;
    case DType::I16: return 25;
    case DType::I32: return 26;
    case DType::I64: return 27;
    case DType::F64: return 28;
    case DType::BF16: return 30;
    default: return -1;
    }
}

DType scaleDType(const QuantSpec& s)
{
    switch (s.scaleStorage) {
    case ScaleStorage::F16: return DType::F16;
    case ScaleStorage::BF16: return DType::BF16;
    default: return DType::F32;
    }
}

bool isFloatFormat(Format f)
{
    return f == Format::F16 || f == Format::BF16 || f == Format::F32;
}

DType floatFormatDType(Format f)
{
    return f == Format::F16 ? DType::F16 : f == Format::BF16 ? DType::BF16 : DType::F32;
}

std::uint64_t lutBytes(std::int64_t segments, int bits)
{
    return static_cast<std::uint64_t>(segments) * (1ull << bits) * 4ull;
}

} // namespace export_detail

namespace {

std::string floatTypeName(DType d)
{
    return std::string(dtypeName(d));
}

// The spec a plan asks for, adjusted for the target; fills te.used/scheme/fallback/reason.
void decideTensor(const TensorInfo& t, const QuantPlan& plan, const std::optional<QuantSpec>& requested,
                  ExportFormat format, TensorExport& te, Job& job)
{
    te.name = t.name;
    te.shape = t.logicalShape;
    te.sourceType = t.storedTypeName;
    te.requested = requested;
    const bool floatSource = t.storedFormat.has_value() || (t.dtype && isFloatDType(*t.dtype));
    const bool gguf = format == ExportFormat::Gguf;
    const bool fake = format == ExportFormat::FakeQuantSafetensors;

    auto unquantized = [&](bool isFallback, std::string reason) {
        te.used.reset();
        te.fallback = isFallback;
        te.reason = std::move(reason);
        // Plain stored elements are copied; GGUF-quantized sources become float32 outside GGUF.
        if (t.dtype && !t.storedFormat) {
            te.scheme = StorageScheme::Copy;
            job.floatDType = *t.dtype;
            te.storedAs = std::string(dtypeName(*t.dtype));
            if (gguf && ggmlTypeOfDType(*t.dtype) < 0) {
                te.scheme = StorageScheme::Float;
                job.floatDType = DType::F32;
                te.storedAs = "F32";
            }
            if (format == ExportFormat::Hdf5) {
                te.scheme = StorageScheme::Float;
                job.floatDType = DType::F32;
                te.storedAs = "F32";
            }
        } else if (gguf && t.storedFormat) {
            te.scheme = StorageScheme::Copy;  // the GGUF blocks as they are
            te.storedAs = t.storedTypeName;
        } else {
            te.scheme = StorageScheme::Float;
            job.floatDType = DType::F32;
            te.storedAs = "F32";
        }
    };
    auto asFloat = [&](DType d, bool isFallback, std::string reason) {
        te.scheme = StorageScheme::Float;
        job.floatDType = d;
        te.fallback = isFallback;
        te.reason = std::move(reason);
        te.storedAs = floatTypeName(d);
        QuantSpec s;
        s.format = d == DType::F16 ? Format::F16 : d == DType::BF16 ? Format::BF16 : Format::F32;
        s.bits = d == DType::F32 ? 32 : 16;
        te.used = s.format == Format::F32 ? std::nullopt : std::optional<QuantSpec>(s);
    };

    if (!requested || requested->format == Format::F32) {
        unquantized(false, requested ? "kept in float32 by the plan" : "skipped by the plan");
        return;
    }
    bool fromOverride = false;
    for (const auto& o : plan.overrides)
        if (patternMatches(o.kind, o.pattern, t.name))
            fromOverride = true;
    const int rank = static_cast<int>(t.logicalShape.size());
    if (!fromOverride && rank < 2) {
        // As in the explorer: biases and norm scales are tiny and sensitive, kept as stored unless
        // an override names them.
        unquantized(false, "1-D tensor: kept as stored unless an override names it");
        return;
    }
    if (!floatSource) {
        unquantized(true, "not a floating-point tensor (" + t.storedTypeName + "): stored unquantized");
        return;
    }
    QuantSpec s = *requested;
    const FormatTraits* traits = findFormatTraits(s.format);
    // As in the explorer: the default spec's channel axis follows the tensor's own output-channel
    // axis (Keras Dense [in, out] → 1); an override's axis is taken as written.
    if (!fromOverride && s.granularity.kind != GranularityKind::Tensor && s.granularity.axis >= 0 &&
        t.channelAxis < rank)
        s.granularity.axis = t.channelAxis;

    if (gguf) {
        if (t.logicalShape.size() < 2) {
            unquantized(true, "1-D tensor: GGUF keeps norms and biases unquantized");
            return;
        }
        if (s.format == Format::F16 || s.format == Format::BF16) {
            asFloat(floatFormatDType(s.format), false, {});
            return;
        }
        if (!traits || traits->ggufType < 0 || traits->blockBytes <= 0) {
            asFloat(DType::F16, true,
                    std::string(traits ? traits->name : "this format") + " has no GGUF type: stored as F16");
            return;
        }
        if (auto ok = validateSpec(s, t.logicalShape); !ok) {
            asFloat(DType::F16, true, ok.error().message + ": stored as F16");
            return;
        }
        te.used = s;
        te.scheme = StorageScheme::Blocks;
        te.storedAs = std::string(traits->name);
        job.ggmlType = traits->ggufType;
        return;
    }

    if (!traits) {
        unquantized(true, "format not available in this build: stored unquantized");
        return;
    }
    std::string reason;
    bool fellBack = false;
    if (auto ok = validateSpec(s, t.logicalShape); !ok) {
        reason = ok.error().message;
        bool fixed = false;
        if (s.granularity.kind == GranularityKind::Group && traits->allows(GranularityKind::Channel) &&
            traits->blockSize <= 0) {
            QuantSpec c = s;
            c.granularity.kind = GranularityKind::Channel;
            if (validateSpec(c, t.logicalShape)) {
                s = c;
                fixed = true;
                reason += ": per-channel instead";
            }
        }
        if (!fixed && s.granularity.kind != GranularityKind::Tensor && traits->allows(GranularityKind::Tensor) &&
            traits->blockSize <= 0) {
            QuantSpec c = s;
            c.granularity = Granularity{};
            if (validateSpec(c, t.logicalShape)) {
                s = c;
                fixed = true;
                reason += ": per-tensor instead";
            }
        }
        if (!fixed) {
            unquantized(true, reason + ": stored unquantized");
            return;
        }
        fellBack = true;
    }
    te.used = s;
    te.fallback = fellBack;
    te.reason = reason;
    te.storedAs = specShortName(s);
    if (fake) {
        te.scheme = StorageScheme::Float;
        job.floatDType = (t.dtype && (*t.dtype == DType::F16 || *t.dtype == DType::BF16 || *t.dtype == DType::F32))
                             ? *t.dtype
                             : DType::F32;
        return;
    }
    if (isFloatFormat(s.format)) {
        te.scheme = StorageScheme::Float;
        job.floatDType = floatFormatDType(s.format);
        te.storedAs = floatTypeName(job.floatDType);
        return;
    }
    if (traits->family == FormatFamily::Integer) {
        te.scheme = StorageScheme::Affine;
        return;
    }
    if (traits->blockBytes > 0 && traits->blockSize > 0 && traits->decodeBlocks) {
        te.scheme = StorageScheme::Blocks;
        job.ggmlType = traits->ggufType;
        return;
    }
    // Any other format: codes and a per-segment table of the value of each code.
    auto layout = makeLayout(t.logicalShape, s.granularity);
    const std::int64_t n = numel(t.logicalShape);
    if (traits->blockSize > 0 || s.bits < 1 || s.bits > 8 || !layout ||
        lutBytes(layout->segments, s.bits) > std::uint64_t(n) * 4) {
        te.scheme = StorageScheme::Float;
        job.floatDType = DType::F32;
        job.dequantized = true;
        te.fallback = true;
        te.reason = (reason.empty() ? "" : reason + "; ") +
                    std::string("no compact code layout for ") + std::string(traits->name) +
                    " at this granularity: stored dequantized as F32";
        te.storedAs = specShortName(s) + " (dequantized F32)";
        return;
    }
    te.scheme = StorageScheme::Lut;
}

void addParts(const TensorInfo& t, ExportFormat format, TensorExport& te, Job& job)
{
    const Shape& shape = t.logicalShape;
    const std::int64_t n = numel(shape);
    const bool packed = format == ExportFormat::Safetensors;
    job.parts.clear();
    // HDF5 has no bfloat16 type that readers agree on: bf16 values are stored exactly as float32.
    if (format == ExportFormat::Hdf5 && job.floatDType == DType::BF16)
        job.floatDType = DType::F32;
    auto add = [&](std::string suffix, DType d, Shape sh, PartContent c, std::uint64_t bytes) {
        job.parts.push_back(Part{std::move(suffix), d, std::move(sh), c, bytes});
    };
    switch (te.scheme) {
    case StorageScheme::Copy:
        if (format == ExportFormat::Gguf && t.storedFormat) {
            add("", DType::U8, shape, PartContent::Raw, std::uint64_t(t.bytes));
        } else {
            add("", *t.dtype, shape, PartContent::Raw, std::uint64_t(t.bytes));
            job.ggmlType = ggmlTypeOfDType(*t.dtype);
        }
        break;
    case StorageScheme::Float: {
        add("", job.floatDType, shape, PartContent::FloatData, std::uint64_t(n) * dtypeSize(job.floatDType));
        job.ggmlType = ggmlTypeOfDType(job.floatDType);
        break;
    }
    case StorageScheme::Affine:
    case StorageScheme::Lut: {
        const QuantSpec& s = *te.used;
        const auto layout = makeLayout(shape, s.granularity);
        const std::int64_t segs = layout ? layout->segments : 1;
        const std::int64_t gpc = layout ? layout->groupsPerChannel : 1;
        job.codesSigned = te.scheme == StorageScheme::Affine && s.scheme != Scheme::Asymmetric;
        job.codesPacked = s.bits < 8 && packed;
        if (job.codesPacked) {
            add(".qweight", DType::U8, Shape{std::int64_t(packedBytes(n, s.bits))}, PartContent::Codes,
                packedBytes(n, s.bits));
        } else if (s.bits <= 8) {
            const DType d = (te.scheme == StorageScheme::Affine && !job.codesSigned) ? DType::U8
                            : te.scheme == StorageScheme::Lut                        ? DType::U8
                                                                                      : DType::I8;
            add(".qweight", d, shape, PartContent::Codes, std::uint64_t(n));
        } else {
            add(".qweight", DType::I32, shape, PartContent::Codes, std::uint64_t(n) * 4);
        }
        if (te.scheme == StorageScheme::Affine) {
            DType sd = scaleDType(s);
            if (format == ExportFormat::Hdf5 && sd == DType::BF16)
                sd = DType::F32;
            add(".scales", sd, Shape{segs / gpc, gpc}, PartContent::Scales, std::uint64_t(segs) * dtypeSize(sd));
            if (s.scheme == Scheme::Asymmetric)
                add(".zeros", DType::F32, Shape{segs / gpc, gpc}, PartContent::Zeros, std::uint64_t(segs) * 4);
        } else {
            add(".lut", DType::F32, Shape{segs, std::int64_t(1) << s.bits}, PartContent::Lut, lutBytes(segs, s.bits));
        }
        break;
    }
    case StorageScheme::Blocks: {
        const FormatTraits& tr = formatTraits(te.used->format);
        const std::int64_t rowLen = shape.back();
        const std::int64_t rows = rowLen > 0 ? n / rowLen : 0;
        const std::int64_t rowBytes = rowLen / tr.blockSize * tr.blockBytes;
        add(format == ExportFormat::Gguf ? "" : ".qweight", DType::U8, Shape{rows, rowBytes}, PartContent::Blocks,
            std::uint64_t(rows) * std::uint64_t(rowBytes));
        break;
    }
    }
    te.bytes = 0;
    for (const auto& p : job.parts)
        te.bytes += std::int64_t(p.bytes);
    te.bitsPerWeight = n > 0 ? 8.0 * double(te.bytes) / double(n) : 0.0;
}

} // namespace

namespace export_detail {

Result<std::vector<Job>> makeJobs(const Model& model, const QuantPlan& plan, ExportFormat format)
{
    std::vector<Job> jobs;
    const auto& ts = model.tensors();
    jobs.reserve(ts.size());
    std::set<std::string> names;
    for (std::size_t i = 0; i < ts.size(); ++i) {
        const TensorInfo& t = ts[i];
        if (!t.supported && !(t.dtype && !t.storedFormat))
            return makeError(ErrorCode::Unsupported,
                             "tensor cannot be read" + (t.note.empty() ? std::string() : " (" + t.note + ")"),
                             model.path() + ": tensor '" + t.name + "'");
        Job job;
        job.index = i;
        const auto requested = plan.specFor(t.name);
        if (requested) {
            // A spec that is wrong whatever the shape is an error, not a fallback.
            const FormatTraits* tr = findFormatTraits(requested->format);
            if (tr && (requested->bits < tr->minBits || requested->bits > tr->maxBits))
                return makeError(ErrorCode::InvalidSpec,
                                 std::string(tr->name) + " takes " + std::to_string(tr->minBits) + ".." +
                                     std::to_string(tr->maxBits) + " bits, not " + std::to_string(requested->bits),
                                 "tensor '" + t.name + "'");
        }
        decideTensor(t, plan, requested, format, job.te, job);
        if (!t.supported && job.te.scheme != StorageScheme::Copy)
            return makeError(ErrorCode::Unsupported, "tensor cannot be decoded: " + t.note,
                             model.path() + ": tensor '" + t.name + "'");
        addParts(t, format, job.te, job);
        for (const auto& p : job.parts) {
            const std::string full = format == ExportFormat::Hdf5 ? t.name : t.name + p.suffix;
            if (format != ExportFormat::Hdf5 && !names.insert(full).second)
                return makeError(ErrorCode::InvalidArgument,
                                 "output name '" + full + "' is taken by another tensor of the model",
                                 model.path());
        }
        jobs.push_back(std::move(job));
    }
    return jobs;
}

nlohmann::json tensorMetadata(const Job& job, const TensorInfo& t)
{
    const TensorExport& te = job.te;
    nlohmann::json m = {{"scheme", storageSchemeName(te.scheme)}, {"shape", te.shape}, {"source_dtype", t.storedTypeName}};
    if (te.used)
        m["spec"] = specToJson(*te.used);
    if (te.requested && te.fallback)
        m["requested_spec"] = specToJson(*te.requested);
    if (te.fallback)
        m["fallback"] = te.reason;
    if (te.scheme == StorageScheme::Float || te.scheme == StorageScheme::Copy)
        m["dtype"] = std::string(dtypeName(job.floatDType));
    if (job.dequantized)
        m["dequantized"] = true;
    if (te.scheme == StorageScheme::Affine || te.scheme == StorageScheme::Lut) {
        const auto layout = makeLayout(te.shape, te.used->granularity);
        m["bits"] = te.used->bits;
        m["signed"] = job.codesSigned;
        m["packed"] = job.codesPacked;
        if (layout)
            m["layout"] = {{"outer", layout->outer},
                           {"channels", layout->channels},
                           {"inner", layout->inner},
                           {"axis", layout->axis},
                           {"groups_per_channel", layout->groupsPerChannel},
                           {"group_size", layout->segmentSize}};
    }
    if (te.scheme == StorageScheme::Blocks) {
        const FormatTraits& tr = formatTraits(te.used->format);
        m["ggml_type"] = tr.ggufType;
        m["block_size"] = tr.blockSize;
        m["block_bytes"] = tr.blockBytes;
    }
    return m;
}

void releasePages(const Model& model, std::size_t index)
{
    // The source is memory-mapped: once a tensor is done its pages are dropped from our resident
    // set (they stay in the page cache), so peak RSS does not grow with the model size.
    auto raw = model.rawData(index);
    if (!raw || raw->second == 0)
        return;
    const long page = sysconf(_SC_PAGESIZE);
    const auto begin = reinterpret_cast<std::uintptr_t>(raw->first);
    const std::uintptr_t first = (begin + std::uintptr_t(page) - 1) / std::uintptr_t(page) * std::uintptr_t(page);
    const std::uintptr_t last = (begin + raw->second) / std::uintptr_t(page) * std::uintptr_t(page);
    if (last > first)
        madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

Result<void> checkNotInput(const Model& model, const std::string& path)
{
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        return {};
    for (const auto& f : model.files()) {
        if (std::filesystem::equivalent(f, path, ec))
            return makeError(ErrorCode::InvalidArgument, "refusing to overwrite the input model", path);
    }
    if (std::filesystem::equivalent(model.path(), path, ec))
        return makeError(ErrorCode::InvalidArgument, "refusing to overwrite the input model", path);
    return {};
}

// Produces the bytes of every part of one tensor, in order.
Result<void> produceTensor(const Model& model, Job& job, ExportFormat format, const TaskContext& ctx,
                           std::int64_t doneBefore, std::int64_t total, const PartSink& sink)
{
    const TensorInfo& t = model.tensors()[job.index];
    TensorExport& te = job.te;
    const std::string where = model.path() + ": tensor '" + t.name + "'";
    const std::int64_t n = numel(t.logicalShape);

    if (te.scheme == StorageScheme::Copy) {
        auto raw = model.rawData(job.index);
        if (!raw)
            return raw.error();
        if (raw->second != job.parts.front().bytes)
            return makeError(ErrorCode::Internal, "stored size differs from the index", where);
        return sink(job, 0, raw->first, raw->second);
    }

    TaskContext sub;
    sub.isCancelled = ctx.isCancelled;
    sub.reportProgress = [&](std::int64_t d, std::int64_t tot) {
        if (tot > 0)
            ctx.progress(doneBefore + d * n / tot, total);
    };
    auto x = model.readTensor(job.index, sub);
    if (!x)
        return x.error();

    const bool needQuant = te.used.has_value() &&
                           !(te.scheme == StorageScheme::Float && !job.dequantized &&
                             format != ExportFormat::FakeQuantSafetensors);
    if (!needQuant) {
        // Plain conversion of the source values; a 16-bit float spec stored wider (HDF5 has no
        // bfloat16) is rounded to its format first.
        if (te.used && isFloatFormat(te.used->format) && floatFormatDType(te.used->format) != job.floatDType) {
            const bool bf = te.used->format == Format::BF16;
            for (auto& v : x->data)
                v = bf ? bf16ToFloat(floatToBf16(v)) : halfToFloat(floatToHalf(v));
        }
        std::vector<std::uint8_t> buf;
        encodeFloats(x->data.data(), n, job.floatDType, buf);
        x->data.clear();
        x->data.shrink_to_fit();
        te.sqnrDb = std::numeric_limits<double>::quiet_NaN();  // not measured for plain conversions
        return sink(job, 0, buf.data(), buf.size());
    }

    QuantOptions opt;
    const bool lut = te.scheme == StorageScheme::Lut;
    opt.keepDequant = te.scheme == StorageScheme::Float || lut;
    opt.keepCodes = te.scheme == StorageScheme::Affine || lut || te.scheme == StorageScheme::Blocks;
    auto r = quantize(x->view(), *te.used, opt, sub);
    if (!r)
        return r.error().within(where);
    te.sqnrDb = r->metrics.sqnrDb;
    te.warnings = r->warnings;

    switch (te.scheme) {
    case StorageScheme::Float: {
        x->data.clear();
        x->data.shrink_to_fit();
        std::vector<std::uint8_t> buf;
        encodeFloats(r->dequant.data(), n, job.floatDType, buf);
        return sink(job, 0, buf.data(), buf.size());
    }
    case StorageScheme::Blocks: {
        x->data.clear();
        x->data.shrink_to_fit();
        if (r->blocks.size() != job.parts.front().bytes)
            return makeError(ErrorCode::Internal,
                             "the encoder produced " + std::to_string(r->blocks.size()) + " bytes, expected " +
                                 std::to_string(job.parts.front().bytes),
                             where);
        return sink(job, 0, r->blocks.data(), r->blocks.size());
    }
    case StorageScheme::Affine:
    case StorageScheme::Lut: {
        if (std::int64_t(r->codes.size()) != n)
            return makeError(ErrorCode::Internal, "the quantizer returned no codes", where);
        std::vector<float> lutTable;
        if (lut) {
            if (auto ok = buildLut(x->data.data(), *r, lutTable); !ok)
                return ok.error().within(where);
        }
        x->data.clear();
        x->data.shrink_to_fit();
        r->dequant.clear();
        r->dequant.shrink_to_fit();
        for (std::size_t k = 0; k < job.parts.size(); ++k) {
            const Part& p = job.parts[k];
            std::vector<std::uint8_t> buf;
            switch (p.content) {
            case PartContent::Codes:
                encodeCodes(r->codes.data(), n, te.used->bits, job.codesPacked, p, buf);
                break;
            case PartContent::Scales:
                encodeFloats(r->scales.data(), std::int64_t(r->scales.size()), p.dtype, buf);
                break;
            case PartContent::Zeros:
                encodeFloats(r->zeroPoints.data(), std::int64_t(r->zeroPoints.size()), p.dtype, buf);
                break;
            case PartContent::Lut:
                encodeFloats(lutTable.data(), std::int64_t(lutTable.size()), DType::F32, buf);
                break;
            default: break;
            }
            if (buf.size() != p.bytes)
                return makeError(ErrorCode::Internal,
                                 "part '" + p.suffix + "' has " + std::to_string(buf.size()) + " bytes, expected " +
                                     std::to_string(p.bytes),
                                 where);
            QL_TRY(sink(job, k, buf.data(), buf.size()));
        }
        return {};
    }
    case StorageScheme::Copy: break;
    }
    return {};
}

void encodeFloats(const float* x, std::int64_t n, DType d, std::vector<std::uint8_t>& out)
{
    out.resize(std::size_t(n) * dtypeSize(d));
    switch (d) {
    case DType::F16:
        for (std::int64_t i = 0; i < n; ++i) {
            const std::uint16_t h = floatToHalf(x[i]);
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
        break;
    case DType::BF16:
        for (std::int64_t i = 0; i < n; ++i) {
            const std::uint16_t h = floatToBf16(x[i]);
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
        break;
    default: std::memcpy(out.data(), x, std::size_t(n) * 4); break;
    }
}

void encodeCodes(const std::int32_t* codes, std::int64_t n, int bits, bool packed, const Part& p,
                 std::vector<std::uint8_t>& out)
{
    if (p.dtype == DType::I32) {
        out.resize(std::size_t(n) * 4);
        std::memcpy(out.data(), codes, out.size());
        return;
    }
    if (packed) {
        out.resize(p.bytes);
        packCodes(codes, n, bits, out.data());
        return;
    }
    out.resize(std::size_t(n));
    for (std::int64_t i = 0; i < n; ++i)
        out[std::size_t(i)] = static_cast<std::uint8_t>(codes[i]);  // I8 and U8: the low byte
}

Result<void> buildLut(const float* x, QuantResult& r, std::vector<float>& lut)
{
    const SegmentLayout& L = r.layout;
    const int bits = r.spec.bits;
    const std::int64_t size = std::int64_t(1) << bits;
    // Codes become indices into the tensor's sorted set of distinct codes, so any code convention of
    // a format (signed, ±1, sparse) packs into `bits` bits.
    std::int32_t lo = 0, hi = 0;
    bool any = false;
    for (std::size_t i = 0; i < r.codes.size(); ++i) {
        if (!std::isfinite(x[i]))
            continue;
        lo = any ? std::min(lo, r.codes[i]) : r.codes[i];
        hi = any ? std::max(hi, r.codes[i]) : r.codes[i];
        any = true;
    }
    if (std::int64_t(hi) - std::int64_t(lo) >= (std::int64_t(1) << 20))
        return makeError(ErrorCode::Internal, "codes span too wide a range for a code table");
    std::vector<std::int32_t> indexOf(any ? std::size_t(std::int64_t(hi) - lo + 1) : 1, -1);
    for (std::size_t i = 0; i < r.codes.size(); ++i)
        if (std::isfinite(x[i]))
            indexOf[std::size_t(r.codes[i] - lo)] = 0;
    std::int32_t next = 0;
    for (auto& v : indexOf)
        if (v == 0)
            v = next++;
    if (next > size)
        return makeError(ErrorCode::Internal, std::to_string(next) + " distinct codes do not fit in " +
                                                  std::to_string(bits) + " bits");
    lut.assign(static_cast<std::size_t>(L.segments * size), 0.0f);
    std::vector<std::uint8_t> seen(static_cast<std::size_t>(size), 0);
    for (std::int64_t s = 0; s < L.segments; ++s) {
        std::fill(seen.begin(), seen.end(), 0);
        float* row = lut.data() + s * size;
        const std::int64_t base = L.runBase(s);
        for (std::int64_t run = 0; run < L.nRuns; ++run) {
            const std::int64_t off = base + run * L.runStride;
            for (std::int64_t k = 0; k < L.runLength; ++k) {
                const std::size_t i = std::size_t(off + k);
                if (!std::isfinite(x[i])) {
                    r.codes[i] = 0;  // non-finite inputs are not part of the table
                    continue;
                }
                const std::int32_t u = indexOf[std::size_t(r.codes[i] - lo)];
                r.codes[i] = u;
                const float v = r.dequant[i];
                if (!seen[std::size_t(u)]) {
                    seen[std::size_t(u)] = 1;
                    row[u] = v;
                } else if (std::memcmp(&row[u], &v, 4) != 0) {
                    return makeError(ErrorCode::Internal, "one code maps to two values in one segment");
                }
            }
        }
    }
    return {};
}

} // namespace export_detail

Result<std::vector<TensorExport>> planExport(const Model& model, const QuantPlan& plan, ExportFormat format)
{
    auto jobs = makeJobs(model, plan, format);
    if (!jobs)
        return jobs.error();
    std::vector<TensorExport> out;
    out.reserve(jobs->size());
    for (auto& j : *jobs)
        out.push_back(std::move(j.te));
    return out;
}

Result<ExportReport> exportModel(const Model& model, const QuantPlan& plan, const std::string& path,
                                 const ExportOptions& options, TaskContext& ctx)
{
    const auto t0 = std::chrono::steady_clock::now();
    QL_TRY(checkNotInput(model, path));
    auto jobs = makeJobs(model, plan, options.format);
    if (!jobs)
        return jobs.error();
    QuantConfig config = options.config.value_or(QuantConfig{});
    config.plan = plan;
    if (!config.source)
        config.source = identifyModel(model);

    ExportReport report;
    report.path = path;
    report.format = options.format;
    Result<void> written;
    switch (options.format) {
    case ExportFormat::Safetensors:
    case ExportFormat::FakeQuantSafetensors: written = writeSafetensorsExport(model, *jobs, config, path, options, ctx); break;
    case ExportFormat::Gguf: written = writeGgufExport(model, *jobs, config, path, options, ctx); break;
    case ExportFormat::Hdf5: written = writeHdf5Export(model, *jobs, config, path, options, ctx); break;
    }
    if (!written)
        return written.error();
    for (auto& j : *jobs)
        report.tensors.push_back(std::move(j.te));
    std::error_code ec;
    report.fileBytes = std::int64_t(std::filesystem::file_size(path, ec));
    for (const auto& te : report.tensors)
        for (const auto& w : te.warnings)
            report.warnings.push_back(te.name + ": " + w);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

} // namespace ql
