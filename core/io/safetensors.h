#pragma once
// safetensors: writer, and the header parser behind the reader (openModel opens the files).
// Format: u64 little-endian header length N, N bytes of UTF-8 JSON
// {"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {..}},
// then the data buffer; offsets are relative to the start of the buffer (8 + N).

#include "core/base/dtype.h"
#include "core/base/result.h"
#include "core/base/tensor.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ql {

/// One tensor to write: `data` holds `bytes` bytes, little-endian, row-major, and `bytes` must equal
/// numel(shape) · dtypeSize(dtype).
struct SafetensorsEntry {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    const void* data = nullptr;
    std::size_t bytes = 0;
};

/// Writes a safetensors file atomically (temporary file in the target directory, fsync, rename; a
/// failure leaves any previous file intact). Tensors are stored in the given order, contiguous, the
/// header padded with spaces to a multiple of 8 bytes so the data buffer starts 8-byte aligned.
/// `metadata` becomes "__metadata__" (omitted when empty). Errors: InvalidArgument (empty or
/// duplicate name, "__metadata__" as a tensor name), ShapeMismatch (bytes ≠ numel · dtype size),
/// Io (the OS refused).
Result<void> writeSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

/// One tensor entry of a parsed header.
struct SafetensorsTensor {
    std::string name;
    std::string dtypeName;         ///< as written ("F16", "U32", ...)
    std::optional<DType> dtype;    ///< empty: a dtype QuantLens cannot decode (listed, not readable)
    Shape shape;
    std::uint64_t begin = 0;       ///< offsets relative to the data buffer
    std::uint64_t end = 0;
};

/// A parsed and validated header. Tensors are sorted by data offset (the file's physical order).
struct SafetensorsHeader {
    std::uint64_t dataStart = 0;   ///< 8 + header length
    std::vector<SafetensorsTensor> tensors;
    std::vector<std::pair<std::string, std::string>> metadata;  ///< __metadata__, in file order
};

/// Largest header we accept (the reference implementation's limit).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100ull << 20;

/// Parses and validates the header of a safetensors file of `fileSize` bytes whose first `size`
/// bytes are at `data` (size may be less than fileSize; the header must fit in it). Checks: header
/// length against the file (Truncated) and the limit (TooLarge), well-formed UTF-8 JSON (Corrupt),
/// every entry's dtype, shape and offsets (Corrupt), dtype × shape = byte length (Corrupt), offsets
/// inside the file (Truncated) and not overlapping (Corrupt). Errors name the tensor; the caller adds
/// the file name.
Result<SafetensorsHeader> parseSafetensorsHeader(const std::uint8_t* data, std::size_t size, std::uint64_t fileSize);

} // namespace ql
