// The fuzz build compiles only core/base and core/io (so it does not depend on every core folder
// building with clang). This stands in for the traits table: one GGUF block format (Q8_0: an fp16
// scale and 32 int8 codes) so the block-decoding path of the readers is exercised too.

#include "core/base/dtype.h"
#include "core/quant/format_traits.h"

#include <cstring>

namespace ql {

namespace {

void decodeQ8_0(const std::uint8_t* src, std::int64_t nBlocks, float* dst)
{
    for (std::int64_t b = 0; b < nBlocks; ++b, src += 34, dst += 32) {
        std::uint16_t h;
        std::memcpy(&h, src, 2);
        const float d = halfToFloat(h);
        for (int i = 0; i < 32; ++i)
            dst[i] = d * float(static_cast<std::int8_t>(src[2 + i]));
    }
}

FormatTraits makeQ8_0()
{
    FormatTraits t{};
    t.format = Format::Q8_0;
    t.name = "q8_0";
    t.displayName = "Q8_0";
    t.family = FormatFamily::GgufBlock;
    t.blockSize = 32;
    t.blockBytes = 34;
    t.ggufType = 8;
    t.decodeBlocks = &decodeQ8_0;
    return t;
}

} // namespace

const FormatTraits* formatFromGgufType(int ggufType)
{
    static const FormatTraits kQ8_0 = makeQ8_0();
    return ggufType == 8 ? &kQ8_0 : nullptr;
}

} // namespace ql
