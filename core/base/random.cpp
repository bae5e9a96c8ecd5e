#include "core/base/random.h"

#include <cmath>

namespace ql {

namespace {

std::uint64_t splitMix(std::uint64_t& x)
{
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

inline std::uint64_t rotl(std::uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

} // namespace

Rng::Rng(std::uint64_t seed)
{
    for (auto& s : m_s)
        s = splitMix(seed);
}

std::uint64_t Rng::next()
{
    const std::uint64_t result = rotl(m_s[1] * 5, 7) * 9;
    const std::uint64_t t = m_s[1] << 17;
    m_s[2] ^= m_s[0];
    m_s[3] ^= m_s[1];
    m_s[1] ^= m_s[2];
    m_s[0] ^= m_s[3];
    m_s[2] ^= t;
    m_s[3] = rotl(m_s[3], 45);
    return result;
}

double Rng::uniform()
{
    return double(next() >> 11) * 0x1.0p-53;
}

double Rng::normal()
{
    if (m_hasSpare) {
        m_hasSpare = false;
        return m_spare;
    }
    double u1 = uniform();
    while (u1 <= 0.0)
        u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 2.0 * 3.14159265358979323846 * u2;
    m_spare = r * std::sin(a);
    m_hasSpare = true;
    return r * std::cos(a);
}

double Rng::studentT(int df)
{
    const double z = normal();
    double chi2 = 0.0;
    for (int i = 0; i < df; ++i) {
        const double g = normal();
        chi2 += g * g;
    }
    return z / std::sqrt(chi2 / df);
}

Tensor randomTensor(const Shape& shape, Distribution dist, std::uint64_t seed)
{
    Tensor t(shape);
    const std::int64_t n = t.numel();
    constexpr std::int64_t kBlock = 1 << 16;
    const std::int64_t nBlocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
    for (std::int64_t b = 0; b < nBlocks; ++b) {
        Rng rng(seed * 0x100000001B3ull + std::uint64_t(b));
        const std::int64_t e = std::min(n, (b + 1) * kBlock);
        for (std::int64_t i = b * kBlock; i < e; ++i) {
            switch (dist) {
            case Distribution::Normal: t.data[i] = float(rng.normal()); break;
            case Distribution::StudentT3: t.data[i] = float(rng.studentT(3)); break;
            case Distribution::Uniform: t.data[i] = float(rng.uniform() * 2.0 - 1.0); break;
            }
        }
    }
    return t;
}

} // namespace ql
