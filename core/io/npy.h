#pragma once
// NumPy .npy reader (format versions 1–3).

#include "core/base/dtype.h"
#include "core/base/result.h"
#include "core/base/tensor.h"

#include <cstdint>
#include <string>

namespace ql {

/// Parsed .npy header.
struct NpyHeader {
    DType dtype = DType::F32;
    bool bigEndian = false;
    bool fortranOrder = false;
    Shape shape;
    std::int64_t dataOffset = 0;  ///< bytes from the start of the file to the data
    int majorVersion = 1;
};

/// Parses a .npy header from the first bytes of a file (`size` = bytes available, `fileSize` =
/// the whole file's size, for the data-length check). Errors name the problem; the caller adds
/// the file name.
Result<NpyHeader> parseNpyHeader(const std::uint8_t* data, std::size_t size, std::uint64_t fileSize);

/// Reads a whole .npy file as a float32 tensor (C order; Fortran order is transposed to C order).
/// Errors carry the path as context.
Result<Tensor> readNpy(const std::string& path);

/// Writes a float32 tensor as a version-1 .npy file ('<f4', C order).
Result<void> writeNpy(const std::string& path, const TensorView& t);

} // namespace ql
