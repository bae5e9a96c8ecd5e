// NumPy readers: .npy (memory-mapped) and .npz archives (stored and deflated members, via libzip).

#include "core/io/io_util.h"
#include "core/io/model_impl.h"
#include "core/io/npy.h"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>

namespace ql::io_detail {

namespace {

constexpr std::uint64_t kMaxNpzMembers = std::uint64_t(1) << 20;
constexpr std::size_t kMaxNpyHeader = (std::size_t(1) << 20) + 12;
// Deflate cannot expand more than about 1032:1; a member that claims more is lying.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

std::string stemOf(const std::string& path)
{
    const auto slash = path.find_last_of('/');
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    if (base.size() > 4 && base.compare(base.size() - 4, 4, ".npy") == 0)
        base.erase(base.size() - 4);
    return base;
}

void fillFromNpy(TensorInfo& t, const NpyHeader& h)
{
    t.shape = h.shape;
    t.logicalShape = h.shape;
    t.dtype = h.dtype;
    t.numel = numel(h.shape);
    t.bytes = t.numel * static_cast<std::int64_t>(dtypeSize(h.dtype));
    t.storedTypeName = std::string(dtypeName(h.dtype));
    if (h.bigEndian)
        t.storedTypeName.append(" (big-endian)");
    t.storedBitsPerWeight = 8.0 * double(dtypeSize(h.dtype));
    if (h.fortranOrder)
        t.note = "Fortran (column-major) order";
}

struct ZipCloser {
    void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
    void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;
using ZipFilePtr = std::unique_ptr<zip_file_t, ZipFileCloser>;

ErrorCode zipErrorCode(int ze)
{
    switch (ze) {
    case ZIP_ER_NOZIP:
    case ZIP_ER_INCONS:
    case ZIP_ER_CRC:
    case ZIP_ER_COMPRESSED_DATA:
    case ZIP_ER_ZLIB: return ErrorCode::Corrupt;
    case ZIP_ER_EOF: return ErrorCode::Truncated;
    case ZIP_ER_COMPNOTSUPP:
    case ZIP_ER_ENCRNOTSUPP:
    case ZIP_ER_NOPASSWD:
    case ZIP_ER_WRONGPASSWD: return ErrorCode::Unsupported;
    case ZIP_ER_MEMORY: return ErrorCode::TooLarge;
    case ZIP_ER_READ:
    case ZIP_ER_OPEN: return ErrorCode::Io;
    default: return ErrorCode::Corrupt;
    }
}

Error zipError(zip_error_t* e, const std::string& what)
{
    return makeError(zipErrorCode(zip_error_code_zip(e)), what + ": " + zip_error_strerror(e));
}

Result<ZipPtr> openArchive(const MappedFile& f)
{
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(f.data(), f.size(), 0, &err);
    if (!src) {
        Error e = zipError(&err, "cannot read the archive");
        zip_error_fini(&err);
        return e;
    }
    zip_t* z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!z) {
        zip_source_free(src);
        Error e = zipError(&err, "not a readable zip archive");
        zip_error_fini(&err);
        return e;
    }
    zip_error_fini(&err);
    return ZipPtr(z);
}

// Reads exactly n bytes (fewer only at the end of the member: returns how many).
Result<std::uint64_t> readSome(zip_file_t* zf, std::uint8_t* dst, std::uint64_t n)
{
    std::uint64_t done = 0;
    while (done < n) {
        const zip_int64_t r = zip_fread(zf, dst + done, n - done);
        if (r < 0)
            return zipError(zip_file_get_error(zf), "cannot decompress");
        if (r == 0)
            break;
        done += static_cast<std::uint64_t>(r);
    }
    return done;
}

// Reading past the end makes libzip verify the member's CRC.
Result<void> checkEnd(zip_file_t* zf, const std::string& where)
{
    std::uint8_t extra;
    const zip_int64_t r = zip_fread(zf, &extra, 1);
    if (r < 0)
        return zipError(zip_file_get_error(zf), "member data is damaged").within(where);
    if (r > 0)
        return makeError(ErrorCode::Corrupt, "member holds more bytes than its .npy header declares", where);
    return {};
}

/// .npz: each member "<name>.npy" is a tensor; data are decompressed on demand.
class NpzModel : public ModelBase {
public:
    struct Member {
        zip_uint64_t index = 0;
        NpyHeader header;
    };

    Result<Tensor> readTensor(std::size_t index, TaskContext& ctx) const override
    {
        QL_TRY(checkReadable(index));
        if (ctx.cancelled())
            return makeError(ErrorCode::Cancelled, "cancelled", where(index));
        auto out = allocate(index);
        if (!out)
            return std::move(out).error();
        auto z = openArchive(*m_file);
        if (!z)
            return std::move(z).error().within(where(index));
        const Member& mb = m_members[index];
        ZipFilePtr zf(zip_fopen_index(z->get(), mb.index, 0));
        if (!zf)
            return zipError(zip_get_error(z->get()), "cannot open the member").within(where(index));
        // Skip the .npy header, then stream the data in chunks straight into the output.
        std::vector<std::uint8_t> buf(std::size_t(mb.header.dataOffset));
        auto got = readSome(zf.get(), buf.data(), buf.size());
        if (!got)
            return std::move(got).error().within(where(index));
        const TensorInfo& t = m_tensors[index];
        const std::size_t es = dtypeSize(mb.header.dtype);
        MappedSource src;
        src.dtype = mb.header.dtype;
        src.bigEndian = mb.header.bigEndian;
        src.fortranOrder = mb.header.fortranOrder;
        if (mb.header.fortranOrder && t.logicalShape.size() > 1) {
            std::vector<std::uint8_t> raw(std::size_t(t.bytes));
            auto n = readSome(zf.get(), raw.data(), raw.size());
            if (!n)
                return std::move(n).error().within(where(index));
            if (*n != raw.size())
                return makeError(ErrorCode::Truncated, "member ends before its data does", where(index));
            QL_TRY(checkEnd(zf.get(), where(index)));
            decodeElements(src, t.logicalShape, raw.data(), 0, t.numel, out->data.data());
            return out;
        }
        const std::int64_t chunkElems = std::int64_t(1) << 20;
        std::vector<std::uint8_t> raw(std::size_t(std::min<std::int64_t>(t.numel, chunkElems)) * es);
        std::int64_t done = 0;
        while (done < t.numel) {
            if (ctx.cancelled())
                return makeError(ErrorCode::Cancelled, "cancelled", where(index));
            const std::int64_t k = std::min(chunkElems, t.numel - done);
            auto n = readSome(zf.get(), raw.data(), std::uint64_t(k) * es);
            if (!n)
                return std::move(n).error().within(where(index));
            if (*n != std::uint64_t(k) * es)
                return makeError(ErrorCode::Truncated, "member ends before its data does", where(index));
            decodeElements(src, t.logicalShape, raw.data(), 0, k, out->data.data() + done);
            done += k;
            ctx.progress(done, t.numel);
        }
        QL_TRY(checkEnd(zf.get(), where(index)));
        return out;
    }

    MappedFilePtr m_file;
    std::vector<Member> m_members;  ///< parallel to m_tensors
};

} // namespace

Result<ModelPtr> openNpyFile(const MappedFilePtr& file)
{
    auto h = parseNpyHeader(file->data(), std::size_t(std::min<std::uint64_t>(file->size(), kMaxNpyHeader)), file->size());
    if (!h)
        return std::move(h).error().within(file->path());
    auto m = std::make_shared<MappedModel>();
    m->m_format = FileFormat::Npy;
    m->m_path = file->path();
    m->m_files = {file->path()};
    m->m_maps = {file};
    m->m_metadata.emplace_back("npy.version", std::to_string(h->majorVersion));
    TensorInfo t;
    t.name = stemOf(file->path());
    fillFromNpy(t, *h);
    describeTensor(t, NameConvention::Path);
    MappedSource src;
    src.offset = std::uint64_t(h->dataOffset);
    src.bytes = std::uint64_t(t.bytes);
    src.dtype = h->dtype;
    src.bigEndian = h->bigEndian;
    src.fortranOrder = h->fortranOrder;
    m->m_tensors.push_back(std::move(t));
    m->m_sources.push_back(src);
    return ModelPtr(std::move(m));
}

Result<ModelPtr> openNpzFile(const MappedFilePtr& file)
{
    const std::string& path = file->path();
    if (file->size() == 0)
        return makeError(ErrorCode::Truncated, "file is empty", path);
    // A zip ends with its end-of-central-directory record (within the last 64 KiB + 22 bytes); without
    // one the archive was cut short.
    {
        const std::uint64_t tail = std::min<std::uint64_t>(file->size(), 65557);
        bool found = false, complete = false;
        for (std::uint64_t i = file->size() - tail; i + 4 <= file->size(); ++i)
            if (std::memcmp(file->data() + i, "PK\x05\x06", 4) == 0) {
                found = true;
                complete = complete || (i + 22 <= file->size() && i + 22 + loadLE16(file->data() + i + 20) <= file->size());
            }
        if (!found || !complete)
            return makeError(ErrorCode::Truncated, "archive ends before its central directory does", path);
    }
    auto z = openArchive(*file);
    if (!z)
        return std::move(z).error().within(path);
    const zip_int64_t n = zip_get_num_entries(z->get(), 0);
    if (n < 0)
        return makeError(ErrorCode::Corrupt, "cannot list the archive", path);
    if (std::uint64_t(n) > kMaxNpzMembers)
        return makeError(ErrorCode::TooLarge, std::to_string(n) + " members exceed the limit", path);
    auto m = std::make_shared<NpzModel>();
    m->m_format = FileFormat::Npz;
    m->m_path = path;
    m->m_files = {path};
    m->m_file = file;
    std::set<std::string> names;
    for (zip_int64_t i = 0; i < n; ++i) {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(z->get(), zip_uint64_t(i), 0, &st) != 0)
            return zipError(zip_get_error(z->get()), "cannot read member #" + std::to_string(i)).within(path);
        const std::string member = (st.valid & ZIP_STAT_NAME) && st.name ? st.name : "";
        if (member.empty() || member.back() == '/')
            continue;  // directories
        if (!isValidUtf8(member))
            return makeError(ErrorCode::Corrupt, "member #" + std::to_string(i) + " has a name that is not valid UTF-8", path);
        if (member.size() < 5 || member.compare(member.size() - 4, 4, ".npy") != 0) {
            m->m_metadata.emplace_back("skipped member", printableName(member));
            continue;
        }
        const std::string name = member.substr(0, member.size() - 4);
        const std::string where = tensorWhere(path, name);
        if (!names.insert(name).second)
            return makeError(ErrorCode::Corrupt, "two members have this name", where);
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
            return makeError(ErrorCode::Unsupported, "member is encrypted", where);
        if ((st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE)
            return makeError(ErrorCode::Unsupported,
                             "compression method " + std::to_string(st.comp_method) + " is not supported (stored and deflate are)",
                             where);
        if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
            return makeError(ErrorCode::Corrupt, "member has no size", where);
        if (st.comp_size > file->size())
            return makeError(ErrorCode::Truncated, "member claims more compressed bytes than the archive holds", where);
        if (st.comp_method == ZIP_CM_STORE ? st.size != st.comp_size
                                           : st.size / kMaxDeflateRatio > st.comp_size + 1)
            return makeError(ErrorCode::Corrupt,
                             "member claims " + std::to_string(st.size) + " bytes from " + std::to_string(st.comp_size) +
                                 " compressed bytes, more than its compression can produce",
                             where);
        ZipFilePtr zf(zip_fopen_index(z->get(), zip_uint64_t(i), 0));
        if (!zf)
            return zipError(zip_get_error(z->get()), "cannot open the member").within(where);
        std::vector<std::uint8_t> head(12);
        auto got = readSome(zf.get(), head.data(), 12);
        if (!got)
            return std::move(got).error().within(where);
        head.resize(std::size_t(*got));
        if (head.size() >= 12 && head[6] >= 1 && head[6] <= 3) {
            const std::size_t prefix = head[6] == 1 ? 10 : 12;
            const std::size_t len = head[6] == 1 ? loadLE16(head.data() + 8) : loadLE32(head.data() + 8);
            if (len <= kMaxNpyHeader && prefix + len > head.size()) {
                const std::size_t want = prefix + len;
                const std::size_t have = head.size();
                head.resize(want);
                auto more = readSome(zf.get(), head.data() + have, want - have);
                if (!more)
                    return std::move(more).error().within(where);
                head.resize(have + std::size_t(*more));
            }
        }
        auto h = parseNpyHeader(head.data(), head.size(), st.size);
        if (!h)
            return std::move(h).error().within(where);
        TensorInfo t;
        t.name = name;
        fillFromNpy(t, *h);
        t.fileIndex = 0;
        if (st.comp_method == ZIP_CM_DEFLATE)
            t.note = t.note.empty() ? "deflated" : t.note + ", deflated";
        describeTensor(t, NameConvention::Path);
        m->m_tensors.push_back(std::move(t));
        m->m_members.push_back({zip_uint64_t(i), *h});
    }
    return ModelPtr(std::move(m));
}

} // namespace ql::io_detail
