// libFuzzer target: the .npy and .npz readers (chosen by the input's first bytes).

#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const bool zip = size >= 2 && data[0] == 'P' && data[1] == 'K';
    ql::fuzz::openAndRead(data, size, zip ? ql::FileFormat::Npz : ql::FileFormat::Npy, zip ? "fuzz.npz" : "fuzz.npy");
    return 0;
}
