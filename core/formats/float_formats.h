#pragma once
// Float formats: FP16, BF16, FP8 E4M3 / E5M2 (with a per-tensor or per-channel scale), and FP4 E2M1
// with a per-block scale (MXFP4: 32 elements and an E8M0 power-of-two scale; NVFP4: 16 elements,
// an FP8 E4M3 scale and one fp32 scale per tensor).
//
// Conversions round to nearest, ties to even. Overflow:
//  FP16, BF16: IEEE behaviour, finite values beyond the largest finite value (+ half an ulp)
//              become ±Inf (a warning names how many).
//  FP8 E4M3:   saturating: every finite value beyond ±448 (and ±Inf) becomes ±448; NaN → 0x7F/0xFF.
//  FP8 E5M2:   saturating for finite values (±57344), ±Inf stays ±Inf, NaN → 0x7F/0xFF.
//  E2M1:       saturating at ±6.

#include "core/quant/format_traits.h"

#include <cstdint>
#include <vector>

namespace ql {

/// Scalar reference conversions (define correctness of the fast kernels below).
std::uint8_t floatToFp8E4M3Ref(float v);
std::uint8_t floatToFp8E5M2Ref(float v);
/// E2M1 magnitude code 0..7 of |v| (values 0, .5, 1, 1.5, 2, 3, 4, 6), saturating at 6.
int e2m1CodeRef(float absValue);
/// Value of an E2M1 nibble (bit 3 = sign).
float e2m1Value(int nibble);

/// Fast FP8 kernels: dst[i] = fp8(x[i] / scale) (scale > 0); decode: y[i] = scale · value(src[i]).
void encodeFp8E4M3(const float* x, std::int64_t n, float scale, std::uint8_t* dst);
void encodeFp8E5M2(const float* x, std::int64_t n, float scale, std::uint8_t* dst);
void encodeFp8E4M3Ref(const float* x, std::int64_t n, float scale, std::uint8_t* dst);
void encodeFp8E5M2Ref(const float* x, std::int64_t n, float scale, std::uint8_t* dst);
void decodeFp8E4M3(const std::uint8_t* src, std::int64_t n, float scale, float* y);
void decodeFp8E5M2(const std::uint8_t* src, std::int64_t n, float scale, float* y);

/// Fast FP16 / BF16 kernels (F16C when the build has it); `…Ref` use dtype.h's scalar conversions.
void encodeF16(const float* x, std::int64_t n, std::uint16_t* dst);
void encodeF16Ref(const float* x, std::int64_t n, std::uint16_t* dst);
void decodeF16(const std::uint16_t* src, std::int64_t n, float* y);
void encodeBf16(const float* x, std::int64_t n, std::uint16_t* dst);
void encodeBf16Ref(const float* x, std::int64_t n, std::uint16_t* dst);
void decodeBf16(const std::uint16_t* src, std::int64_t n, float* y);

/// NVFP4 rows: n values (multiple of 16) → n / 16 BlockNvfp4 with the per-tensor scale g
/// (g = amax / (448 · 6) of the tensor, 1 for an all-zero tensor).
void encodeNvfp4(const float* x, std::int64_t n, float tensorScale, std::uint8_t* dst);
void encodeNvfp4Ref(const float* x, std::int64_t n, float tensorScale, std::uint8_t* dst);
void decodeNvfp4(const std::uint8_t* src, std::int64_t nBlocks, float tensorScale, float* y);
void decodeNvfp4Ref(const std::uint8_t* src, std::int64_t nBlocks, float tensorScale, float* y);
/// The per-tensor NVFP4 scale of n values (non-finite values ignored).
float nvfp4TensorScale(const float* x, std::int64_t n);

/// Appends the rows of F16, BF16, FP8 E4M3, FP8 E5M2, MXFP4 and NVFP4 to the traits table.
void appendFloatFormats(std::vector<FormatTraits>& table);

} // namespace ql
