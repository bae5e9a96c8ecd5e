#pragma once
// Shared machinery of the format zoo: the row driver of block formats (GGUF, FP4 blocks, F16/BF16)
// and the segment driver of element formats with a per-segment fit (FP8, NF4, pow2, k-means,
// binary, ternary). Each format file supplies small kernels; the drivers do validation, threading,
// cancellation, non-finite handling and metrics, the same way for every format.

#include "core/base/dtype.h"
#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace ql {

/// float → fp16 bits (round to nearest even) and back, the storage of every GGUF block scale: one
/// F16C instruction where the build has it (the bits of dtype.h's conversions, except that a NaN
/// half may decode to another NaN; tst_formats compares the two), else dtype.h's.
inline std::uint16_t toF16(float f)
{
#if defined(__F16C__)
    return std::uint16_t(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#else
    return floatToHalf(f);
#endif
}
inline float fromF16(std::uint16_t h)
{
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return halfToFloat(h);
#endif
}
/// Round half to even, as ggml's nearest_int does for the magnitudes that occur here.
inline int nearestInt(float v)
{
    return static_cast<int>(__builtin_rintf(v));
}

/// A block format as the row driver sees it.
struct BlockCodec {
    std::int64_t blockSize = 0;
    std::int64_t blockBytes = 0;
    /// Encodes one row of n = k · blockSize finite values; importance holds n weights or is null.
    /// tensorScale: the per-tensor parameter from tensorScaleOf (1 when unused).
    void (*encodeRow)(const float* x, const float* importance, std::int64_t n, std::uint8_t* dst,
                      float tensorScale) = nullptr;
    /// Decodes nBlocks blocks (tensorScale as above).
    void (*decodeRow)(const std::uint8_t* src, std::int64_t nBlocks, float* dst, float tensorScale) = nullptr;
    /// Per-element integer codes of one block (blockSize values), may be null.
    void (*blockCodes)(const std::uint8_t* block, std::int32_t* codes) = nullptr;
    /// The block's main scale (for QuantResult::scales), may be null.
    float (*blockScale)(const std::uint8_t* block, float tensorScale) = nullptr;
    /// Optional per-tensor parameter computed from the finite values (NVFP4's fp32 scale).
    float (*tensorScaleOf)(const float* x, std::int64_t n) = nullptr;
    /// How clipping is recognised (subBlock 0: the format reports none). Within each run of
    /// subBlock elements every x̂ is a·level(code) + b for one a, b (a sub-block scale and min);
    /// level(code) = code for uniform grids, levels[code − codeMin] for table formats. The clip
    /// range of a sub-block is its lowest and highest level widened by half the gap to the next
    /// level, as for integer grids: an element outside it is clipped (DESIGN.md's split of the
    /// error into clipping and rounding). a and b are recovered from the sub-block's own codes
    /// and x̂, so no format re-parses its scales here.
    struct Clip {
        int subBlock = 0;
        int codeMin = 0, codeMax = 0;
        const float* levels = nullptr;
    } clip;
};

/// Quantizes x row by row (rows = the last axis) with a block codec. Errors: InvalidSpec when the
/// row length is not a multiple of the block size (naming both). QuantResult::blocks holds the raw
/// blocks of all rows in order, scales one value per block, codes one per element; the layout is
/// "group of blockSize along each row". Non-finite inputs are encoded as 0 and pass through to x̂.
/// Parallel over rows; bytes independent of the thread count.
Result<QuantResult> quantizeRows(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt,
                                 TaskContext& ctx, const BlockCodec& codec, std::string_view formatName);

/// Validation shared by the block formats: rank ≥ 1 and a last axis that is a multiple of blockSize.
Result<void> validateRows(const Shape& shape, std::int64_t blockSize, std::string_view formatName);

/// The fit of one segment of an element format.
struct SegmentFit {
    float scale = 1.0f;        ///< after rounding to the scale storage type
    ClipRange range;           ///< [α, β] chosen by the range method
    std::vector<float> book;   ///< codebook (k-means), ascending
};

/// An element format as the segment driver sees it.
struct ElementCodec {
    /// Fits one segment (n values in reduction order, may include non-finite ones, which must be
    /// ignored). May use OpenMP internally when called outside a parallel region (`parallel`).
    void (*fit)(const float* x, std::int64_t n, const QuantSpec& spec, SegmentFit& fit, bool parallel) = nullptr;
    /// Encodes n values with a fit: codes (may be null) and x̂ (never null). Non-finite values pass
    /// through to x̂ with code 0.
    void (*encode)(const float* x, std::int64_t n, const QuantSpec& spec, const SegmentFit& fit, std::int32_t* codes,
                   float* xhat) = nullptr;
    /// True: fit.scale is rounded to spec.scaleStorage (Int8 = double quantization in blocks of 256).
    bool roundScales = true;
    /// The format's own double quantization for Int8 scale storage (null: quantizeScalesInt8).
    void (*quantizeScalesInt8)(std::vector<float>& scales) = nullptr;
};

/// Quantizes x segment by segment (SegmentLayout of spec.granularity) with an element codec.
/// scales[s] = fit.scale, ranges[s] = fit.range; for codebook formats scales holds the codebooks
/// (book size per segment, concatenated). Parallel; bytes independent of the thread count.
Result<QuantResult> quantizeSegments(const TensorView& x, const QuantSpec& spec, const QuantOptions& opt,
                                     TaskContext& ctx, const ElementCodec& codec);

/// Clip threshold t > 0 for a symmetric element grid from a range method. MinMax: max|x|;
/// Percentile: the p-th percentile of |x|; Mse: the candidate of searchClipFactor's grid
/// (core/quant/range.h) minimising `err(t)`;
/// Kl: the KL search on a symmetric 8-bit integer grid (an approximation for non-integer grids).
/// Returns 0 for an all-zero (or all non-finite) segment.
float chooseSymmetricThreshold(const float* x, std::int64_t n, const RangeMethod& method, int klBits,
                               double (*err)(const float* x, std::int64_t n, float t, const void* arg),
                               const void* arg);

/// max |x| over finite values (0 if none).
float finiteAbsMax(const float* x, std::int64_t n);

} // namespace ql
