// Whether a pool's process keeps the memory it frees (see heap_policy.hpp).

#include "common/heap_policy.hpp"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <rankpool/detail/log.hpp>

#include "common/cpu_share.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace rankpool::detail::heap_policy {

bool should_keep(const facts& f) noexcept {
  if (!f.glibc) return false;
  if (f.keep_env) return *f.keep_env;
  return !f.tunables_set;
}

facts from_environment() noexcept {
  facts f;
  f.keep_env = cpu_share::parse_bool(std::getenv("RANKPOOL_KEEP_MEMORY"));
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  f.tunables_set = tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr;
#if defined(__GLIBC__)
  f.glibc = true;
#endif
  return f;
}

void apply_once() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    const facts f = from_environment();
    if (!should_keep(f)) {
      RANKPOOL_LOG(debug, "malloc left as it is%s", f.tunables_set ? " (GLIBC_TUNABLES sets it)" : "");
      return;
    }
#if defined(__GLIBC__)
    // Either call can only fail for a value out of glibc's range; these are within it.
    const bool ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
    if (ok) {
      RANKPOOL_LOG(debug, "malloc keeps freed memory: mmap threshold %d MiB, trim threshold %d MiB",
                   mmap_threshold >> 20, trim_threshold >> 20);
    } else {
      RANKPOOL_LOG(debug, "mallopt refused the thresholds: malloc left as it is");
    }
#endif
  });
}

}  // namespace rankpool::detail::heap_policy
