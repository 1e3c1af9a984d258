#pragma once
// Internal: maps a node window's pages into this process ahead of the tasks that read them.
// A process's first read of a page that another process wrote costs a page fault (2-3 µs a page
// on the 2-core VM the project is measured on: about 120 µs for a 1000 x 10 matrix of doubles,
// more than its SVD takes), and the tasks that read a shared stack paid it inside the map. A
// worker is idle while the root fills a window, so a thread of the lowest scheduling class
// (SCHED_IDLE: it runs only on a CPU nothing else wants) reads one byte of each page then; a page
// it reaches before the root has written it is simply the same page, filled later. Whatever it
// has not reached when tasks start, they fault in themselves, as before.
//
// It maps a block of pages with one madvise(MADV_POPULATE_READ) before reading a byte of each:
// at -n 8 on the 2-core VM, seven workers touching a 160 MB stack while the root fills it did not
// all finish, and the map that followed took 0.154-0.177 s reading a byte per page alone against
// 0.096-0.127 s with the blocks (4 runs each, interleaved; -n 3: 0.097-0.106 s and 0.089-0.104 s).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

namespace rankpool::detail {

class page_toucher {
 public:
  /// Starts touching the pages of [`begin`, `begin` + `bytes`), which must stay mapped until
  /// this object is destroyed: first the stretch [`from`, `to`) (byte offsets, clamped to
  /// `bytes`), then, with `rest`, the pages after it and then those before it.
  page_toucher(const void* begin, std::size_t bytes, std::size_t from = 0, std::size_t to = SIZE_MAX, bool rest = true);
  /// Stops at the next page and joins the thread.
  ~page_toucher();
  page_toucher(const page_toucher&) = delete;
  page_toucher& operator=(const page_toucher&) = delete;

  /// Pages touched so far (tests).
  std::size_t pages_done() const noexcept { return done_.load(std::memory_order_relaxed); }
  /// True once its pages were touched: the stretch, and with `rest` every page (tests).
  bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  /// True when the thread could not take the idle class and touched nothing (tests).
  bool gave_up() const noexcept { return gave_up_.load(std::memory_order_acquire); }

  /// RANKPOOL_PREFAULT (default on): whether workers touch a window's pages ahead of the tasks.
  static bool enabled() noexcept;

 private:
  void run(const char* begin, std::size_t bytes, std::size_t from, std::size_t to, bool rest) noexcept;
  // Touches the pages of [begin + at, begin + end); false when asked to stop.
  bool touch(const char* begin, std::size_t at, std::size_t end, std::size_t page) noexcept;
  static constexpr std::size_t block_pages = 64;  // pages per madvise (256 KiB of 4 KiB pages)

  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<bool> gave_up_{false};
  std::atomic<std::size_t> done_{0};
  bool populate_ = true;  // until the kernel refuses MADV_POPULATE_READ (Linux 5.14 brought it)
  std::thread thread_;
};

}  // namespace rankpool::detail
