// HDF5 reader through the HDF5 C library: every numeric dataset is a tensor named by its path.
// Keras .h5 files (model_weights group, "layer/layer/kernel:0" names) get Keras layer grouping and
// axis conventions. HDF5's own error printing is silenced; its error stack becomes our message.

#include "core/io/io_util.h"
#include "core/io/model_impl.h"

#include <hdf5.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

namespace ql::io_detail {

namespace {

constexpr std::size_t kMaxDatasets = std::size_t(1) << 18;
constexpr std::size_t kMaxObjectsVisited = std::size_t(1) << 20;
constexpr int kMaxAttributes = 64;
constexpr std::size_t kMaxAttrText = 400;
// A dataset may claim more data than the file holds (fill values, compression), but not absurdly more.
constexpr std::uint64_t kMaxExpansion = 1100;
constexpr std::uint64_t kExpansionSlack = std::uint64_t(256) << 20;
// The probe child (probeInChild) reads every dataset too when they add up to at most this much
// float32, which covers Keras files and test inputs; larger files are probed on their structure only.
constexpr std::int64_t kProbeReadBytes = std::int64_t(64) << 20;
constexpr std::chrono::seconds kProbeTimeout{60};

// One lock for every HDF5 call: the library serialises internally anyway, and our error capture
// (silence + walk the per-thread error stack) must not interleave.
std::recursive_mutex& hdf5Mutex()
{
    static std::recursive_mutex m;
    return m;
}

/// True only in the child process of probeInChild (which is single-threaded).
bool& inProbeChild()
{
    static bool child = false;
    return child;
}

void silenceHdf5()
{
    // Per thread in thread-safe builds: done before every batch of calls.
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

herr_t collectError(unsigned n, const H5E_error2_t* e, void* data)
{
    auto* msgs = static_cast<std::vector<std::string>*>(data);
    if (msgs->size() < 8 && e && e->desc && *e->desc)
        msgs->push_back(e->desc);
    (void)n;
    return 0;
}

/// The current HDF5 error stack as one Error (the stack is cleared).
Error hdf5Error(const std::string& what, ErrorCode fallback = ErrorCode::Corrupt)
{
    std::vector<std::string> msgs;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collectError, &msgs);
    H5Eclear2(H5E_DEFAULT);
    std::string text = what;
    if (!msgs.empty()) {
        text += " (HDF5: " + msgs.front();
        if (msgs.size() > 1)
            text += "; " + msgs.back();
        text += ")";
    }
    ErrorCode code = fallback;
    for (const auto& m : msgs)
        if (m.find("truncated") != std::string::npos || m.find("eof") != std::string::npos ||
            m.find("EOF") != std::string::npos)
            code = ErrorCode::Truncated;
    return makeError(code, text);
}

struct Hid {
    hid_t id = H5I_INVALID_HID;
    herr_t (*close)(hid_t) = nullptr;
    Hid() = default;
    Hid(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
    Hid(const Hid&) = delete;
    Hid& operator=(const Hid&) = delete;
    Hid(Hid&& o) noexcept : id(o.id), close(o.close) { o.id = H5I_INVALID_HID; }
    ~Hid()
    {
        if (id >= 0 && close)
            close(id);
    }
    bool ok() const { return id >= 0; }
};

std::string attributeText(hid_t attr)
{
    Hid type(H5Aget_type(attr), H5Tclose);
    Hid space(H5Aget_space(attr), H5Sclose);
    if (!type.ok() || !space.ok())
        return "?";
    const int rank = H5Sget_simple_extent_ndims(space.id);
    if (rank < 0 || rank > 8)
        return "?";
    const hssize_t n = H5Sget_simple_extent_npoints(space.id);
    if (n < 0 || n > (1 << 20))
        return std::to_string(n).append(" values");
    const H5T_class_t cls = H5Tget_class(type.id);
    std::string out;
    if (cls == H5T_STRING) {
        if (H5Tis_variable_str(type.id) > 0) {
            std::vector<char*> ptrs(std::size_t(n), nullptr);
            Hid mem(H5Tcopy(H5T_C_S1), H5Tclose);
            H5Tset_size(mem.id, H5T_VARIABLE);
            H5Tset_cset(mem.id, H5Tget_cset(type.id));
            if (H5Aread(attr, mem.id, ptrs.data()) < 0)
                return "?";
            for (std::size_t k = 0; k < ptrs.size(); ++k) {
                if (out.size() < kMaxAttrText) {
                    if (k)
                        out += ", ";
                    out += ptrs[k] ? ptrs[k] : "";
                }
            }
            H5Dvlen_reclaim(mem.id, space.id, H5P_DEFAULT, ptrs.data());
        } else {
            const std::size_t sz = H5Tget_size(type.id);
            if (sz == 0 || sz > (1 << 16) || sz * std::size_t(n) > (std::size_t(1) << 24))
                return "?";
            std::vector<char> buf(sz * std::size_t(n) + 1, 0);
            Hid mem(H5Tcopy(H5T_C_S1), H5Tclose);
            H5Tset_size(mem.id, sz);
            H5Tset_strpad(mem.id, H5T_STR_NULLPAD);  // NULLTERM would drop the last character of a full-width string
            H5Tset_cset(mem.id, H5Tget_cset(type.id));
            if (H5Aread(attr, mem.id, buf.data()) < 0)
                return "?";
            for (hssize_t k = 0; k < n && out.size() < kMaxAttrText; ++k) {
                const char* s = buf.data() + std::size_t(k) * sz;
                if (k)
                    out += ", ";
                out.append(s, strnlen(s, sz));
            }
        }
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        std::vector<double> v(std::size_t(std::min<hssize_t>(n, 1 << 20)));
        if (H5Aread(attr, H5T_NATIVE_DOUBLE, v.data()) < 0)
            return "?";
        char buf[40];
        for (std::size_t k = 0; k < v.size() && k < 16; ++k) {
            std::snprintf(buf, sizeof buf, "%.9g", v[k]);
            if (k)
                out += ", ";
            out += buf;
        }
        if (v.size() > 16)
            out += ", ... (" + std::to_string(v.size()) + " values)";
        if (n != 1)
            out = "[" + out + "]";
    } else {
        return "(non-numeric attribute)";
    }
    H5Eclear2(H5E_DEFAULT);
    if (out.size() > kMaxAttrText)
        out = out.substr(0, kMaxAttrText) + "...";
    return isValidUtf8(out) ? printableName(out, kMaxAttrText + 3) : "(not UTF-8)";
}

herr_t collectAttribute(hid_t loc, const char* name, const H5A_info_t*, void* data)
{
    auto* out = static_cast<std::vector<std::pair<std::string, std::string>>*>(data);
    if (out->size() >= std::size_t(kMaxAttributes))
        return 1;
    Hid attr(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose);
    if (!attr.ok()) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    out->emplace_back(printableName(name), attributeText(attr.id));
    return 0;
}

std::vector<std::pair<std::string, std::string>> attributesOf(hid_t obj)
{
    std::vector<std::pair<std::string, std::string>> out;
    hsize_t idx = 0;
    if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, collectAttribute, &out) < 0)
        H5Eclear2(H5E_DEFAULT);
    return out;
}

struct DatasetEntry {
    std::string path;
};

struct VisitState {
    std::vector<std::string> datasets;
    std::size_t visited = 0;
    bool tooMany = false;
};

herr_t visitObject(hid_t, const char* name, const H5O_info_t* info, void* data)
{
    auto* st = static_cast<VisitState*>(data);
    if (++st->visited > kMaxObjectsVisited || st->datasets.size() >= kMaxDatasets) {
        st->tooMany = true;
        return 1;
    }
    if (info->type == H5O_TYPE_DATASET)
        st->datasets.emplace_back(name);
    return 0;
}

std::optional<DType> dtypeOfHdf5(hid_t type, std::string& typeName)
{
    const H5T_class_t cls = H5Tget_class(type);
    const std::size_t size = H5Tget_size(type);
    if (cls == H5T_FLOAT) {
        typeName = "float" + std::to_string(size * 8);
        if (size == 2)
            return DType::F16;
        if (size == 4)
            return DType::F32;
        if (size == 8)
            return DType::F64;
        return std::nullopt;
    }
    if (cls == H5T_INTEGER) {
        const bool isSigned = H5Tget_sign(type) == H5T_SGN_2;
        typeName = std::string(isSigned ? "int" : "uint") + std::to_string(size * 8);
        if (isSigned) {
            if (size == 1)
                return DType::I8;
            if (size == 2)
                return DType::I16;
            if (size == 4)
                return DType::I32;
            if (size == 8)
                return DType::I64;
        } else if (size == 1) {
            return DType::U8;
        }
        return std::nullopt;
    }
    return std::nullopt;
}

/// Checks the superblock at offset 0 (when there is one) against the file size, so a cut file is
/// reported as truncated rather than as whatever HDF5 trips over first.
Result<void> precheck(const std::uint8_t* d, std::uint64_t size)
{
    static const std::uint8_t kSig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1A, '\n'};
    if (size < 8)
        return makeError(ErrorCode::Truncated, "file is too short for HDF5");
    if (std::memcmp(d, kSig, 8) != 0)
        return {};  // may have a user block; HDF5 searches further
    if (size < 9)
        return makeError(ErrorCode::Truncated, "file ends inside the HDF5 superblock");
    const int version = d[8];
    std::uint64_t offsetsAt, eofAt;
    if (version == 0 || version == 1) {
        offsetsAt = 13;
        eofAt = 24 + (version == 1 ? 4 : 0);  // base, free-space, EOF addresses follow
    } else if (version == 2 || version == 3) {
        offsetsAt = 9;
        eofAt = 12;
    } else {
        return makeError(ErrorCode::Corrupt, "HDF5 superblock version " + std::to_string(version) + " is unknown");
    }
    if (size <= offsetsAt)
        return makeError(ErrorCode::Truncated, "file ends inside the HDF5 superblock");
    const unsigned o = d[offsetsAt];
    if (o != 2 && o != 4 && o != 8)
        return makeError(ErrorCode::Corrupt, "HDF5 superblock declares " + std::to_string(o) + "-byte addresses");
    eofAt += 2 * o;  // skip base address and the free-space / extension address
    if (size < eofAt + o)
        return makeError(ErrorCode::Truncated, "file ends inside the HDF5 superblock");
    std::uint64_t eof = 0;
    for (unsigned k = 0; k < o; ++k)
        eof |= std::uint64_t(d[eofAt + k]) << (8 * k);
    if (eof != ~std::uint64_t(0) >> (64 - 8 * o) && eof > size)
        return makeError(ErrorCode::Truncated, "file has " + std::to_string(size) + " bytes but its superblock says " +
                                                   std::to_string(eof));
    return {};
}

/// Adds the flat row-major range [lo, hi) of a dataset with `dims` to `space`'s selection as at most
/// 2 · rank hyperslabs: a partial run at each end of every dimension and one block of whole slices
/// in the middle. HDF5 reads a union of hyperslabs in row-major order, which is the range's order.
/// `empty` is true until the first hyperslab (which replaces the selection; later ones are OR-ed).
bool selectFlatRange(hid_t space, const std::vector<hsize_t>& dims, std::uint64_t lo, std::uint64_t hi, bool& empty)
{
    const std::size_t rank = dims.size();
    std::vector<std::uint64_t> stride(rank, 1);
    for (std::size_t k = rank - 1; k > 0; --k)
        stride[k - 1] = stride[k] * dims[k];
    std::vector<hsize_t> start(rank, 0), cnt(rank, 1);
    // Selects [f, l) inside the sub-array at dimension k whose leading coordinates are start[0..k).
    std::function<bool(std::size_t, std::uint64_t, std::uint64_t)> select = [&](std::size_t k, std::uint64_t f,
                                                                                 std::uint64_t l) -> bool {
        if (f >= l)
            return true;
        const std::uint64_t st = stride[k];
        auto slab = [&](std::uint64_t from, std::uint64_t to) {  // whole slices [from, to) along k
            for (std::size_t j = 0; j < k; ++j)
                cnt[j] = 1;  // the prefix coordinates are start[0..k)
            start[k] = from;
            cnt[k] = to - from;
            for (std::size_t j = k + 1; j < rank; ++j) {
                start[j] = 0;
                cnt[j] = dims[j];
            }
            const herr_t r = H5Sselect_hyperslab(space, empty ? H5S_SELECT_SET : H5S_SELECT_OR, start.data(), nullptr,
                                                 cnt.data(), nullptr);
            start[k] = 0;
            cnt[k] = 1;
            empty = false;
            return r >= 0;
        };
        if (k + 1 == rank)
            return slab(f, l);
        std::uint64_t a = f / st;
        const std::uint64_t b = (l - 1) / st;
        if (a == b) {
            start[k] = a;
            const bool ok = select(k + 1, f - a * st, l - a * st);
            start[k] = 0;
            return ok;
        }
        if (f % st != 0) {
            start[k] = a;
            if (!select(k + 1, f % st, st))
                return false;
            start[k] = 0;
            ++a;
        }
        const std::uint64_t end = l % st != 0 ? b : b + 1;  // whole slices [a, end)
        if (a < end && !slab(a, end))
            return false;
        if (l % st != 0) {
            start[k] = b;
            if (!select(k + 1, 0, l % st))
                return false;
            start[k] = 0;
        }
        return true;
    };
    return select(0, lo, hi);
}

class Hdf5Model : public ModelBase {
public:
    ~Hdf5Model() override
    {
        // The probe's child process must not lock: the mutex belongs to a parent thread it lacks.
        std::unique_lock lock(hdf5Mutex(), std::defer_lock);
        if (!inProbeChild())
            lock.lock();
        if (m_fileId >= 0)
            H5Fclose(m_fileId);
    }

    Result<Tensor> readTensor(std::size_t index, TaskContext& ctx) const override
    {
        QL_TRY(checkReadable(index));
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled", where(index));
        std::lock_guard lock(hdf5Mutex());
        return readUnlocked(index);
    }

    /// A flat row-major element range, read through an HDF5 hyperslab selection: only the chunks
    /// (or contiguous bytes) that hold the range are read and converted.
    Result<void> readElements(std::size_t index, std::int64_t first, std::int64_t count, float* dst,
                              TaskContext& ctx) const override
    {
        QL_TRY(checkReadable(index));
        const TensorInfo& t = m_tensors[index];
        if (first < 0 || count < 0 || first > t.numel || count > t.numel - first)
            return makeError(ErrorCode::InvalidArgument, "element range outside the tensor", where(index));
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled", where(index));
        if (count == 0)
            return {};
        if (t.shape.empty())
            return Model::readElements(index, first, count, dst, ctx);
        std::lock_guard lock(hdf5Mutex());
        silenceHdf5();
        Hid ds(H5Dopen2(m_fileId, m_paths[index].c_str(), H5P_DEFAULT), H5Dclose);
        if (!ds.ok())
            return hdf5Error("cannot open the dataset").within(where(index));
        Hid file(H5Dget_space(ds.id), H5Sclose);
        const hsize_t n = hsize_t(count);
        Hid mem(H5Screate_simple(1, &n, nullptr), H5Sclose);
        if (!file.ok() || !mem.ok())
            return hdf5Error("cannot make the read selection").within(where(index));
        std::vector<hsize_t> dims(t.shape.begin(), t.shape.end());
        bool empty = true;
        if (!selectFlatRange(file.id, dims, std::uint64_t(first), std::uint64_t(first + count), empty))
            return hdf5Error("cannot make the read selection").within(where(index));
        if (H5Dread(ds.id, H5T_NATIVE_FLOAT, mem.id, file.id, H5P_DEFAULT, dst) < 0)
            return hdf5Error("cannot read the dataset").within(where(index));
        return {};
    }

    /// The body of readTensor; the caller holds hdf5Mutex() (or is the probe's child process).
    Result<Tensor> readUnlocked(std::size_t index) const
    {
        const TensorInfo& t = m_tensors[index];
        if (std::uint64_t(t.bytes) > m_fileSize * kMaxExpansion + kExpansionSlack)
            return makeError(ErrorCode::TooLarge,
                             "claims " + humanBytes(std::uint64_t(t.bytes)) + " of data in a file of " +
                                 humanBytes(m_fileSize),
                             where(index));
        auto out = allocate(index);
        if (!out)
            return std::move(out).error();
        silenceHdf5();
        Hid ds(H5Dopen2(m_fileId, m_paths[index].c_str(), H5P_DEFAULT), H5Dclose);
        if (!ds.ok())
            return hdf5Error("cannot open the dataset").within(where(index));
        if (t.numel > 0 && H5Dread(ds.id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data.data()) < 0)
            return hdf5Error("cannot read the dataset").within(where(index));
        return out;
    }

    hid_t m_fileId = H5I_INVALID_HID;
    std::uint64_t m_fileSize = 0;
    std::vector<std::string> m_paths;  ///< HDF5 paths, parallel to m_tensors
    MappedFilePtr m_image;             ///< keeps an in-memory image alive
};

/// The body of openHdf5File; the caller holds hdf5Mutex() (or is the probe's child process).
Result<std::shared_ptr<Hdf5Model>> openUnlocked(const std::string& path, const MappedFilePtr& image)
{
    silenceHdf5();
    auto m = std::make_shared<Hdf5Model>();
    m->m_format = FileFormat::Hdf5;
    m->m_path = path;
    m->m_files = {path};
    if (image) {
        if (auto ok = precheck(image->data(), image->size()); !ok)
            return std::move(ok).error().within(path);
        Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
        if (!fapl.ok() || H5Pset_fapl_core(fapl.id, 1 << 16, 0) < 0 ||
            H5Pset_file_image(fapl.id, const_cast<std::uint8_t*>(image->data()), image->size()) < 0)
            return hdf5Error("cannot set up an in-memory HDF5 file", ErrorCode::Internal).within(path);
        m->m_fileId = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.id);
        m->m_fileSize = image->size();
        m->m_image = image;
    } else {
        auto f = MappedFile::open(path);  // existence and size (the mapping itself is not used)
        if (!f)
            return std::move(f).error();
        m->m_fileSize = (*f)->size();
        if (auto ok = precheck((*f)->data(), (*f)->size()); !ok)
            return std::move(ok).error().within(path);
        m->m_fileId = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    }
    if (m->m_fileId < 0)
        return hdf5Error("not a readable HDF5 file").within(path);

    Hid root(H5Gopen2(m->m_fileId, "/", H5P_DEFAULT), H5Gclose);
    if (!root.ok())
        return hdf5Error("cannot open the root group").within(path);
    m->m_metadata = attributesOf(root.id);
    bool keras = false;
    for (const auto& [k, v] : m->m_metadata)
        if (k == "keras_version" || k == "layer_names" || k == "backend")
            keras = true;
    if (H5Lexists(root.id, "model_weights", H5P_DEFAULT) > 0) {
        keras = true;
        Hid mw(H5Gopen2(root.id, "model_weights", H5P_DEFAULT), H5Gclose);
        if (mw.ok())
            for (auto& kv : attributesOf(mw.id))
                m->m_metadata.emplace_back("model_weights." + kv.first, kv.second);
    }
    H5Eclear2(H5E_DEFAULT);

    VisitState vs;
    if (H5Ovisit2(m->m_fileId, H5_INDEX_NAME, H5_ITER_INC, visitObject, &vs, H5O_INFO_BASIC) < 0)
        return hdf5Error("cannot walk the file's groups").within(path);
    if (vs.tooMany)
        return makeError(ErrorCode::TooLarge, "more than " + std::to_string(kMaxDatasets) + " datasets or " +
                                                  std::to_string(kMaxObjectsVisited) + " objects",
                         path);
    for (const std::string& p : vs.datasets) {
        if (!isValidUtf8(p))
            return makeError(ErrorCode::Corrupt, "a dataset name is not valid UTF-8", path);
        const std::string where = tensorWhere(path, p);
        Hid ds(H5Dopen2(m->m_fileId, p.c_str(), H5P_DEFAULT), H5Dclose);
        if (!ds.ok())
            return hdf5Error("cannot open the dataset").within(where);
        Hid type(H5Dget_type(ds.id), H5Tclose);
        Hid space(H5Dget_space(ds.id), H5Sclose);
        if (!type.ok() || !space.ok())
            return hdf5Error("cannot read the dataset's type or shape").within(where);
        const H5T_class_t cls = H5Tget_class(type.id);
        if (cls != H5T_INTEGER && cls != H5T_FLOAT)
            continue;  // strings, compounds, references: not tensors
        const H5S_class_t scls = H5Sget_simple_extent_type(space.id);
        if (scls == H5S_NULL)
            continue;
        const int rank = H5Sget_simple_extent_ndims(space.id);
        if (rank < 0)
            return hdf5Error("cannot read the dataset's shape").within(where);
        if (std::size_t(rank) > kMaxRank)
            return makeError(ErrorCode::TooLarge, "rank " + std::to_string(rank) + " exceeds the limit", where);
        hsize_t dims[H5S_MAX_RANK];
        if (H5Sget_simple_extent_dims(space.id, dims, nullptr) < 0)
            return hdf5Error("cannot read the dataset's shape").within(where);
        TensorInfo t;
        t.name = p;
        for (int d = 0; d < rank; ++d) {
            if (dims[d] > hsize_t(kMaxElements))
                return makeError(ErrorCode::TooLarge, "dimension " + std::to_string(dims[d]) + " is absurd", where);
            t.shape.push_back(static_cast<std::int64_t>(dims[d]));
        }
        auto n = checkedNumel(t.shape);
        if (!n)
            return std::move(n).error().within(where);
        t.logicalShape = t.shape;
        t.numel = *n;
        t.dtype = dtypeOfHdf5(type.id, t.storedTypeName);
        const std::size_t es = H5Tget_size(type.id);
        if (es == 0 || es > 16)
            return makeError(ErrorCode::Corrupt, "element size " + std::to_string(es) + " is not a number's", where);
        t.bytes = t.numel * static_cast<std::int64_t>(es);
        t.storedBitsPerWeight = 8.0 * double(es);
        Hid dcpl(H5Dget_create_plist(ds.id), H5Pclose);
        if (dcpl.ok() && H5Pget_nfilters(dcpl.id) > 0)
            t.note = "compressed (" + std::to_string(H5Dget_storage_size(ds.id)) + " bytes stored)";
        for (auto& kv : attributesOf(ds.id))
            t.attributes.insert(std::move(kv));
        describeTensor(t, keras ? NameConvention::Keras : NameConvention::Path);
        m->m_tensors.push_back(std::move(t));
        m->m_paths.push_back(p);
    }
    H5Eclear2(H5E_DEFAULT);
    return m;
}

/// Runs openUnlocked (and, for files whose datasets are small in total, every read) in a forked
/// child first. Debian's libhdf5 1.10 has known out-of-bounds reads and writes on corrupt object
/// headers, local heaps and B-trees that no pre-check of ours can rule out; in the child such a
/// crash, or an endless loop, costs only the child, and the parent reports the file as corrupt
/// instead of going down with it. The caller holds hdf5Mutex(), so no other thread is inside libhdf5
/// when the process forks and the child's copy of the library is consistent. The child calls only
/// lock-free bodies (the mutex is owned by a thread the child does not have) and leaves by _exit.
Result<void> probeInChild(const std::string& path, const MappedFilePtr& image)
{
    const pid_t pid = ::fork();
    if (pid < 0)
        return {};  // no child to spare: open in-process as before the probe existed
    if (pid == 0) {
        inProbeChild() = true;
        // The child: nothing it prints (sanitizer reports included) reaches the user's terminal.
        const int devNull = ::open("/dev/null", O_WRONLY);
        if (devNull >= 0) {
            ::dup2(devNull, 1);
            ::dup2(devNull, 2);
        }
        auto m = openUnlocked(path, image);
        if (m) {
            std::int64_t floatBytes = 0;
            for (const TensorInfo& t : (*m)->tensors())
                floatBytes += t.numel * std::int64_t(sizeof(float));
            if (floatBytes <= kProbeReadBytes)
                for (std::size_t i = 0; i < (*m)->tensors().size(); ++i)
                    (void)(*m)->readUnlocked(i);
        }
        ::_exit(0);
    }
    // A pidfd becomes readable when the child ends, so the wait costs no polling delay; without one
    // (kernels before 5.3) the loop naps with a growing interval.
    #ifdef SYS_pidfd_open
    const int pidFd = int(::syscall(SYS_pidfd_open, pid, 0));
#else
    const int pidFd = -1;
#endif
    struct CloseFd {
        int fd;
        ~CloseFd()
        {
            if (fd >= 0)
                ::close(fd);
        }
    } closePidFd{pidFd};
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + kProbeTimeout;
    auto nap = std::chrono::microseconds(200);
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return {};
            const std::string how = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                                        : "exit code " + std::to_string(WEXITSTATUS(status));
            return makeError(ErrorCode::Corrupt,
                             "the file's HDF5 structure is corrupt: the HDF5 library failed on it (" + how + ")",
                             path);
        }
        if (r < 0 && errno != EINTR)
            return {};  // somebody else reaped the child; the in-process open still checks everything
        if (Clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return makeError(ErrorCode::Corrupt,
                             "the HDF5 library did not finish reading the file's structure in " +
                                 std::to_string(kProbeTimeout.count()) + " s",
                             path);
        }
        if (pidFd >= 0) {
            pollfd pfd{pidFd, POLLIN, 0};
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            (void)::poll(&pfd, 1, int(std::max<std::int64_t>(1, left.count())));
        } else {
            std::this_thread::sleep_for(nap);
            nap = std::min(nap * 2, std::chrono::microseconds(20000));
        }
    }
}

} // namespace

Result<ModelPtr> openHdf5File(const std::string& path, const MappedFilePtr& image)
{
    std::lock_guard lock(hdf5Mutex());
    QL_TRY(probeInChild(path, image));
    auto m = openUnlocked(path, image);
    if (!m)
        return std::move(m).error();
    return ModelPtr(std::move(*m));
}

} // namespace ql::io_detail
