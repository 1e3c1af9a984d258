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

page_toucher::page_toucher(const void* begin, std::size_t bytes, std::size_t from, std::size_t to, bool rest) {
  thread_ = std::thread(
      [this, p = static_cast<const char*>(begin), bytes, from, to, rest] { run(p, bytes, from, to, rest); });
}

page_toucher::~page_toucher() {
  stop_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

bool page_toucher::enabled() noexcept {
  static const bool on = cpu_share::parse_bool(std::getenv("RANKPOOL_PREFAULT")).value_or(true);
  return on;
}

void page_toucher::run(const char* begin, std::size_t bytes, std::size_t from, std::size_t to, bool rest) noexcept {
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
  // Offsets from `begin` in whole pages, as the start's: the three stretches read the same pages
  // one pass from the start would.
  const std::size_t first = std::min(from, bytes) / page * page;
  const std::size_t last = std::min(bytes, std::max(first, (std::min(to, bytes) + page - 1) / page * page));
  if (!touch(begin, first, last, page)) return;
  if (rest && (!touch(begin, last, bytes, page) || !touch(begin, 0, first, page))) return;
  finished_.store(true, std::memory_order_release);
}

bool page_toucher::touch(const char* begin, std::size_t at, std::size_t end, std::size_t page) noexcept {
  std::size_t n = 0;
  for (; at < end; at += page) {
    if (stop_.load(std::memory_order_relaxed)) return false;
#if defined(MADV_POPULATE_READ)
    if (populate_ && n % block_pages == 0) {
      // From the start of the page that holds `at` (mapped, as `at` is) to the block's end.
      const auto base = reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(begin + at) & ~(page - 1));
      const auto len = std::min(block_pages * page, static_cast<std::size_t>(begin + end - base));
      if (::madvise(base, len, MADV_POPULATE_READ) != 0) populate_ = false;
    }
#endif
    // A read maps the page for good (the populate above maps it for the kernel, not always for
    // the hypervisor of a virtual machine); volatile keeps the compiler from dropping it.
    (void)*static_cast<const volatile char*>(begin + at);
    ++n;
    done_.fetch_add(1, std::memory_order_relaxed);
  }
  // A value starts a header's length into its window, not on a page boundary: the steps above,
  // whole pages from `begin`, do not reach the page that holds the range's last bytes (for the
  // last stretch, the value's last page, which nobody else maps either).
  if (n > 0) (void)*static_cast<const volatile char*>(begin + end - 1);
  return true;
}

}  // namespace rankpool::detail
