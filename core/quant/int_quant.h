#pragma once
// Integer affine quantization (asymmetric, symmetric restricted and full range), 2..16 bits.

#include "core/quant/format_traits.h"

#include <vector>

namespace ql {

/// Rounds a positive scale to its storage type (fp16/bf16 keep it positive and finite;
/// Int8 is handled by quantizeScalesInt8). Used by every format with per-segment scales.
float roundScaleToStorage(float scale, ScaleStorage storage);
/// Double quantization of scales: blocks of 256 consecutive scales, unsigned 8-bit codes with one
/// fp32 scale per block (block max / 255); a code is at least 1 so no scale becomes 0. In place.
void quantizeScalesInt8(std::vector<float>& scales);
/// Storage bits of one scale under `storage` (Int8: 8 + 32/256).
double scaleStorageBits(ScaleStorage storage);

/// Appends the integer format's rows to the traits table (called by format_traits.cpp).
void appendIntegerFormats(std::vector<FormatTraits>& table);

} // namespace ql
