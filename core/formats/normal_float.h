#pragma once
// NF4 (QLoRA NormalFloat, 4 bits): the 16 published levels scaled by the absmax of each group.
// Double quantization of the absmax constants (QLoRA) is chosen with spec.scaleStorage == Int8:
// 8-bit codes in blocks of 256 constants with one fp32 scale per block (int_quant.h), which gives
// 4 + (8 + 32/256)/64 = 4.127 bits per weight at the default group of 64. spec.option is unused.

#include "core/quant/format_traits.h"

#include <vector>

namespace ql {

/// The 16 NF4 levels in [−1, 1], ascending, exactly as published (bitsandbytes / QLoRA).
extern const float kNf4Levels[16];

/// Nearest NF4 index of v (v in units of the group absmax). Ties go to the upper level.
int nf4IndexRef(float v);
/// Fast NF4 encode of n values with a scale: codes (0..15) and x̂ = scale · level.
void encodeNf4(const float* x, std::int64_t n, float scale, std::uint8_t* codes, float* xhat);
void encodeNf4Ref(const float* x, std::int64_t n, float scale, std::uint8_t* codes, float* xhat);

/// Appends the NF4 row to the traits table.
void appendNormalFloatFormats(std::vector<FormatTraits>& table);

} // namespace ql
