#pragma once
// Extreme quantization, per tensor, channel or group:
//  binary:  x̂ = α · sign(x) (sign(0) = +1), α = mean |x| of the segment; 1 bit + the scale.
//  ternary: x̂ ∈ {−α, 0, +α}: values with |x| > Δ = 0.7 · mean|x| keep their sign, the rest are 0;
//           α = mean of the kept |x| (0 if none). Stored 5 trits per byte: 1.6 bits + the scale.
// α is rounded to spec.scaleStorage.

#include "core/quant/format_traits.h"

#include <vector>

namespace ql {

/// Appends the binary and ternary rows to the traits table.
void appendExtremeFormats(std::vector<FormatTraits>& table);

} // namespace ql
