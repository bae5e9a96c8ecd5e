#include "core/io/model.h"

#include "core/io/io_util.h"
#include "core/io/model_impl.h"
#include "core/quant/format_traits.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <omp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ql {

const char* fileFormatName(FileFormat f)
{
    switch (f) {
    case FileFormat::Safetensors: return "safetensors";
    case FileFormat::Gguf: return "gguf";
    case FileFormat::Hdf5: return "hdf5";
    case FileFormat::Npy: return "npy";
    case FileFormat::Npz: return "npz";
    }
    return "unknown";
}

const char* tensorRoleName(TensorRole r)
{
    switch (r) {
    case TensorRole::Weight: return "weight";
    case TensorRole::Bias: return "bias";
    case TensorRole::Norm: return "norm";
    case TensorRole::Embedding: return "embedding";
    case TensorRole::Other: return "other";
    }
    return "other";
}

std::optional<std::size_t> Model::find(const std::string& name) const
{
    const auto& ts = tensors();
    for (std::size_t i = 0; i < ts.size(); ++i)
        if (ts[i].name == name)
            return i;
    return std::nullopt;
}

std::int64_t Model::parameterCount() const
{
    std::int64_t n = 0;
    for (const auto& t : tensors())
        n += t.numel;
    return n;
}

std::int64_t Model::totalBytes() const
{
    std::int64_t n = 0;
    for (const auto& t : tensors())
        n += t.bytes;
    return n;
}

Result<void> Model::readElements(std::size_t index, std::int64_t first, std::int64_t count, float* dst,
                                 TaskContext& ctx) const
{
    if (index >= tensors().size())
        return makeError(ErrorCode::InvalidArgument, "tensor index " + std::to_string(index) + " out of range", path());
    const TensorInfo& t = tensors()[index];
    if (first < 0 || count < 0 || first > t.numel || count > t.numel - first)
        return makeError(ErrorCode::InvalidArgument, "element range outside the tensor",
                         io_detail::tensorWhere(path(), t.name));
    auto all = readTensor(index, ctx);
    if (!all)
        return std::move(all).error();
    std::copy_n(all->data.begin() + first, count, dst);
    return {};
}

Result<std::pair<const std::uint8_t*, std::size_t>> Model::rawData(std::size_t index) const
{
    const std::string name = index < tensors().size() ? tensors()[index].name : std::to_string(index);
    return makeError(ErrorCode::Unsupported, "raw bytes are not available for this storage",
                     io_detail::tensorWhere(path(), name));
}

namespace io_detail {

namespace {

std::vector<std::string> splitName(const std::string& name, NameConvention c)
{
    std::vector<std::string> parts;
    std::string cur;
    for (char ch : name) {
        const bool sep = ch == '/' || (c != NameConvention::Keras && c != NameConvention::Path && ch == '.');
        if (sep) {
            if (!cur.empty())
                parts.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(ch);
        }
    }
    if (!cur.empty())
        parts.push_back(cur);
    return parts;
}

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
    return s;
}

bool contains(const std::string& s, const char* part)
{
    return s.find(part) != std::string::npos;
}

} // namespace

void describeTensor(TensorInfo& t, NameConvention c)
{
    std::vector<std::string> parts = splitName(t.name, c);
    std::string leaf = parts.empty() ? t.name : parts.back();
    if (!parts.empty())
        parts.pop_back();
    if (c == NameConvention::Keras) {
        // "model_weights/dense/dense/kernel:0": drop the group, collapse the repeated layer name.
        if (!parts.empty() && (parts.front() == "model_weights" || parts.front() == "optimizer_weights"))
            parts.erase(parts.begin());
        std::vector<std::string> collapsed;
        for (auto& p : parts)
            if (collapsed.empty() || collapsed.back() != p)
                collapsed.push_back(p);
        parts.swap(collapsed);
    } else if (parts.size() > 1 && (parts.front() == "model" || parts.front() == "transformer")) {
        parts.erase(parts.begin());
    }
    t.layerPath = parts;

    const std::string l = lower(t.name);
    std::string leafBase = lower(leaf);
    if (const auto colon = leafBase.find(':'); colon != std::string::npos)
        leafBase.erase(colon);  // Keras "kernel:0"
    const int rank = static_cast<int>(t.logicalShape.size());
    if (contains(l, "embed") || contains(l, "wte") || contains(l, "wpe") || contains(l, "token_embd") ||
        contains(l, "tok_embeddings"))
        t.role = TensorRole::Embedding;
    else if (contains(l, "norm") || contains(l, "ln_") || leafBase == "gamma" || leafBase == "beta" ||
             leafBase == "moving_mean" || leafBase == "moving_variance")
        t.role = TensorRole::Norm;
    else if (leafBase == "bias" || leafBase == "b")
        t.role = TensorRole::Bias;
    else if (leafBase == "weight" || leafBase == "kernel" || leafBase == "w" || leafBase == "recurrent_kernel" ||
             leafBase == "depthwise_kernel" || leafBase == "pointwise_kernel" || rank >= 2)
        t.role = TensorRole::Weight;
    else
        t.role = TensorRole::Other;

    t.channelAxis = 0;
    if (c == NameConvention::Keras && rank >= 2 && t.role == TensorRole::Weight)
        t.channelAxis = rank - 1;  // Dense [in, out], Conv2D [kh, kw, in, out]
}

std::string tensorWhere(const std::string& file, const std::string& tensor)
{
    return file + ": tensor '" + printableName(tensor) + "'";
}

std::string ModelBase::where(std::size_t index) const
{
    const std::string file =
        index < m_tensors.size() && std::size_t(m_tensors[index].fileIndex) < m_files.size()
            ? m_files[std::size_t(m_tensors[index].fileIndex)]
            : m_path;
    return tensorWhere(file, index < m_tensors.size() ? m_tensors[index].name : std::to_string(index));
}

Result<void> ModelBase::checkReadable(std::size_t index) const
{
    if (index >= m_tensors.size())
        return makeError(ErrorCode::InvalidArgument,
                         "tensor index " + std::to_string(index) + " out of range (" +
                             std::to_string(m_tensors.size()) + " tensors)",
                         m_path);
    const TensorInfo& t = m_tensors[index];
    if (!t.supported)
        return makeError(ErrorCode::Unsupported,
                         "stored as " + t.storedTypeName + ", which cannot be decoded: " +
                             (t.note.empty() ? std::string("not supported yet") : t.note),
                         where(index));
    return {};
}

Result<void> ModelBase::checkRange(std::size_t index, std::int64_t first, std::int64_t count) const
{
    QL_TRY(checkReadable(index));
    const TensorInfo& t = m_tensors[index];
    if (first < 0 || count < 0 || first > t.numel || count > t.numel - first)
        return makeError(ErrorCode::InvalidArgument,
                         "element range [" + std::to_string(first) + ", +" + std::to_string(count) +
                             ") outside the tensor of " + std::to_string(t.numel) + " elements",
                         where(index));
    return {};
}

Result<Tensor> ModelBase::allocate(std::size_t index) const
{
    const TensorInfo& t = m_tensors[index];
    static const std::uint64_t kPhysical =
        std::uint64_t(::sysconf(_SC_PHYS_PAGES)) * std::uint64_t(::sysconf(_SC_PAGESIZE));
    const std::uint64_t need = std::uint64_t(t.numel) * sizeof(float);
    if (need > kPhysical)
        return makeError(ErrorCode::TooLarge,
                         "as float32 it needs " + humanBytes(need) + ", more than this machine's memory (" +
                             humanBytes(kPhysical) + "); read it in chunks",
                         where(index));
    Tensor out;
    out.shape = t.logicalShape;
    const std::size_t n = std::size_t(t.numel);
    out.data.reserve(n);
    // Large outputs: ask for transparent huge pages before the pages are first touched, so filling
    // them costs a few hundred page faults instead of tens of thousands (a hint; ignored if unavailable).
    constexpr std::uintptr_t kHuge = std::uintptr_t(2) << 20;
    if (need >= 4 * kHuge) {
        const auto begin = (reinterpret_cast<std::uintptr_t>(out.data.data()) + kHuge - 1) & ~(kHuge - 1);
        const auto end = (reinterpret_cast<std::uintptr_t>(out.data.data() + n)) & ~(kHuge - 1);
        if (end > begin)
            (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
    }
    out.data.resize(n);
    return out;
}

// ---- MappedModel ----

void MappedModel::decode(std::size_t index, std::int64_t first, std::int64_t count, float* dst) const
{
    const MappedSource& s = m_sources[index];
    const TensorInfo& t = m_tensors[index];
    decodeElements(s, t.logicalShape, m_maps[std::size_t(t.fileIndex)]->data() + s.offset, first, count, dst);
}

void decodeElements(const MappedSource& s, const Shape& logicalShape, const std::uint8_t* base, std::int64_t first,
                    std::int64_t count, float* dst)
{
    if (count == 0)
        return;
    if (s.block) {
        const std::int64_t bs = s.block->blockSize;
        const std::int64_t bb = s.block->blockBytes;
        std::int64_t pos = first;
        const std::int64_t end = first + count;
        std::vector<float> tmp;
        while (pos < end) {
            const std::int64_t blk = pos / bs;
            const std::int64_t inBlock = pos - blk * bs;
            if (inBlock == 0 && end - pos >= bs) {
                const std::int64_t nFull = (end - pos) / bs;
                s.block->decodeBlocks(base + blk * bb, nFull, dst + (pos - first));
                pos += nFull * bs;
            } else {
                tmp.resize(std::size_t(bs));
                s.block->decodeBlocks(base + blk * bb, 1, tmp.data());
                const std::int64_t take = std::min(bs - inBlock, end - pos);
                std::copy_n(tmp.begin() + inBlock, take, dst + (pos - first));
                pos += take;
            }
        }
        return;
    }
    const std::size_t es = dtypeSize(s.dtype);
    const auto convert = s.bigEndian ? &convertToFloatBigEndian : &convertToFloat;
    if (!s.fortranOrder || logicalShape.size() < 2) {
        convert(s.dtype, base + std::uint64_t(first) * es, std::size_t(count), dst);
        return;
    }
    // Column-major storage: the element with row-major index (i0..ik) sits at Σ i_j · stride_j with the
    // first axis fastest. Walk the row-major multi-index incrementally.
    const Shape& shape = logicalShape;
    const std::size_t rank = shape.size();
    std::vector<std::int64_t> idx(rank), stride(rank, 1);
    for (std::size_t j = 1; j < rank; ++j)
        stride[j] = stride[j - 1] * shape[j - 1];
    std::int64_t rem = first;
    std::int64_t off = 0;
    for (std::size_t j = rank; j-- > 0;) {
        idx[j] = rem % shape[j];
        rem /= shape[j];
        off += idx[j] * stride[j];
    }
    for (std::int64_t i = 0; i < count; ++i) {
        convert(s.dtype, base + std::uint64_t(off) * es, 1, dst + i);
        for (std::size_t j = rank; j-- > 0;) {
            off += stride[j];
            if (++idx[j] < shape[j])
                break;
            off -= stride[j] * shape[j];
            idx[j] = 0;
        }
    }
}

Result<void> MappedModel::readParallel(std::size_t index, std::int64_t first, std::int64_t count, float* dst,
                                       TaskContext& ctx) const
{
    const MappedSource& s = m_sources[index];
    // Chunks of whole blocks, about 1 Mi elements each.
    const std::int64_t unit = s.block ? s.block->blockSize : 1;
    const std::int64_t chunk = std::max<std::int64_t>(unit, (std::int64_t(1) << 20) / unit * unit);
    if (count <= chunk) {
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled", where(index));
        decode(index, first, count, dst);
        return {};
    }
    const auto& file = m_maps[std::size_t(m_tensors[index].fileIndex)];
    file->willRead(s.offset, s.bytes);
    // Chunk boundaries are aligned to blocks in the tensor's own element numbering.
    const std::int64_t alignedStart = first / chunk * chunk;
    const std::int64_t nChunks = (first + count - alignedStart + chunk - 1) / chunk;
    ProgressTracker progress(ctx, count);
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t c = 0; c < nChunks; ++c) {
        if (progress.stopRequested())
            continue;
        const std::int64_t b = std::max(first, alignedStart + c * chunk);
        const std::int64_t e = std::min(first + count, alignedStart + (c + 1) * chunk);
        decode(index, b, e - b, dst + (b - first));
        progress.advance(e - b);
    }
    if (progress.stopRequested())
        return makeError(ErrorCode::Cancelled, "cancelled", where(index));
    progress.finish();
    return {};
}

Result<Tensor> MappedModel::readTensor(std::size_t index, TaskContext& ctx) const
{
    QL_TRY(checkReadable(index));
    auto t = allocate(index);
    if (!t)
        return std::move(t).error();
    QL_TRY(readParallel(index, 0, m_tensors[index].numel, t->data.data(), ctx));
    return t;
}

Result<void> MappedModel::readElements(std::size_t index, std::int64_t first, std::int64_t count, float* dst,
                                       TaskContext& ctx) const
{
    QL_TRY(checkRange(index, first, count));
    return readParallel(index, first, count, dst, ctx);
}

Result<std::pair<const std::uint8_t*, std::size_t>> MappedModel::rawData(std::size_t index) const
{
    if (index >= m_tensors.size())
        return makeError(ErrorCode::InvalidArgument, "tensor index out of range", m_path);
    const MappedSource& s = m_sources[index];
    return std::pair<const std::uint8_t*, std::size_t>(
        m_maps[std::size_t(m_tensors[index].fileIndex)]->data() + s.offset, std::size_t(s.bytes));
}

} // namespace io_detail

// ---- opening ----

namespace {

bool endsWith(const std::string& s, const std::string& suffix)
{
    if (s.size() < suffix.size())
        return false;
    for (std::size_t i = 0; i < suffix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i])
            return false;
    return true;
}

} // namespace

std::optional<FileFormat> detectFileFormat(const std::uint8_t* head, std::size_t size, const std::string& path)
{
    static const std::uint8_t kHdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1A, '\n'};
    static const std::uint8_t kNpy[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size >= 4 && std::memcmp(head, "GGUF", 4) == 0)
        return FileFormat::Gguf;
    if (size >= 6 && std::memcmp(head, kNpy, 6) == 0)
        return FileFormat::Npy;
    if (size >= 4 && head[0] == 'P' && head[1] == 'K' &&
        ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
        return FileFormat::Npz;
    if (size >= 8 && std::memcmp(head, kHdf5, 8) == 0)
        return FileFormat::Hdf5;
    if (size >= 9 && head[8] == '{' && loadLE64(head) < (std::uint64_t(1) << 32))
        return FileFormat::Safetensors;
    if (endsWith(path, ".safetensors") || endsWith(path, ".json"))
        return FileFormat::Safetensors;
    if (endsWith(path, ".gguf"))
        return FileFormat::Gguf;
    if (endsWith(path, ".npy"))
        return FileFormat::Npy;
    if (endsWith(path, ".npz"))
        return FileFormat::Npz;
    if (endsWith(path, ".h5") || endsWith(path, ".hdf5") || endsWith(path, ".hdf") || endsWith(path, ".weights.h5"))
        return FileFormat::Hdf5;
    return std::nullopt;
}

Result<ModelPtr> openModel(const std::string& path, TaskContext& ctx)
{
    using namespace io_detail;
    if (ctx.cancelled())
        return makeError(ErrorCode::Cancelled, "cancelled", path);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return makeError(ErrorCode::Io, std::string("cannot open: ") + std::strerror(errno), path);
    if (S_ISDIR(st.st_mode))
        return makeError(ErrorCode::InvalidArgument, "is a directory; open a model file or its index JSON", path);
    if (endsWith(path, ".json"))
        return openSafetensorsIndex(path, {}, ctx);
    auto file = MappedFile::open(path);
    if (!file)
        return std::move(file).error();
    const MappedFilePtr& f = *file;
    const auto fmt = detectFileFormat(f->data(), std::size_t(std::min<std::uint64_t>(f->size(), 64)), path);
    if (!fmt) {
        if (f->size() == 0)
            return makeError(ErrorCode::Truncated, "file is empty", path);
        return makeError(ErrorCode::Unsupported,
                         "not a recognised model file (safetensors, GGUF, HDF5, .npy or .npz expected)", path);
    }
    switch (*fmt) {
    case FileFormat::Safetensors: return openSafetensorsAny(path, f, ctx);
    case FileFormat::Gguf: return openGgufFile(f);
    case FileFormat::Npy: return openNpyFile(f);
    case FileFormat::Npz: return openNpzFile(f);
    case FileFormat::Hdf5: return openHdf5File(path, nullptr);
    }
    return makeError(ErrorCode::Internal, "unhandled format", path);
}

Result<ModelPtr> openModelFromMemory(const void* data, std::size_t size, FileFormat format, const std::string& name)
{
    using namespace io_detail;
    auto f = MappedFile::borrow(data, size, name);
    switch (format) {
    case FileFormat::Safetensors: return openSafetensorsFile(f);
    case FileFormat::Gguf: return openGgufFile(f);
    case FileFormat::Npy: return openNpyFile(f);
    case FileFormat::Npz: return openNpzFile(f);
    case FileFormat::Hdf5: return openHdf5File(name, f);
    }
    return makeError(ErrorCode::Internal, "unhandled format", name);
}

} // namespace ql
