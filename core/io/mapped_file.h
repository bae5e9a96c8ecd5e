#pragma once
// Read-only memory-mapped file (or a borrowed memory buffer with the same interface, for parsers
// that run on bytes in memory: fuzzing, archives).

#include "core/base/result.h"

#include <cstdint>
#include <memory>
#include <string>

namespace ql {

class MappedFile {
public:
    /// Maps the whole file read-only. Errors (Io) name the path: missing, not a regular file, mmap refused.
    /// An empty file maps to size() == 0, data() == nullptr.
    static Result<std::shared_ptr<const MappedFile>> open(const std::string& path);
    /// Wraps `size` bytes at `data` without copying; the caller keeps them alive as long as the result.
    static std::shared_ptr<const MappedFile> borrow(const void* data, std::uint64_t size, std::string name);

    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    const std::uint8_t* data() const { return m_data; }
    std::uint64_t size() const { return m_size; }
    const std::string& path() const { return m_path; }
    /// Hints the kernel that [offset, offset + length) will be read sequentially soon (no-op for memory).
    void willRead(std::uint64_t offset, std::uint64_t length) const;

private:
    MappedFile() = default;

    std::string m_path;
    const std::uint8_t* m_data = nullptr;
    std::uint64_t m_size = 0;
    bool m_owned = false;
};

using MappedFilePtr = std::shared_ptr<const MappedFile>;

} // namespace ql
