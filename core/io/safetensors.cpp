#include "core/io/safetensors.h"

#include "core/io/atomic_file.h"
#include "core/io/io_util.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace ql {

namespace {

constexpr std::size_t kMaxTensorsPerFile = std::size_t(1) << 20;
constexpr std::size_t kMaxJsonDepth = 64;

// Byte sizes of dtypes safetensors defines that QuantLens lists but cannot decode.
std::optional<std::size_t> otherDtypeSize(const std::string& name)
{
    if (name == "U16")
        return 2;
    if (name == "U32")
        return 4;
    if (name == "U64")
        return 8;
    if (name == "F8_E8M0")
        return 1;
    return std::nullopt;
}

} // namespace

Result<void> writeSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                              const std::map<std::string, std::string>& metadata)
{
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        nlohmann::ordered_json meta = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata) {
            if (!isValidUtf8(k) || !isValidUtf8(v))
                return makeError(ErrorCode::InvalidArgument, "metadata key '" + k + "' is not valid UTF-8", path);
            meta[k] = v;
        }
        header["__metadata__"] = std::move(meta);
    }
    std::set<std::string> seen;
    std::uint64_t offset = 0;
    for (const auto& t : tensors) {
        if (t.name.empty() || t.name == "__metadata__" || !isValidUtf8(t.name))
            return makeError(ErrorCode::InvalidArgument, "invalid tensor name '" + t.name + "'", path);
        if (!seen.insert(t.name).second)
            return makeError(ErrorCode::InvalidArgument, "duplicate tensor name '" + t.name + "'", path);
        auto n = checkedNumel(t.shape);
        if (!n)
            return std::move(n).error().within(path + ": tensor '" + t.name + "'");
        const std::uint64_t need = std::uint64_t(*n) * dtypeSize(t.dtype);
        if (need != t.bytes)
            return makeError(ErrorCode::ShapeMismatch,
                             std::string(dtypeName(t.dtype)) + " " + shapeToString(t.shape) + " needs " +
                                 std::to_string(need) + " bytes but " + std::to_string(t.bytes) + " were given",
                             path + ": tensor '" + t.name + "'");
        if (t.bytes > 0 && t.data == nullptr)
            return makeError(ErrorCode::InvalidArgument, "no data", path + ": tensor '" + t.name + "'");
        nlohmann::ordered_json e;
        e["dtype"] = std::string(dtypeName(t.dtype));
        e["shape"] = t.shape;
        e["data_offsets"] = {offset, offset + need};
        header[t.name] = std::move(e);
        offset += need;
    }
    std::string text = header.dump();
    // Pad with spaces so the data buffer (at 8 + header length) starts 8-byte aligned.
    text.append((8 - text.size() % 8) % 8, ' ');

    return writeFileAtomically(path, [&](AtomicFile& f) -> Result<void> {
        std::uint8_t len[8];
        storeLE64(len, text.size());
        QL_TRY(f.write(len, 8));
        QL_TRY(f.write(text.data(), text.size()));
        for (const auto& t : tensors)
            QL_TRY(f.write(t.data, t.bytes));
        return {};
    });
}

Result<SafetensorsHeader> parseSafetensorsHeader(const std::uint8_t* data, std::size_t size, std::uint64_t fileSize)
{
    if (fileSize < 8 || size < 8)
        return makeError(ErrorCode::Truncated, "file is too short for a safetensors header (" +
                                                   std::to_string(fileSize) + " bytes)");
    const std::uint64_t n = loadLE64(data);
    if (n > kMaxSafetensorsHeader)
        return makeError(ErrorCode::TooLarge, "header length " + std::to_string(n) + " exceeds the limit of " +
                                                  std::to_string(kMaxSafetensorsHeader) + " bytes");
    if (n < 2)
        return makeError(ErrorCode::Corrupt, "header length " + std::to_string(n) + " is too small for JSON");
    if (8 + n > fileSize || 8 + n > size)
        return makeError(ErrorCode::Truncated, "header of " + std::to_string(n) + " bytes does not fit in the file of " +
                                                   std::to_string(fileSize) + " bytes");
    const char* text = reinterpret_cast<const char*>(data + 8);
    if (text[0] != '{')
        return makeError(ErrorCode::Corrupt, "header is not a JSON object");
    if (jsonNestingDepth(text, n) > kMaxJsonDepth)
        return makeError(ErrorCode::Corrupt, "header JSON is nested too deeply");

    // Parse without exceptions; a callback spots duplicate top-level keys (which JSON libraries merge).
    bool duplicate = false;
    std::string duplicateKey;
    std::set<std::string> keys;
    auto cb = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        if (event == nlohmann::json::parse_event_t::key && depth == 1) {
            const auto& k = parsed.get_ref<const std::string&>();
            if (!keys.insert(k).second && !duplicate) {
                duplicate = true;
                duplicateKey = k;
            }
        }
        return true;
    };
    nlohmann::json j = nlohmann::json::parse(text, text + n, cb, /*allow_exceptions=*/false);
    if (j.is_discarded())
        return makeError(ErrorCode::Corrupt, "header is not well-formed UTF-8 JSON");
    if (!j.is_object())
        return makeError(ErrorCode::Corrupt, "header is not a JSON object");
    if (duplicate)
        return makeError(ErrorCode::Corrupt, "tensor '" + duplicateKey + "' appears twice in the header");
    if (j.size() > kMaxTensorsPerFile)
        return makeError(ErrorCode::TooLarge, std::to_string(j.size()) + " header entries exceed the limit of " +
                                                  std::to_string(kMaxTensorsPerFile));

    SafetensorsHeader h;
    h.dataStart = 8 + n;
    const std::uint64_t bufferSize = fileSize - h.dataStart;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& name = it.key();
        const nlohmann::json& e = it.value();
        if (name == "__metadata__") {
            if (!e.is_object())
                return makeError(ErrorCode::Corrupt, "__metadata__ is not an object");
            for (auto m = e.begin(); m != e.end(); ++m) {
                if (!m.value().is_string())
                    return makeError(ErrorCode::Corrupt, "__metadata__ value of '" + m.key() + "' is not a string");
                h.metadata.emplace_back(m.key(), m.value().get<std::string>());
            }
            continue;
        }
        const std::string where = "tensor '" + name + "'";
        if (name.empty())
            return makeError(ErrorCode::Corrupt, "a tensor has an empty name");
        if (!e.is_object())
            return makeError(ErrorCode::Corrupt, "entry is not an object", where);
        const auto dt = e.find("dtype");
        const auto sh = e.find("shape");
        const auto off = e.find("data_offsets");
        if (dt == e.end() || !dt->is_string())
            return makeError(ErrorCode::Corrupt, "missing or non-string \"dtype\"", where);
        if (sh == e.end() || !sh->is_array())
            return makeError(ErrorCode::Corrupt, "missing or non-array \"shape\"", where);
        if (off == e.end() || !off->is_array() || off->size() != 2)
            return makeError(ErrorCode::Corrupt, "\"data_offsets\" is not a pair [begin, end]", where);
        SafetensorsTensor t;
        t.name = name;
        t.dtypeName = dt->get<std::string>();
        t.dtype = dtypeFromName(t.dtypeName);
        if (sh->size() > kMaxRank)
            return makeError(ErrorCode::TooLarge, "rank " + std::to_string(sh->size()) + " exceeds the limit of " +
                                                      std::to_string(kMaxRank), where);
        for (const auto& d : *sh) {
            if (!d.is_number_unsigned() || d.get<std::uint64_t>() > std::uint64_t(kMaxElements))
                return makeError(ErrorCode::Corrupt, "shape holds " + d.dump() + ", not a dimension", where);
            t.shape.push_back(static_cast<std::int64_t>(d.get<std::uint64_t>()));
        }
        auto count = checkedNumel(t.shape);
        if (!count)
            return std::move(count).error().within(where);
        for (const auto& o : *off)
            if (!o.is_number_unsigned())
                return makeError(ErrorCode::Corrupt, "data offset " + o.dump() + " is not a byte offset", where);
        t.begin = (*off)[0].get<std::uint64_t>();
        t.end = (*off)[1].get<std::uint64_t>();
        if (t.end < t.begin)
            return makeError(ErrorCode::Corrupt, "data offsets [" + std::to_string(t.begin) + ", " +
                                                     std::to_string(t.end) + "] run backwards", where);
        std::optional<std::size_t> elemSize;
        if (t.dtype)
            elemSize = dtypeSize(*t.dtype);
        else
            elemSize = otherDtypeSize(t.dtypeName);
        if (!elemSize && (t.dtypeName.empty() || t.dtypeName.size() > 16))
            return makeError(ErrorCode::Corrupt, "dtype \"" + t.dtypeName + "\" is not a dtype", where);
        if (elemSize) {
            const std::uint64_t need = std::uint64_t(*count) * *elemSize;  // ≤ 2^40 · 8: no overflow
            if (t.end - t.begin != need)
                return makeError(ErrorCode::Corrupt,
                                 t.dtypeName + " " + shapeToString(t.shape) + " needs " + std::to_string(need) +
                                     " bytes but its data offsets span " + std::to_string(t.end - t.begin),
                                 where);
        }
        if (t.end > bufferSize)
            return makeError(ErrorCode::Truncated, "data [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                                       ") lies beyond the end of the file (data buffer has " +
                                                       std::to_string(bufferSize) + " bytes)", where);
        h.tensors.push_back(std::move(t));
    }
    std::sort(h.tensors.begin(), h.tensors.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    for (std::size_t i = 1; i < h.tensors.size(); ++i) {
        const auto& a = h.tensors[i - 1];
        const auto& b = h.tensors[i];
        if (b.begin < a.end)
            return makeError(ErrorCode::Corrupt, "data of tensors '" + a.name + "' and '" + b.name + "' overlap",
                             "tensor '" + b.name + "'");
    }
    return h;
}

} // namespace ql
