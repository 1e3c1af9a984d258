#pragma once
// Internal: whole-buffer writes to a file descriptor, for the places that write below stdio (the
// journal, the progress display, log lines, RANKPOOL_LOG=prefix).

#include <cstddef>

namespace rankpool::detail {

/// Writes all `n` bytes at `p` to `fd`, retrying after signals and short writes; false when the
/// descriptor refuses (closed, broken pipe, disk full), with errno set by write().
bool write_all(int fd, const void* p, std::size_t n) noexcept;

}  // namespace rankpool::detail
