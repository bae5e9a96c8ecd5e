#include "core/io/mapped_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ql {

Result<std::shared_ptr<const MappedFile>> MappedFile::open(const std::string& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return makeError(ErrorCode::Io, std::string("cannot open: ") + std::strerror(errno), path);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        return makeError(ErrorCode::Io, std::string("cannot stat: ") + std::strerror(err), path);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return makeError(ErrorCode::Io, "not a regular file", path);
    }
    std::shared_ptr<MappedFile> f(new MappedFile);
    f->m_path = path;
    f->m_size = static_cast<std::uint64_t>(st.st_size);
    if (f->m_size > 0) {
        void* p = ::mmap(nullptr, f->m_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            return makeError(ErrorCode::Io, std::string("cannot memory-map: ") + std::strerror(err), path);
        }
        f->m_data = static_cast<const std::uint8_t*>(p);
        f->m_owned = true;
    }
    ::close(fd);  // the mapping stays valid
    return std::shared_ptr<const MappedFile>(std::move(f));
}

std::shared_ptr<const MappedFile> MappedFile::borrow(const void* data, std::uint64_t size, std::string name)
{
    std::shared_ptr<MappedFile> f(new MappedFile);
    f->m_path = std::move(name);
    f->m_data = static_cast<const std::uint8_t*>(data);
    f->m_size = size;
    return f;
}

MappedFile::~MappedFile()
{
    if (m_owned && m_data)
        ::munmap(const_cast<std::uint8_t*>(m_data), m_size);
}

void MappedFile::willRead(std::uint64_t offset, std::uint64_t length) const
{
    if (!m_owned || offset >= m_size)
        return;
    static const std::uint64_t kPage = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const std::uint64_t begin = offset / kPage * kPage;
    const std::uint64_t end = std::min(m_size, offset + length);
    (void)::madvise(const_cast<std::uint8_t*>(m_data) + begin, end - begin, MADV_WILLNEED);
    (void)::madvise(const_cast<std::uint8_t*>(m_data) + begin, end - begin, MADV_SEQUENTIAL);
}

} // namespace ql
