// This process's executable (see self_exe.hpp).

#include "common/self_exe.hpp"

#include <unistd.h>

namespace rankpool::detail {

std::string self_executable() {
  char path[4096];
  const auto n = readlink("/proc/self/exe", path, sizeof path);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof path) return {};
  return std::string(path, static_cast<std::size_t>(n));
}

}  // namespace rankpool::detail
