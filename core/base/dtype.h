#pragma once
// Element types of stored tensors and exact conversions to float32.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace ql {

/// Storage element types a model file may hold. Quantized block formats (GGUF Q4_K, ...) are not
/// dtypes: they are Formats (core/quant/format_traits.h) and are decoded by their own traits row.
enum class DType : std::uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool, F8E4M3, F8E5M2 };

/// Bytes per element.
std::size_t dtypeSize(DType t);
/// Canonical upper-case name as safetensors spells it ("F32", "BF16", "F8_E4M3", "BOOL").
std::string_view dtypeName(DType t);
/// Parses the safetensors spelling (case-sensitive, as the spec writes it).
std::optional<DType> dtypeFromName(std::string_view name);
bool dtypeIsFloat(DType t);

// ---- scalar conversions (exact: every source value maps to the float32 with the same value) ----

/// IEEE binary16 → float32. Exact for all inputs including subnormals, ±Inf and NaN (payload kept).
float halfToFloat(std::uint16_t h);
/// float32 → IEEE binary16, round to nearest even; overflow goes to ±Inf, NaN stays NaN (quiet).
std::uint16_t floatToHalf(float f);
/// bfloat16 → float32 (exact: the upper half of the float bits).
inline float bf16ToFloat(std::uint16_t b)
{
    const std::uint32_t u = std::uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
/// float32 → bfloat16, round to nearest even; NaN stays a quiet NaN; overflow rounds to ±Inf.
std::uint16_t floatToBf16(float f);
/// FP8 E4M3 (OCP "fn" variant: no Inf, S.1111.111 is NaN, max 448) → float32, exact.
float fp8E4M3ToFloat(std::uint8_t v);
/// FP8 E5M2 (IEEE-like: Inf and NaN) → float32, exact.
float fp8E5M2ToFloat(std::uint8_t v);

/// Converts `n` elements of type `t` at `src` (little-endian, possibly unaligned) to float32.
/// Integers convert exactly where representable (|i| ≤ 2^24), otherwise round to nearest even;
/// F64 rounds to nearest even and overflows to ±Inf. Bool maps to 0/1. Thread-safe, no allocation.
void convertToFloat(DType t, const void* src, std::size_t n, float* dst);

/// The same for big-endian sources (NumPy '>' dtypes).
void convertToFloatBigEndian(DType t, const void* src, std::size_t n, float* dst);

} // namespace ql
