#pragma once
// Codebook formats.
//  pow2:   power-of-two (logarithmic) codes: 1 sign bit and b − 1 bits of exponent index. The
//          magnitude levels are 0 and scale · 2^(k − (M − 1)) for k = 1 .. M − 1 (M = 2^(b−1)), so
//          the top level is the scale; the scale comes from the range method (per tensor / channel /
//          group). Values round to the nearest level (linear distance).
//  kmeans: "palettization": 2^b levels per segment (tensor or channel) found by Lloyd's algorithm
//          from a deterministic quantile initialisation (level k starts at the (k + ½)/2^b quantile).
//          Segments of ≤ 65,536 values run exact Lloyd on their sorted values (prefix sums, each
//          iteration O(2^b log n)); larger segments run Lloyd on a 2^18-bin histogram over
//          [min, max] with points at the bin centres. Stopping rule: the partition (the index of
//          every decision boundary) did not change in an iteration, or 100 iterations. Every value
//          then goes to its nearest level. Codebook storage (2^b levels of 32 bits, or 16 with
//          scaleStorage f16/bf16) is counted in the bits per weight. QuantResult::scales holds the
//          codebooks, 2^b ascending levels per segment.

#include "core/quant/format_traits.h"

#include <vector>

namespace ql {

/// Lloyd k-means of the finite values of x[0..n) into k levels (ascending). Deterministic. With at
/// most k distinct finite values those values are the levels (the largest repeated to fill k).
std::vector<float> kmeansCodebook(const float* x, std::int64_t n, int k, bool parallel);
/// Reference: plain Lloyd over the raw values (O(n·k) per iteration), same start and stopping rule.
std::vector<float> kmeansCodebookRef(const float* x, std::int64_t n, int k);

/// Signed pow2 code of v / scale with M = 2^(bits−1) magnitude codes: fast (bit operations) and
/// reference (nearest of the level list) versions.
int pow2Code(float v, float scale, int bits);
int pow2CodeRef(float v, float scale, int bits);
float pow2Value(int code, float scale, int bits);

/// Appends the pow2 and kmeans rows to the traits table.
void appendCodebookFormats(std::vector<FormatTraits>& table);

} // namespace ql
