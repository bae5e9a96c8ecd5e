#pragma once
// Shared body of the parser fuzz targets: open from memory, then read every tensor small enough
// to keep the run fast. Any crash, sanitizer report, hang or huge allocation is a finding.

#include "core/io/model.h"

#include <cstddef>
#include <cstdint>

namespace ql::fuzz {

inline void openAndRead(const std::uint8_t* data, std::size_t size, FileFormat format, const char* name)
{
    auto m = openModelFromMemory(data, size, format, name);
    if (!m)
        return;
    const Model& model = **m;
    for (std::size_t i = 0; i < model.tensors().size() && i < 64; ++i) {
        const TensorInfo& t = model.tensors()[i];
        (void)model.rawData(i);
        if (t.numel > (std::int64_t(1) << 22))
            continue;
        auto x = model.readTensor(i);
        if (x && t.numel > 2) {
            float part[2];
            (void)model.readElements(i, t.numel - 2, 2, part);
        }
    }
    (void)model.parameterCount();
}

} // namespace ql::fuzz
