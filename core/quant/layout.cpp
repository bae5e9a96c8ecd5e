#include "core/quant/layout.h"

#include <cstring>

namespace ql {

std::int64_t SegmentLayout::runBase(std::int64_t s) const
{
    if (kind == GranularityKind::Tensor)
        return 0;
    const std::int64_t c = s / groupsPerChannel;
    const std::int64_t k0 = (s % groupsPerChannel) * segmentSize;  // first element in reduction order
    return (k0 / inner) * channels * inner + c * inner + (k0 % inner);
}

void SegmentLayout::gather(const float* x, std::int64_t s, float* buf) const
{
    const std::int64_t base = runBase(s);
    if (runLength == 1) {
        for (std::int64_t r = 0; r < nRuns; ++r)
            buf[r] = x[base + r * runStride];
        return;
    }
    for (std::int64_t r = 0; r < nRuns; ++r)
        std::memcpy(buf + r * runLength, x + base + r * runStride, sizeof(float) * runLength);
}

void SegmentLayout::scatter(const float* buf, std::int64_t s, float* y) const
{
    const std::int64_t base = runBase(s);
    if (runLength == 1) {
        for (std::int64_t r = 0; r < nRuns; ++r)
            y[base + r * runStride] = buf[r];
        return;
    }
    for (std::int64_t r = 0; r < nRuns; ++r)
        std::memcpy(y + base + r * runStride, buf + r * runLength, sizeof(float) * runLength);
}

Result<SegmentLayout> makeLayout(const Shape& shape, const Granularity& g)
{
    auto n = checkedNumel(shape);
    if (!n)
        return n.error();
    SegmentLayout L;
    L.kind = g.kind;
    L.numel = *n;
    if (g.kind == GranularityKind::Tensor || shape.empty()) {
        if (g.kind != GranularityKind::Tensor && shape.empty())
            return makeError(ErrorCode::InvalidSpec, "a scalar has no channel axis");
        L.kind = GranularityKind::Tensor;
        L.segmentSize = L.numel;
        L.runLength = L.numel;
        L.inner = L.numel;
        return L;
    }
    auto axis = resolveAxis(g.axis, static_cast<int>(shape.size()));
    if (!axis)
        return axis.error();
    L.axis = *axis;
    for (int i = 0; i < L.axis; ++i)
        L.outer *= shape[i];
    L.channels = shape[L.axis];
    for (std::size_t i = L.axis + 1; i < shape.size(); ++i)
        L.inner *= shape[i];
    const std::int64_t perChannel = L.outer * L.inner;
    if (g.kind == GranularityKind::Channel) {
        L.segments = L.channels;
        L.segmentSize = perChannel;
        L.nRuns = L.outer;
        L.runLength = L.inner;
        L.runStride = L.channels * L.inner;
        if (L.outer == 1 || L.inner == 0)
            L.nRuns = 1, L.runLength = perChannel;
        return L;
    }
    // Group
    const std::int64_t G = g.groupSize;
    if (G <= 0)
        return makeError(ErrorCode::InvalidSpec, "group size must be positive, got " + std::to_string(G));
    if (perChannel % G != 0)
        return makeError(ErrorCode::InvalidSpec, "group size " + std::to_string(G) + " does not divide the " +
                                                     std::to_string(perChannel) + " elements of each channel (axis " +
                                                     std::to_string(L.axis) + " of " + shapeToString(shape) + ")");
    L.groupsPerChannel = perChannel / G;
    L.segments = L.channels * L.groupsPerChannel;
    L.segmentSize = G;
    if (L.inner % G == 0 || L.outer == 1) {
        L.nRuns = 1;
        L.runLength = G;
    } else if (G % L.inner == 0) {
        L.nRuns = G / L.inner;
        L.runLength = L.inner;
        L.runStride = L.channels * L.inner;
    } else {
        return makeError(ErrorCode::InvalidSpec, "group size " + std::to_string(G) + " straddles rows of " +
                                                     std::to_string(L.inner) + " elements in " + shapeToString(shape) +
                                                     "; choose a size that divides or is a multiple of " +
                                                     std::to_string(L.inner));
    }
    return L;
}

} // namespace ql
