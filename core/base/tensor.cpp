#include "core/base/tensor.h"

namespace ql {

Result<std::int64_t> checkedNumel(const Shape& shape)
{
    if (shape.size() > kMaxRank)
        return makeError(ErrorCode::TooLarge, "rank " + std::to_string(shape.size()) + " exceeds the limit of " +
                                                  std::to_string(kMaxRank));
    std::int64_t n = 1;
    for (std::int64_t d : shape) {
        if (d < 0)
            return makeError(ErrorCode::Corrupt, "negative dimension " + std::to_string(d) + " in shape");
        if (d != 0 && n > kMaxElements / d)
            return makeError(ErrorCode::TooLarge, "shape " + shapeToString(shape) + " has too many elements");
        n *= d;
    }
    return n;
}

std::int64_t numel(const Shape& shape)
{
    std::int64_t n = 1;
    for (std::int64_t d : shape)
        n *= d;
    return n;
}

std::string shapeToString(const Shape& shape)
{
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i)
            s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

ConstMatrixMap TensorView::matrix() const
{
    const std::int64_t rows = shape.empty() ? 1 : (shape.size() == 1 ? 1 : shape[0]);
    const std::int64_t total = numel();
    const std::int64_t cols = rows == 0 ? 0 : total / rows;
    return ConstMatrixMap(data, rows, cols);
}

Tensor::Tensor(Shape s) : shape(std::move(s)), data(static_cast<std::size_t>(ql::numel(shape)), 0.0f) {}

} // namespace ql
