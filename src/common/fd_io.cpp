// Whole-buffer writes to a file descriptor (see fd_io.hpp).

#include "common/fd_io.hpp"

#include <unistd.h>

#include <cerrno>

namespace rankpool::detail {

bool write_all(int fd, const void* p, std::size_t n) noexcept {
  auto* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t k = ::write(fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    c += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

}  // namespace rankpool::detail
