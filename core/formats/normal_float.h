#pragma once
// NF4 (QLoRA NormalFloat, 4 bits): the 16 published levels scaled by the absmax of each group.
// Double quantization of the absmax constants (QLoRA) is chosen with spec.scaleStorage == Int8:
// the constants minus their mean, in blocks of 256, as 8-bit codes of the signed dynamic map with
// one fp32 absmax per block (quantizeScalesQlora), which gives 4 + (8 + 32/256)/64 = 4.127 bits
// per weight at the default group of 64 (the one fp32 mean per tensor is not counted).
// spec.option is unused.

#include "core/quant/format_traits.h"

#include <vector>

namespace ql {

/// The 16 NF4 levels in [−1, 1], ascending, exactly as published (bitsandbytes / QLoRA).
extern const float kNf4Levels[16];

/// Nearest NF4 index of v (v in units of the group absmax). Ties go to the upper level.
int nf4IndexRef(float v);
/// Fast NF4 encode of n values with a scale: codes (0..15) and, unless xhat is null,
/// x̂ = scale · level.
void encodeNf4(const float* x, std::int64_t n, float scale, std::uint8_t* codes, float* xhat);
void encodeNf4Ref(const float* x, std::int64_t n, float scale, std::uint8_t* codes, float* xhat);
/// x̂ = scale · level of n codes (0..15): the decode of encodeNf4's codes.
void decodeNf4(const std::uint8_t* codes, std::int64_t n, float scale, float* xhat);

/// The signed 8-bit dynamic map of QLoRA's double quantization (bitsandbytes' create_dynamic_map
/// with 7 exponent bits), ascending: 0, ±1 and, for k = 0 … 6, the 2^k midpoints of
/// linspace(0.1, 1, 2^k + 1) times 10^(k − 6), each with both signs (computed in double, rounded
/// to float).
const std::vector<float>& dynamicMap8();

/// QLoRA double quantization of positive absmax constants, in place: c − mean(c) in blocks of 256,
/// each block divided by its absmax and rounded to the nearest dynamic-map entry (ties to the lower
/// entry), then decoded back. A result that is not positive (a constant far below the mean) is
/// raised to the smallest positive normal float so no group scale becomes 0.
void quantizeScalesQlora(std::vector<float>& scales);

/// Appends the NF4 row to the traits table.
void appendNormalFloatFormats(std::vector<FormatTraits>& table);

} // namespace ql
