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
namespace {
// The address of the page that holds `address`.
std::uintptr_t page_start(std::uintptr_t address, std::size_t page) noexcept {
  return address & ~static_cast<std::uintptr_t>(page - 1);
}
}  // namespace

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
  // The stretch rounded out to whole pages of memory (`begin` need not start one), as offsets
  // from `begin`: the three ranges below then share no page, and together read every page once.
  const auto base = reinterpret_cast<std::uintptr_t>(begin);
  // The offset of the page boundary at or before offset `off`, but not before `begin`.
  const auto boundary = [base, page](std::size_t off) {
    return static_cast<std::size_t>(std::max(base, page_start(base + off, page)) - base);
  };
  const std::size_t first = boundary(std::min(from, bytes));
  const std::size_t last = std::min(bytes, std::max(first, boundary(std::min(to, bytes) + page - 1)));
  if (!touch(begin, first, last, page)) return;
  if (rest && (!touch(begin, last, bytes, page) || !touch(begin, 0, first, page))) return;
  finished_.store(true, std::memory_order_release);
}

bool page_toucher::touch(const char* begin, std::size_t at, std::size_t end, std::size_t page) noexcept {
  // Page by page by address: a value starts a header's length into its window, not on a page
  // boundary, so steps of whole pages from `begin + at` would miss the page that holds the
  // range's last bytes (for the last stretch, the value's last page, which nobody else maps).
  const auto base = reinterpret_cast<std::uintptr_t>(begin);
  std::size_t n = 0;
  for (std::uintptr_t p = page_start(base + at, page); p < base + end; p += page, ++n) {
    if (stop_.load(std::memory_order_relaxed)) return false;
#if defined(MADV_POPULATE_READ)
    if (populate_ && n % block_pages == 0) {
      const auto len = std::min<std::size_t>(block_pages * page, base + end - p);
      if (::madvise(reinterpret_cast<void*>(p), len, MADV_POPULATE_READ) != 0) populate_ = false;
    }
#endif
    // A read maps the page for good (the populate above maps it for the kernel, not always for
    // the hypervisor of a virtual machine); volatile keeps the compiler from dropping it. The
    // range's first page may start before it: that one is read at the range's first byte.
    (void)*static_cast<const volatile char*>(begin + (std::max(p, base + at) - base));
    done_.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

}  // namespace rankpool::detail
