#pragma once
// SegmentLayout: how a tensor is cut into the units that share one scale (tensor, channels, groups).

#include "core/base/result.h"
#include "core/base/tensor.h"
#include "core/quant/spec.h"

#include <cstdint>

namespace ql {

/// The tensor is viewed as [outer, channels, inner] around the channel axis. A channel's elements,
/// in reduction order, are (o, i) for o < outer, i < inner (row-major over the other axes). A segment
/// is a whole channel, or a group of `groupSize` consecutive elements of a channel in that order.
/// Segment s = channel · groupsPerChannel + group; per-tensor has one segment of every element.
///
/// Every segment is `nRuns` runs of `runLength` contiguous elements, run r starting at
/// runBase(s) + r · runStride. Examples (row-major):
///  - Linear [out, in], per-channel axis 0: 1 run of `in` per channel (contiguous rows).
///  - Linear [out, in], group 128 axis 0: 1 run of 128.
///  - Keras Dense [in, out], per-channel axis 1: `in` runs of 1, stride `out` (a column).
struct SegmentLayout {
    GranularityKind kind = GranularityKind::Tensor;
    int axis = 0;
    std::int64_t numel = 0;
    std::int64_t outer = 1;
    std::int64_t channels = 1;
    std::int64_t inner = 1;
    std::int64_t groupsPerChannel = 1;
    std::int64_t segments = 1;
    std::int64_t segmentSize = 0;  ///< elements per segment (all segments are equal)
    std::int64_t nRuns = 1;
    std::int64_t runLength = 0;
    std::int64_t runStride = 0;

    /// Offset of the first element of segment s.
    std::int64_t runBase(std::int64_t s) const;
    /// True if each segment is one contiguous run.
    bool contiguous() const { return nRuns == 1; }
    /// Channel of a segment (0 for per-tensor).
    std::int64_t channelOf(std::int64_t s) const { return s / groupsPerChannel; }

    /// Copies segment s of `x` into `buf` (segmentSize floats) in reduction order.
    void gather(const float* x, std::int64_t s, float* buf) const;
    /// Writes `buf` back to segment s of `y`.
    void scatter(const float* buf, std::int64_t s, float* y) const;
    template <typename T>
    void scatterT(const T* buf, std::int64_t s, T* y) const
    {
        const std::int64_t base = runBase(s);
        for (std::int64_t r = 0; r < nRuns; ++r)
            for (std::int64_t k = 0; k < runLength; ++k)
                y[base + r * runStride + k] = buf[r * runLength + k];
    }
};

/// Builds the layout of `shape` under `g`. Errors (InvalidSpec): axis out of range, group size
/// ≤ 0, or a group size that does not divide the channel or cannot be laid out as equal runs.
Result<SegmentLayout> makeLayout(const Shape& shape, const Granularity& g);

} // namespace ql
