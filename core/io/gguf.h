#pragma once
// GGUF (v2 and v3, little-endian, as written by llama.cpp): header, metadata, tensor infos.
// Layout: "GGUF", u32 version, u64 tensor_count, u64 kv_count, kv pairs (string key, u32 value type,
// value), tensor infos (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset), padding
// to general.alignment (default 32), tensor data. Strings are u64 length + UTF-8 bytes (no NUL).

#include "core/base/result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ql {

enum class GgufValueType : std::uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
    String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
};

/// One metadata value. Arrays keep their element type and count, and the first
/// kGgufArrayItemsKept elements (nested arrays recursively); the whole value's bytes are at
/// [offset, offset + bytes) in the file for exact copying.
struct GgufValue {
    GgufValueType type = GgufValueType::U8;
    std::uint64_t u = 0;    ///< unsigned integers and Bool
    std::int64_t i = 0;     ///< signed integers
    double f = 0.0;         ///< F32 / F64
    std::string str;        ///< String
    GgufValueType arrayType = GgufValueType::U8;
    std::uint64_t arrayCount = 0;
    std::vector<GgufValue> items;  ///< first elements of an array

    /// Display text: numbers, quoted strings, "[1, 2, 3, … (32000 items)]".
    std::string toString() const;
};

inline constexpr std::size_t kGgufArrayItemsKept = 16;

struct GgufKeyValue {
    std::string key;
    GgufValue value;
    std::uint64_t offset = 0;  ///< the whole record (key, type, value) in the file
    std::uint64_t bytes = 0;
};

struct GgufTensorInfo {
    std::string name;
    std::vector<std::uint64_t> ne;  ///< ne[0] is the row length (fastest-varying)
    std::uint32_t type = 0;         ///< ggml_type id
    std::uint64_t offset = 0;       ///< relative to GgufFile::dataOffset
    std::uint64_t bytes = 0;        ///< 0 when the type is unknown (size cannot be computed)
    bool knownType = false;
};

struct GgufFile {
    std::uint32_t version = 3;
    std::vector<GgufKeyValue> metadata;
    std::vector<GgufTensorInfo> tensors;  ///< in file order
    std::uint64_t alignment = 32;
    std::uint64_t dataOffset = 0;         ///< absolute offset of the tensor data section

    const GgufKeyValue* find(std::string_view key) const;
};

/// Name ("Q4_K") of a ggml_type id, or empty for an unknown id.
std::string_view ggmlTypeName(std::uint32_t type);
/// Elements per block and bytes per block of a ggml_type id (F32: 1, 4; Q4_K: 256, 144).
struct GgmlTypeSize {
    std::int64_t blockSize;
    std::int64_t blockBytes;
};
std::optional<GgmlTypeSize> ggmlTypeSize(std::uint32_t type);

/// Parses and validates a whole GGUF file (`size` bytes at `data`). Checks every length against the
/// remaining bytes (Truncated), counts and lengths against limits (TooLarge), value and tensor types,
/// UTF-8 keys and names, duplicate names, alignment, offsets in bounds (Truncated) and not
/// overlapping (Corrupt), block-format rows whole blocks (Corrupt). Unknown tensor types are kept
/// (knownType = false). Errors name the key or tensor; the caller adds the file name.
Result<GgufFile> parseGguf(const std::uint8_t* data, std::uint64_t size);

} // namespace ql
