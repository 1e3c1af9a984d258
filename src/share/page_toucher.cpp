// Touching a node window's pages ahead of the tasks (page_toucher.hpp).

#include "share/page_toucher.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <rankpool/detail/log.hpp>

#include "common/cpu_share.hpp"

namespace rankpool::detail {

page_toucher::page_toucher(const void* begin, std::size_t bytes) {
  thread_ = std::thread([this, p = static_cast<const char*>(begin), bytes] { run(p, bytes); });
}

page_toucher::~page_toucher() {
  stop_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

bool page_toucher::enabled() noexcept {
  static const bool on = cpu_share::parse_bool(std::getenv("RANKPOOL_PREFAULT")).value_or(true);
  return on;
}

void page_toucher::run(const char* begin, std::size_t bytes) noexcept {
#if defined(SCHED_IDLE)
  sched_param none{};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &none) != 0) {
    // Without the idle class it would compete with tasks for the core: better not to run.
    RANKPOOL_LOG(debug, "no SCHED_IDLE for the page toucher: pages are left to the tasks");
    gave_up_.store(true, std::memory_order_release);
    return;
  }
#else
  gave_up_.store(true, std::memory_order_release);
  return;
#endif
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  bool populate = true;  // until the kernel refuses (MADV_POPULATE_READ came with Linux 5.14)
  std::size_t n = 0;
  for (std::size_t at = 0; at < bytes; at += page) {
    if (stop_.load(std::memory_order_relaxed)) return;
#if defined(MADV_POPULATE_READ)
    if (populate && n % block_pages == 0) {
      // From the start of the page that holds `at` (mapped, as `at` is) to the block's end.
      const auto base = reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(begin + at) & ~(page - 1));
      const auto len = std::min(block_pages * page, static_cast<std::size_t>(begin + bytes - base));
      if (::madvise(base, len, MADV_POPULATE_READ) != 0) populate = false;
    }
#endif
    // A read maps the page for good (the populate above maps it for the kernel, not always for
    // the hypervisor of a virtual machine); volatile keeps the compiler from dropping it.
    (void)*static_cast<const volatile char*>(begin + at);
    done_.store(++n, std::memory_order_relaxed);
  }
  finished_.store(true, std::memory_order_release);
}

}  // namespace rankpool::detail
