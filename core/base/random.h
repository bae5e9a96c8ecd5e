#pragma once
// Portable, seeded random numbers: the same seed gives the same values on every machine and with
// every thread count (the C++ standard distributions are not portable across libraries).

#include "core/base/tensor.h"

#include <cstdint>

namespace ql {

/// xoshiro256** seeded through SplitMix64.
class Rng {
public:
    explicit Rng(std::uint64_t seed);
    std::uint64_t next();
    /// Uniform in [0, 1) with 53 random bits.
    double uniform();
    /// Standard normal (Box–Muller, both values used).
    double normal();
    /// Student-t with integer `df` degrees of freedom: N(0,1) / sqrt(χ²_df / df).
    double studentT(int df);

private:
    std::uint64_t m_s[4];
    double m_spare = 0.0;
    bool m_hasSpare = false;
};

enum class Distribution : std::uint8_t { Normal, StudentT3, Uniform };

/// A [rows, cols] float32 tensor of seeded random values; filled in parallel in fixed blocks of
/// rows, each block with its own derived seed, so the values do not depend on the thread count.
Tensor randomTensor(const Shape& shape, Distribution dist, std::uint64_t seed);

} // namespace ql
