#include "core/io/atomic_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace ql {

namespace {

constexpr std::size_t kBufferSize = std::size_t(1) << 20;

std::string errnoText(int err)
{
    return std::strerror(err);
}

std::string directoryOf(const std::string& path)
{
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos)
        return ".";
    if (slash == 0)
        return "/";
    return path.substr(0, slash);
}

std::string baseNameOf(const std::string& path)
{
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

Result<AtomicFile> AtomicFile::create(const std::string& path)
{
    if (path.empty() || path.back() == '/')
        return makeError(ErrorCode::InvalidArgument, "not a file path", path);
    AtomicFile f;
    f.m_path = path;
    std::string tmpl = directoryOf(path) + "/." + baseNameOf(path) + ".tmp-XXXXXX";
    f.m_fd = ::mkstemp(tmpl.data());
    if (f.m_fd < 0)
        return makeError(ErrorCode::Io, "cannot create a temporary file next to it: " + errnoText(errno), path);
    f.m_tempPath = tmpl;
    // mkstemp creates 0600; a model file gets the usual rw-r--r-- (umask() would race other threads).
    (void)::fchmod(f.m_fd, 0644);
    f.m_buffer.reserve(kBufferSize);
    return f;
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : m_path(std::move(other.m_path)),
      m_tempPath(std::move(other.m_tempPath)),
      m_fd(std::exchange(other.m_fd, -1)),
      m_buffer(std::move(other.m_buffer)),
      m_written(other.m_written),
      m_failed(other.m_failed)
{
    other.m_tempPath.clear();
}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept
{
    if (this != &other) {
        discard();
        m_path = std::move(other.m_path);
        m_tempPath = std::move(other.m_tempPath);
        other.m_tempPath.clear();
        m_fd = std::exchange(other.m_fd, -1);
        m_buffer = std::move(other.m_buffer);
        m_written = other.m_written;
        m_failed = other.m_failed;
    }
    return *this;
}

AtomicFile::~AtomicFile()
{
    discard();
}

void AtomicFile::discard()
{
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    if (!m_tempPath.empty()) {
        ::unlink(m_tempPath.c_str());
        m_tempPath.clear();
    }
    m_buffer.clear();
}

Result<void> AtomicFile::flush()
{
    std::size_t done = 0;
    while (done < m_buffer.size()) {
        const ssize_t n = ::write(m_fd, m_buffer.data() + done, m_buffer.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            m_failed = true;
            return makeError(ErrorCode::Io, "write failed: " + errnoText(errno), m_path);
        }
        done += static_cast<std::size_t>(n);
    }
    m_buffer.clear();
    return {};
}

Result<void> AtomicFile::write(const void* data, std::size_t n)
{
    if (m_fd < 0 || m_failed)
        return makeError(ErrorCode::Io, "write after a failure or after commit", m_path);
    const char* p = static_cast<const char*>(data);
    m_written += n;
    if (m_buffer.size() + n <= kBufferSize) {
        m_buffer.append(p, n);
        return {};
    }
    QL_TRY(flush());
    if (n >= kBufferSize) {
        // Large payloads go straight to the file.
        std::size_t done = 0;
        while (done < n) {
            const ssize_t w = ::write(m_fd, p + done, n - done);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                m_failed = true;
                return makeError(ErrorCode::Io, "write failed: " + errnoText(errno), m_path);
            }
            done += static_cast<std::size_t>(w);
        }
        return {};
    }
    m_buffer.append(p, n);
    return {};
}

Result<void> AtomicFile::writeZeros(std::size_t n)
{
    static const char kZeros[4096] = {};
    while (n > 0) {
        const std::size_t k = std::min(n, sizeof(kZeros));
        QL_TRY(write(kZeros, k));
        n -= k;
    }
    return {};
}

Result<void> AtomicFile::commit()
{
    if (m_fd < 0 || m_failed)
        return makeError(ErrorCode::Io, "nothing to commit (an earlier write failed)", m_path);
    if (auto r = flush(); !r) {
        discard();
        return r;
    }
    if (::fsync(m_fd) != 0) {
        const int err = errno;
        discard();
        return makeError(ErrorCode::Io, "fsync failed: " + errnoText(err), m_path);
    }
    if (::close(m_fd) != 0) {
        m_fd = -1;
        const int err = errno;
        discard();
        return makeError(ErrorCode::Io, "close failed: " + errnoText(err), m_path);
    }
    m_fd = -1;
    if (::rename(m_tempPath.c_str(), m_path.c_str()) != 0) {
        const int err = errno;
        discard();
        return makeError(ErrorCode::Io, "cannot rename the temporary file into place: " + errnoText(err), m_path);
    }
    m_tempPath.clear();
    // Make the rename itself durable.
    const int dfd = ::open(directoryOf(m_path).c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

Result<void> writeFileAtomically(const std::string& path, const std::function<Result<void>(AtomicFile&)>& fill)
{
    auto file = AtomicFile::create(path);
    if (!file)
        return std::move(file).error();
    if (auto r = fill(*file); !r) {
        file->discard();
        return r;
    }
    return file->commit();
}

} // namespace ql
