// libFuzzer target: the hdf5 reader.

#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    ql::fuzz::openAndRead(data, size, ql::FileFormat::Hdf5, "fuzz.hdf5");
    return 0;
}
