#pragma once
// Atomic file replacement: write to a temporary file next to the target, fsync, rename over it.
// Either the complete new file appears, or the previous file (if any) stays untouched.

#include "core/base/result.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace ql {

/// A file being written that replaces `path` only when commit() succeeds.
/// Move-only. Destroying it without commit() removes the temporary file. Not thread-safe.
class AtomicFile {
public:
    /// Creates the temporary file "<dir>/.<name>.tmp-XXXXXX" in the target's directory (so the final
    /// rename stays on one file system). Errors (ErrorCode::Io) name the target path.
    static Result<AtomicFile> create(const std::string& path);

    AtomicFile(AtomicFile&& other) noexcept;
    AtomicFile& operator=(AtomicFile&& other) noexcept;
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    ~AtomicFile();

    /// Appends `n` bytes (buffered). Errors are sticky: once a write failed, commit() fails too.
    Result<void> write(const void* data, std::size_t n);
    /// Appends `n` zero bytes (padding).
    Result<void> writeZeros(std::size_t n);
    /// Bytes written so far.
    std::uint64_t size() const { return m_written; }
    /// Flushes, fsyncs, renames over the target and fsyncs the directory.
    Result<void> commit();
    /// Removes the temporary file (also done by the destructor when not committed).
    void discard();

    const std::string& path() const { return m_path; }

private:
    AtomicFile() = default;
    Result<void> flush();

    std::string m_path;
    std::string m_tempPath;
    int m_fd = -1;
    std::string m_buffer;
    std::uint64_t m_written = 0;
    bool m_failed = false;
};

/// Writes `path` atomically: `fill` writes the content into the AtomicFile; if it returns an error
/// the temporary file is removed and the previous file (if any) is left intact.
Result<void> writeFileAtomically(const std::string& path, const std::function<Result<void>(AtomicFile&)>& fill);

} // namespace ql
