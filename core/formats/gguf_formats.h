#pragma once
// The llama.cpp GGUF block formats: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL (blocks of 32) and the
// K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (super-blocks of 256), with ggml's exact byte layouts
// (block_layouts.h). Every kernel has a scalar `…Ref` twin that defines correctness.

#include "core/formats/block_layouts.h"
#include "core/quant/format_traits.h"

#include <cstdint>
#include <span>
#include <vector>

namespace ql {

/// Row kernels of one block format.
///  encode(x, importance, n, dst): n values (a multiple of the block size) → n / blockSize blocks.
///    importance: n non-negative weights (one per element of the row) or null.
///  decode(src, nBlocks, dst): nBlocks blocks → nBlocks · blockSize floats.
/// Thread-safe, no allocation, no error paths (callers validate sizes).
struct RowKernels {
    Format format;
    std::int64_t blockSize;
    std::int64_t blockBytes;
    void (*encode)(const float* x, const float* importance, std::int64_t n, std::uint8_t* dst);
    void (*encodeRef)(const float* x, const float* importance, std::int64_t n, std::uint8_t* dst);
    void (*decode)(const std::uint8_t* src, std::int64_t nBlocks, float* dst);
    void (*decodeRef)(const std::uint8_t* src, std::int64_t nBlocks, float* dst);
    /// Per-element integer codes of one block (as stored, e.g. Q4_0: q − 8, IQ4_NL: table index).
    void (*codes)(const std::uint8_t* block, std::int32_t* codes);
};

/// The kernels of a GGUF block format (also F16/BF16 and the FP4 block formats), or null.
const RowKernels* rowKernels(Format f);

/// Appends the rows of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and IQ4_NL to the traits table.
void appendGgufLegacyFormats(std::vector<FormatTraits>& table);
/// Appends the rows of Q2_K, Q3_K, Q4_K, Q5_K and Q6_K to the traits table.
void appendGgufKQuantFormats(std::vector<FormatTraits>& table);

// Internal registration of kernel sets (each family file provides its own array).
std::span<const RowKernels> ggufLegacyKernels();
std::span<const RowKernels> ggufKQuantKernels();
std::span<const RowKernels> floatBlockKernels();

/// Block-format helpers shared by the traits rows: 8 · blockBytes / blockSize bits per weight, and
/// the levels one block uses (the sorted distinct decoded values of block `segment`).
double blockBitsPerWeight(const QuantSpec& spec, const Shape& shape);
std::vector<double> blockLevels(const QuantResult& r, std::int64_t segment);

} // namespace ql
