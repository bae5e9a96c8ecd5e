#include "core/io/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

namespace ql {

namespace {

// Limits: a header larger than this is hostile (NumPy itself writes < 4 KiB headers).
constexpr std::size_t kMaxHeaderLen = 1 << 20;

std::string trim(const std::string& s)
{
    const auto b = s.find_first_not_of(" \t\n\r");
    const auto e = s.find_last_not_of(" \t\n\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Finds the value text of 'key' in the Python dict literal of the header.
Result<std::string> dictValue(const std::string& dict, const std::string& key)
{
    const std::string k1 = "'" + key + "'";
    const std::string k2 = "\"" + key + "\"";
    std::size_t p = dict.find(k1);
    std::size_t klen = k1.size();
    if (p == std::string::npos) {
        p = dict.find(k2);
        klen = k2.size();
    }
    if (p == std::string::npos)
        return makeError(ErrorCode::Corrupt, "header has no '" + key + "' entry");
    p = dict.find(':', p + klen);
    if (p == std::string::npos)
        return makeError(ErrorCode::Corrupt, "header entry '" + key + "' has no value");
    ++p;
    // Value ends at the matching ',' or '}' outside brackets/quotes.
    int depth = 0;
    char quote = 0;
    std::size_t e = p;
    for (; e < dict.size(); ++e) {
        const char c = dict[e];
        if (quote) {
            if (c == quote)
                quote = 0;
            continue;
        }
        if (c == '\'' || c == '"')
            quote = c;
        else if (c == '(' || c == '[')
            ++depth;
        else if (c == ')' || c == ']')
            --depth;
        else if ((c == ',' || c == '}') && depth == 0)
            break;
    }
    return trim(dict.substr(p, e - p));
}

} // namespace

Result<NpyHeader> parseNpyHeader(const std::uint8_t* data, std::size_t size, std::uint64_t fileSize)
{
    static const std::uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size < 10)
        return makeError(ErrorCode::Truncated, "file is too short for a .npy header");
    if (std::memcmp(data, kMagic, 6) != 0)
        return makeError(ErrorCode::Corrupt, "not a .npy file (bad magic)");
    NpyHeader h;
    h.majorVersion = data[6];
    std::size_t headerLen = 0, prefix = 0;
    if (h.majorVersion == 1) {
        headerLen = std::size_t(data[8]) | (std::size_t(data[9]) << 8);
        prefix = 10;
    } else if (h.majorVersion == 2 || h.majorVersion == 3) {
        if (size < 12)
            return makeError(ErrorCode::Truncated, "file is too short for a .npy v2 header");
        headerLen = std::size_t(data[8]) | (std::size_t(data[9]) << 8) | (std::size_t(data[10]) << 16) |
                    (std::size_t(data[11]) << 24);
        prefix = 12;
    } else {
        return makeError(ErrorCode::Unsupported, ".npy format version " + std::to_string(h.majorVersion) +
                                                     " is not supported (1 to 3 are)");
    }
    if (headerLen > kMaxHeaderLen)
        return makeError(ErrorCode::TooLarge, "header length " + std::to_string(headerLen) + " is absurd");
    if (prefix + headerLen > size)
        return makeError(ErrorCode::Truncated, "file ends inside the header");
    const std::string dict(reinterpret_cast<const char*>(data + prefix), headerLen);
    h.dataOffset = static_cast<std::int64_t>(prefix + headerLen);

    auto descr = dictValue(dict, "descr");
    if (!descr)
        return descr.error();
    std::string d = *descr;
    if (d.size() < 3 || (d.front() != '\'' && d.front() != '"'))
        return makeError(ErrorCode::Unsupported, "dtype " + d + " is not a simple numeric dtype");
    d = d.substr(1, d.size() - 2);
    char order = d[0];
    std::string code = d.substr(1);
    if (order != '<' && order != '>' && order != '|' && order != '=') {
        order = '|';
        code = d;
    }
    h.bigEndian = order == '>';
    struct Code {
        const char* code;
        DType type;
    };
    static const Code kCodes[] = {{"f8", DType::F64}, {"f4", DType::F32}, {"f2", DType::F16}, {"i8", DType::I64},
                                  {"i4", DType::I32}, {"i2", DType::I16}, {"i1", DType::I8},  {"u1", DType::U8},
                                  {"b1", DType::Bool}, {"?", DType::Bool}};
    bool found = false;
    for (const auto& c : kCodes)
        if (code == c.code) {
            h.dtype = c.type;
            found = true;
        }
    if (!found)
        return makeError(ErrorCode::Unsupported, "dtype '" + d + "' is not supported");

    auto fo = dictValue(dict, "fortran_order");
    if (!fo)
        return fo.error();
    if (*fo == "True")
        h.fortranOrder = true;
    else if (*fo != "False")
        return makeError(ErrorCode::Corrupt, "fortran_order is neither True nor False");

    auto shapeText = dictValue(dict, "shape");
    if (!shapeText)
        return shapeText.error();
    const std::string st = *shapeText;
    if (st.size() < 2 || st.front() != '(' || st.back() != ')')
        return makeError(ErrorCode::Corrupt, "shape is not a tuple: " + st);
    std::string inner = st.substr(1, st.size() - 2);
    std::size_t p = 0;
    while (p < inner.size()) {
        std::size_t q = inner.find(',', p);
        std::string item = trim(inner.substr(p, q == std::string::npos ? std::string::npos : q - p));
        if (!item.empty()) {
            if (item.size() > 18 || item.find_first_not_of("0123456789") != std::string::npos)
                return makeError(ErrorCode::Corrupt, "bad dimension '" + item + "' in shape");
            h.shape.push_back(std::stoll(item));
        }
        if (q == std::string::npos)
            break;
        p = q + 1;
    }
    auto n = checkedNumel(h.shape);
    if (!n)
        return n.error();
    const std::uint64_t need = std::uint64_t(*n) * dtypeSize(h.dtype);
    if (std::uint64_t(h.dataOffset) + need > fileSize)
        return makeError(ErrorCode::Truncated, "data needs " + std::to_string(need) + " bytes but the file has " +
                                                   std::to_string(fileSize - std::min<std::uint64_t>(fileSize, h.dataOffset)));
    return h;
}

Result<Tensor> readNpy(const std::string& path)
{
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f)
        return makeError(ErrorCode::Io, "cannot open file", path);
    const std::uint64_t fileSize = static_cast<std::uint64_t>(f.tellg());
    f.seekg(0);
    std::vector<std::uint8_t> head(static_cast<std::size_t>(std::min<std::uint64_t>(fileSize, kMaxHeaderLen + 12)));
    f.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
    auto h = parseNpyHeader(head.data(), head.size(), fileSize);
    if (!h)
        return std::move(h).error().within(path);
    const std::int64_t n = numel(h->shape);
    const std::size_t bytes = static_cast<std::size_t>(n) * dtypeSize(h->dtype);
    std::vector<std::uint8_t> raw(bytes);
    f.seekg(h->dataOffset);
    f.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(bytes));
    if (!f)
        return makeError(ErrorCode::Io, "read failed", path);
    Tensor t(h->shape);
    if (h->bigEndian)
        convertToFloatBigEndian(h->dtype, raw.data(), static_cast<std::size_t>(n), t.data.data());
    else
        convertToFloat(h->dtype, raw.data(), static_cast<std::size_t>(n), t.data.data());
    if (h->fortranOrder && h->shape.size() > 1) {
        // Column-major → row-major: element with index (i0..ik) sits at Σ i_j·stride_j with
        // Fortran strides (first axis fastest).
        const std::size_t rank = h->shape.size();
        std::vector<float> c(t.data.size());
        std::vector<std::int64_t> idx(rank, 0), fstride(rank, 1);
        for (std::size_t j = 1; j < rank; ++j)
            fstride[j] = fstride[j - 1] * h->shape[j - 1];
        for (std::int64_t lin = 0; lin < n; ++lin) {
            std::int64_t off = 0;
            for (std::size_t j = 0; j < rank; ++j)
                off += idx[j] * fstride[j];
            c[static_cast<std::size_t>(lin)] = t.data[static_cast<std::size_t>(off)];
            for (std::size_t j = rank; j-- > 0;) {
                if (++idx[j] < h->shape[j])
                    break;
                idx[j] = 0;
            }
        }
        t.data.swap(c);
    }
    return t;
}

Result<void> writeNpy(const std::string& path, const TensorView& t)
{
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    for (std::size_t i = 0; i < t.shape.size(); ++i)
        dict += std::to_string(t.shape[i]) + (t.shape.size() == 1 || i + 1 < t.shape.size() ? "," : "");
    dict += "), }";
    std::size_t total = 10 + dict.size() + 1;
    const std::size_t pad = (64 - total % 64) % 64;
    dict += std::string(pad, ' ') + "\n";
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f)
        return makeError(ErrorCode::Io, "cannot create file", path);
    const std::uint8_t prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, std::uint8_t(dict.size() & 0xFF),
                                     std::uint8_t(dict.size() >> 8)};
    f.write(reinterpret_cast<const char*>(prefix), 10);
    f.write(dict.data(), static_cast<std::streamsize>(dict.size()));
    f.write(reinterpret_cast<const char*>(t.data), static_cast<std::streamsize>(t.numel() * sizeof(float)));
    if (!f)
        return makeError(ErrorCode::Io, "write failed", path);
    return {};
}

} // namespace ql
