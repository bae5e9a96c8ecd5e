#include "core/io/gguf.h"

#include "core/base/dtype.h"
#include "core/base/tensor.h"
#include "core/io/io_util.h"
#include "core/io/model_impl.h"
#include "core/quant/format_traits.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

namespace ql {

namespace {

constexpr std::uint64_t kMaxTensors = std::uint64_t(1) << 20;
constexpr std::uint64_t kMaxKeyValues = std::uint64_t(1) << 20;
constexpr std::uint64_t kMaxStringLen = std::uint64_t(1) << 26;  // 64 MiB (chat templates are KBs)
constexpr std::uint64_t kMaxNameLen = 4096;
constexpr std::uint64_t kMaxArrayLen = std::uint64_t(1) << 32;
constexpr int kMaxArrayDepth = 8;
constexpr std::uint32_t kGgmlMaxDims = 4;
constexpr std::uint32_t kMaxPlausibleType = 64;

struct TypeRow {
    std::uint32_t id;
    std::string_view name;
    std::int64_t blockSize;
    std::int64_t blockBytes;
};

// ggml_type ids with their block geometry (ggml's type traits), including types we cannot decode,
// so their byte sizes and offsets can still be checked.
constexpr TypeRow kTypes[] = {
    {0, "F32", 1, 4},          {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},      {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},       {7, "Q5_1", 32, 24},      {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},
    {10, "Q2_K", 256, 84},     {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},    {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74},
    {18, "IQ3_XXS", 256, 98},  {19, "IQ1_S", 256, 50},   {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},
    {22, "IQ2_S", 256, 82},    {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},         {25, "I16", 1, 2},
    {26, "I32", 1, 4},         {27, "I64", 1, 8},        {28, "F64", 1, 8},        {29, "IQ1_M", 256, 56},
    {30, "BF16", 1, 2},        {34, "TQ1_0", 256, 54},   {35, "TQ2_0", 256, 66},   {39, "MXFP4", 32, 17},
};

const TypeRow* typeRow(std::uint32_t id)
{
    for (const auto& r : kTypes)
        if (r.id == id)
            return &r;
    return nullptr;
}

// ggml types that are plain element arrays.
std::optional<DType> plainDType(std::uint32_t id)
{
    switch (id) {
    case 0: return DType::F32;
    case 1: return DType::F16;
    case 24: return DType::I8;
    case 25: return DType::I16;
    case 26: return DType::I32;
    case 27: return DType::I64;
    case 28: return DType::F64;
    case 30: return DType::BF16;
    default: return std::nullopt;
    }
}

std::size_t scalarSize(GgufValueType t)
{
    switch (t) {
    case GgufValueType::U8:
    case GgufValueType::I8:
    case GgufValueType::Bool: return 1;
    case GgufValueType::U16:
    case GgufValueType::I16: return 2;
    case GgufValueType::U32:
    case GgufValueType::I32:
    case GgufValueType::F32: return 4;
    case GgufValueType::U64:
    case GgufValueType::I64:
    case GgufValueType::F64: return 8;
    case GgufValueType::String: return 8;  // at least the length
    case GgufValueType::Array: return 12;  // at least type + count
    }
    return 1;
}

class Reader {
public:
    Reader(const std::uint8_t* data, std::uint64_t size) : m_data(data), m_size(size) {}

    std::uint64_t pos() const { return m_pos; }
    std::uint64_t left() const { return m_size - m_pos; }

    Result<void> need(std::uint64_t n, const std::string& what) const
    {
        if (n > left())
            return makeError(ErrorCode::Truncated, "file ends inside " + what + " (needs " + std::to_string(n) +
                                                       " bytes at offset " + std::to_string(m_pos) + ", " +
                                                       std::to_string(left()) + " left)");
        return {};
    }
    Result<std::uint32_t> u32(const std::string& what)
    {
        QL_TRY(need(4, what));
        const std::uint32_t v = loadLE32(m_data + m_pos);
        m_pos += 4;
        return v;
    }
    Result<std::uint64_t> u64(const std::string& what)
    {
        QL_TRY(need(8, what));
        const std::uint64_t v = loadLE64(m_data + m_pos);
        m_pos += 8;
        return v;
    }
    Result<std::string> string(const std::string& what, std::uint64_t maxLen)
    {
        auto len = u64("the length of " + what);
        if (!len)
            return std::move(len).error();
        if (*len > maxLen)
            return makeError(ErrorCode::TooLarge, what + " claims " + std::to_string(*len) + " bytes (limit " +
                                                      std::to_string(maxLen) + ")");
        QL_TRY(need(*len, what));
        std::string s(reinterpret_cast<const char*>(m_data + m_pos), std::size_t(*len));
        m_pos += *len;
        return s;
    }
    Result<GgufValue> value(GgufValueType type, int depth, bool keep, const std::string& what);

private:
    const std::uint8_t* m_data;
    std::uint64_t m_size;
    std::uint64_t m_pos = 0;
};

Result<GgufValue> Reader::value(GgufValueType type, int depth, bool keep, const std::string& what)
{
    GgufValue v;
    v.type = type;
    switch (type) {
    case GgufValueType::U8:
    case GgufValueType::I8:
    case GgufValueType::Bool:
    case GgufValueType::U16:
    case GgufValueType::I16:
    case GgufValueType::U32:
    case GgufValueType::I32:
    case GgufValueType::F32:
    case GgufValueType::U64:
    case GgufValueType::I64:
    case GgufValueType::F64: {
        const std::size_t n = scalarSize(type);
        QL_TRY(need(n, what));
        const std::uint8_t* p = m_data + m_pos;
        m_pos += n;
        if (!keep)
            return v;
        switch (type) {
        case GgufValueType::U8: v.u = p[0]; break;
        case GgufValueType::I8: v.i = static_cast<std::int8_t>(p[0]); break;
        case GgufValueType::Bool:
            if (p[0] > 1)
                return makeError(ErrorCode::Corrupt, what + " is a bool holding " + std::to_string(p[0]));
            v.u = p[0];
            break;
        case GgufValueType::U16: v.u = loadLE16(p); break;
        case GgufValueType::I16: v.i = static_cast<std::int16_t>(loadLE16(p)); break;
        case GgufValueType::U32: v.u = loadLE32(p); break;
        case GgufValueType::I32: v.i = static_cast<std::int32_t>(loadLE32(p)); break;
        case GgufValueType::F32: {
            const std::uint32_t b = loadLE32(p);
            float f;
            std::memcpy(&f, &b, 4);
            v.f = f;
            break;
        }
        case GgufValueType::U64: v.u = loadLE64(p); break;
        case GgufValueType::I64: v.i = static_cast<std::int64_t>(loadLE64(p)); break;
        case GgufValueType::F64: {
            const std::uint64_t b = loadLE64(p);
            std::memcpy(&v.f, &b, 8);
            break;
        }
        default: break;
        }
        return v;
    }
    case GgufValueType::String: {
        auto s = string(what, kMaxStringLen);
        if (!s)
            return std::move(s).error();
        if (keep)
            v.str = std::move(*s);
        return v;
    }
    case GgufValueType::Array: {
        if (depth >= kMaxArrayDepth)
            return makeError(ErrorCode::TooLarge, what + " nests arrays deeper than " + std::to_string(kMaxArrayDepth));
        auto et = u32("the element type of " + what);
        if (!et)
            return std::move(et).error();
        if (*et > static_cast<std::uint32_t>(GgufValueType::F64))
            return makeError(ErrorCode::Corrupt, what + " has unknown element type " + std::to_string(*et));
        auto count = u64("the length of " + what);
        if (!count)
            return std::move(count).error();
        if (*count > kMaxArrayLen)
            return makeError(ErrorCode::TooLarge, what + " claims " + std::to_string(*count) + " elements");
        v.arrayType = static_cast<GgufValueType>(*et);
        v.arrayCount = *count;
        const std::size_t minSize = scalarSize(v.arrayType);
        // Every element needs at least minSize bytes: a count the file cannot hold is refused up front.
        if (*count > left() / minSize)
            return makeError(ErrorCode::Truncated, what + " claims " + std::to_string(*count) +
                                                       " elements but only " + std::to_string(left()) +
                                                       " bytes remain");
        if (v.arrayType != GgufValueType::String && v.arrayType != GgufValueType::Array) {
            // Fixed-size elements: keep the first few, skip the rest in one step.
            const std::uint64_t keepN = keep ? std::min<std::uint64_t>(*count, kGgufArrayItemsKept) : 0;
            for (std::uint64_t k = 0; k < keepN; ++k) {
                auto item = value(v.arrayType, depth + 1, true, what + "[" + std::to_string(k) + "]");
                if (!item)
                    return std::move(item).error();
                v.items.push_back(std::move(*item));
            }
            const std::uint64_t rest = (*count - keepN) * minSize;
            QL_TRY(need(rest, what));
            if (v.arrayType == GgufValueType::Bool)
                for (std::uint64_t k = 0; k < rest; ++k)
                    if (m_data[m_pos + k] > 1)
                        return makeError(ErrorCode::Corrupt, what + " holds a bool that is neither 0 nor 1");
            m_pos += rest;
            return v;
        }
        for (std::uint64_t k = 0; k < *count; ++k) {
            const bool keepItem = keep && k < kGgufArrayItemsKept;
            auto item = value(v.arrayType, depth + 1, keepItem, what + "[" + std::to_string(k) + "]");
            if (!item)
                return std::move(item).error();
            if (keepItem)
                v.items.push_back(std::move(*item));
        }
        return v;
    }
    }
    return makeError(ErrorCode::Corrupt, what + " has unknown value type " + std::to_string(std::uint32_t(type)));
}

std::string quote(const std::string& s)
{
    std::string o = "\"";
    for (char c : printableName(s, 120)) {
        if (c == '"' || c == '\\')
            o.push_back('\\');
        o.push_back(c);
    }
    return o + "\"";
}

} // namespace

std::string GgufValue::toString() const
{
    char buf[64];
    switch (type) {
    case GgufValueType::U8:
    case GgufValueType::U16:
    case GgufValueType::U32:
    case GgufValueType::U64: return std::to_string(u);
    case GgufValueType::I8:
    case GgufValueType::I16:
    case GgufValueType::I32:
    case GgufValueType::I64: return std::to_string(i);
    case GgufValueType::Bool: return u ? "true" : "false";
    case GgufValueType::F32:
    case GgufValueType::F64: std::snprintf(buf, sizeof buf, "%.9g", f); return buf;
    case GgufValueType::String: return quote(str);
    case GgufValueType::Array: {
        std::string s = "[";
        for (std::size_t k = 0; k < items.size(); ++k) {
            if (k)
                s += ", ";
            s += items[k].toString();
        }
        if (arrayCount > items.size()) {
            if (!items.empty())
                s += ", ";
            s += "... (" + std::to_string(arrayCount) + " items)";
        }
        s += "]";
        return s;
    }
    }
    return {};
}

const GgufKeyValue* GgufFile::find(std::string_view key) const
{
    for (const auto& kv : metadata)
        if (kv.key == key)
            return &kv;
    return nullptr;
}

std::string_view ggmlTypeName(std::uint32_t type)
{
    const TypeRow* r = typeRow(type);
    return r ? r->name : std::string_view();
}

std::optional<GgmlTypeSize> ggmlTypeSize(std::uint32_t type)
{
    const TypeRow* r = typeRow(type);
    if (!r)
        return std::nullopt;
    return GgmlTypeSize{r->blockSize, r->blockBytes};
}

Result<GgufFile> parseGguf(const std::uint8_t* data, std::uint64_t size)
{
    Reader rd(data, size);
    if (size < 4)
        return makeError(ErrorCode::Truncated, "file is too short for a GGUF header (" + std::to_string(size) + " bytes)");
    if (std::memcmp(data, "GGUF", 4) != 0)
        return makeError(ErrorCode::Corrupt, "not a GGUF file (bad magic)");
    (void)rd.u32("magic");
    GgufFile g;
    auto version = rd.u32("the version");
    if (!version)
        return std::move(version).error();
    g.version = *version;
    if (g.version == 0x02000000u || g.version == 0x03000000u)
        return makeError(ErrorCode::Unsupported, "big-endian GGUF files are not supported");
    if (g.version == 1)
        return makeError(ErrorCode::Unsupported, "GGUF version 1 (32-bit counts) is not supported; convert it to v3");
    if (g.version != 2 && g.version != 3)
        return makeError(ErrorCode::Unsupported, "GGUF version " + std::to_string(g.version) + " is not supported (2 and 3 are)");
    auto nTensors = rd.u64("the tensor count");
    if (!nTensors)
        return std::move(nTensors).error();
    auto nKv = rd.u64("the metadata count");
    if (!nKv)
        return std::move(nKv).error();
    if (*nTensors > kMaxTensors)
        return makeError(ErrorCode::TooLarge, "tensor count " + std::to_string(*nTensors) + " exceeds the limit of " +
                                                  std::to_string(kMaxTensors));
    if (*nKv > kMaxKeyValues)
        return makeError(ErrorCode::TooLarge, "metadata count " + std::to_string(*nKv) + " exceeds the limit of " +
                                                  std::to_string(kMaxKeyValues));
    // Each record needs ≥ 12 (kv) or ≥ 24 (tensor info) bytes: counts the file cannot hold are refused now.
    if (*nKv > rd.left() / 12 || *nTensors > rd.left() / 24)
        return makeError(ErrorCode::Truncated, "counts of " + std::to_string(*nKv) + " metadata entries and " +
                                                   std::to_string(*nTensors) + " tensors do not fit in the file");

    std::set<std::string> keys;
    for (std::uint64_t k = 0; k < *nKv; ++k) {
        const std::uint64_t start = rd.pos();
        auto key = rd.string("metadata key #" + std::to_string(k), kMaxNameLen);
        if (!key)
            return std::move(key).error();
        if (!isValidUtf8(*key))
            return makeError(ErrorCode::Corrupt, "metadata key #" + std::to_string(k) + " is not valid UTF-8");
        if (key->empty())
            return makeError(ErrorCode::Corrupt, "metadata key #" + std::to_string(k) + " is empty");
        if (!keys.insert(*key).second)
            return makeError(ErrorCode::Corrupt, "metadata key '" + printableName(*key) + "' appears twice");
        const std::string what = "metadata '" + printableName(*key) + "'";
        auto type = rd.u32("the type of " + what);
        if (!type)
            return std::move(type).error();
        if (*type > static_cast<std::uint32_t>(GgufValueType::F64))
            return makeError(ErrorCode::Corrupt, what + " has unknown value type " + std::to_string(*type));
        auto v = rd.value(static_cast<GgufValueType>(*type), 0, true, what);
        if (!v)
            return std::move(v).error();
        if (v->type == GgufValueType::String && !isValidUtf8(v->str))
            return makeError(ErrorCode::Corrupt, what + " is not valid UTF-8");
        g.metadata.push_back(GgufKeyValue{std::move(*key), std::move(*v), start, rd.pos() - start});
    }
    if (const GgufKeyValue* a = g.find("general.alignment")) {
        if (a->value.type != GgufValueType::U32)
            return makeError(ErrorCode::Corrupt, "general.alignment is not a u32");
        const std::uint64_t al = a->value.u;
        if (al == 0 || (al & (al - 1)) != 0)
            return makeError(ErrorCode::Corrupt, "general.alignment " + std::to_string(al) + " is not a power of two");
        g.alignment = al;
    }

    std::set<std::string> names;
    for (std::uint64_t k = 0; k < *nTensors; ++k) {
        GgufTensorInfo t;
        auto name = rd.string("the name of tensor #" + std::to_string(k), kMaxNameLen);
        if (!name)
            return std::move(name).error();
        if (!isValidUtf8(*name) || name->empty())
            return makeError(ErrorCode::Corrupt, "the name of tensor #" + std::to_string(k) + " is empty or not valid UTF-8");
        if (!names.insert(*name).second)
            return makeError(ErrorCode::Corrupt, "two tensors have this name", "tensor '" + printableName(*name) + "'");
        t.name = std::move(*name);
        const std::string where = "tensor '" + printableName(t.name) + "'";
        auto nDims = rd.u32("the rank");
        if (!nDims)
            return std::move(nDims).error().within(where);
        if (*nDims > kGgmlMaxDims)
            return makeError(ErrorCode::Corrupt, "rank " + std::to_string(*nDims) + " exceeds GGML's " +
                                                     std::to_string(kGgmlMaxDims), where);
        Shape shape;
        for (std::uint32_t d = 0; d < *nDims; ++d) {
            auto ne = rd.u64("the dimensions");
            if (!ne)
                return std::move(ne).error().within(where);
            if (*ne > std::uint64_t(kMaxElements))
                return makeError(ErrorCode::TooLarge, "dimension " + std::to_string(*ne) + " is absurd", where);
            t.ne.push_back(*ne);
            shape.push_back(static_cast<std::int64_t>(*ne));
        }
        auto n = checkedNumel(shape);
        if (!n)
            return std::move(n).error().within(where);
        auto type = rd.u32("the type");
        if (!type)
            return std::move(type).error().within(where);
        t.type = *type;
        auto off = rd.u64("the data offset");
        if (!off)
            return std::move(off).error().within(where);
        t.offset = *off;
        if (t.offset % g.alignment != 0)
            return makeError(ErrorCode::Corrupt, "data offset " + std::to_string(t.offset) +
                                                     " is not a multiple of the alignment " + std::to_string(g.alignment),
                             where);
        if (const TypeRow* row = typeRow(t.type)) {
            t.knownType = true;
            const std::int64_t rowLen = t.ne.empty() ? 1 : static_cast<std::int64_t>(t.ne[0]);
            if (rowLen % row->blockSize != 0)
                return makeError(ErrorCode::Corrupt, std::string(row->name) + " rows hold whole blocks of " +
                                                         std::to_string(row->blockSize) + ", but ne[0] is " +
                                                         std::to_string(rowLen),
                                 where);
            t.bytes = std::uint64_t(*n / row->blockSize) * std::uint64_t(row->blockBytes);
        } else if (t.type >= kMaxPlausibleType) {
            return makeError(ErrorCode::Corrupt, "type " + std::to_string(t.type) + " is not a ggml type", where);
        }
        g.tensors.push_back(std::move(t));
    }
    const std::uint64_t infoEnd = rd.pos();
    g.dataOffset = (infoEnd + g.alignment - 1) / g.alignment * g.alignment;
    if (!g.tensors.empty() && g.dataOffset > size)
        return makeError(ErrorCode::Truncated, "file ends before its tensor data section (offset " +
                                                   std::to_string(g.dataOffset) + ")");
    const std::uint64_t dataSize = size >= g.dataOffset ? size - g.dataOffset : 0;
    for (const auto& t : g.tensors) {
        if (t.offset > dataSize || t.bytes > dataSize - t.offset)
            return makeError(ErrorCode::Truncated, "data [" + std::to_string(t.offset) + ", +" + std::to_string(t.bytes) +
                                                       ") lies beyond the end of the file (data section has " +
                                                       std::to_string(dataSize) + " bytes)",
                             "tensor '" + printableName(t.name) + "'");
    }
    std::vector<const GgufTensorInfo*> order;
    for (const auto& t : g.tensors)
        if (t.knownType && t.bytes > 0)
            order.push_back(&t);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (std::size_t k = 1; k < order.size(); ++k)
        if (order[k]->offset < order[k - 1]->offset + order[k - 1]->bytes)
            return makeError(ErrorCode::Corrupt, "data overlaps that of tensor '" + printableName(order[k - 1]->name) + "'",
                             "tensor '" + printableName(order[k]->name) + "'");
    return g;
}

namespace io_detail {

Result<ModelPtr> openGgufFile(const MappedFilePtr& file)
{
    auto g = parseGguf(file->data(), file->size());
    if (!g)
        return std::move(g).error().within(file->path());
    auto m = std::make_shared<MappedModel>();
    m->m_format = FileFormat::Gguf;
    m->m_path = file->path();
    m->m_files = {file->path()};
    m->m_maps = {file};
    m->m_metadata.emplace_back("gguf.version", std::to_string(g->version));
    for (const auto& kv : g->metadata)
        m->m_metadata.emplace_back(kv.key, kv.value.toString());
    for (const auto& gt : g->tensors) {
        TensorInfo t;
        t.name = gt.name;
        for (auto d : gt.ne)
            t.shape.push_back(static_cast<std::int64_t>(d));
        t.logicalShape.assign(t.shape.rbegin(), t.shape.rend());
        t.numel = numel(t.shape);
        t.bytes = static_cast<std::int64_t>(gt.bytes);
        t.fileIndex = 0;
        const std::string_view typeName = ggmlTypeName(gt.type);
        t.storedTypeName = typeName.empty() ? "type " + std::to_string(gt.type) : std::string(typeName);
        if (const auto sz = ggmlTypeSize(gt.type))
            t.storedBitsPerWeight = 8.0 * double(sz->blockBytes) / double(sz->blockSize);
        MappedSource src;
        src.offset = g->dataOffset + gt.offset;
        src.bytes = gt.bytes;
        if (const auto dt = plainDType(gt.type)) {
            t.dtype = *dt;
            src.dtype = *dt;
        } else {
            const FormatTraits* traits = formatFromGgufType(static_cast<int>(gt.type));
            const auto sz = ggmlTypeSize(gt.type);
            if (traits)
                t.storedFormat = traits->format;
            if (traits && traits->decodeBlocks && sz && traits->blockSize == sz->blockSize &&
                traits->blockBytes == sz->blockBytes) {
                src.block = traits;
                char buf[64];
                std::snprintf(buf, sizeof buf, "stored as %s, %.4g bpw", t.storedTypeName.c_str(), t.storedBitsPerWeight);
                t.note = buf;
            } else {
                t.supported = false;
                t.note = gt.knownType ? t.storedTypeName + " is not supported yet"
                                      : "ggml type " + std::to_string(gt.type) + " is unknown: not supported yet";
            }
        }
        io_detail::describeTensor(t, NameConvention::Gguf);
        m->m_tensors.push_back(std::move(t));
        m->m_sources.push_back(src);
    }
    return ModelPtr(std::move(m));
}

} // namespace io_detail

} // namespace ql
