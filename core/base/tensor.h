#pragma once
// Float32 tensor views (non-owning) and tensors (owning), row-major.

#include "core/base/result.h"

#include <Eigen/Core>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ql {

using Shape = std::vector<std::int64_t>;

/// Largest element count any tensor may declare (2^40): beyond this a file is lying or hostile.
inline constexpr std::int64_t kMaxElements = std::int64_t(1) << 40;
/// Largest rank we accept.
inline constexpr std::size_t kMaxRank = 8;

/// Product of the dims; an error if a dim is negative, the rank is absurd or the product overflows
/// or exceeds kMaxElements. Empty shape = scalar = 1 element.
Result<std::int64_t> checkedNumel(const Shape& shape);
/// Product of the dims without checks (shape must have passed checkedNumel).
std::int64_t numel(const Shape& shape);
/// "[4096, 11008]".
std::string shapeToString(const Shape& shape);

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixMap = Eigen::Map<const RowMatrixF>;

/// Non-owning, read-only row-major float32 tensor. Cheap to copy; the data must outlive it.
struct TensorView {
    const float* data = nullptr;
    Shape shape;

    std::int64_t numel() const { return ql::numel(shape); }
    std::span<const float> span() const { return {data, static_cast<std::size_t>(numel())}; }
    int rank() const { return static_cast<int>(shape.size()); }
    /// The tensor as a matrix of [shape[0], rest] (rank ≥ 1); a 1-D tensor is one row.
    ConstMatrixMap matrix() const;
};

/// Owning row-major float32 tensor.
struct Tensor {
    Shape shape;
    std::vector<float> data;

    Tensor() = default;
    Tensor(Shape s, std::vector<float> d) : shape(std::move(s)), data(std::move(d)) {}
    /// Zero-filled tensor of the given (already validated) shape.
    explicit Tensor(Shape s);

    TensorView view() const { return TensorView{data.data(), shape}; }
    std::int64_t numel() const { return static_cast<std::int64_t>(data.size()); }
};

using TensorPtr = std::shared_ptr<const Tensor>;

} // namespace ql
