// libFuzzer target: the gguf reader.

#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    ql::fuzz::openAndRead(data, size, ql::FileFormat::Gguf, "fuzz.gguf");
    return 0;
}
