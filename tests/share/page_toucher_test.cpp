// Touching a node window's pages ahead of the tasks (src/share/page_toucher), without a
// launcher: every page of a shared mapping is mapped into the process, so reading it afterwards
// takes no page fault, and destroying the toucher stops it part way.

#include "share/page_toucher.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

namespace {

using rankpool::detail::page_toucher;

long minor_faults() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// A shared mapping like a node window's (tmpfs pages), unmapped at the end.
class shared_mapping {
 public:
  explicit shared_mapping(std::size_t bytes) : bytes_(bytes) {
    p_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  }
  ~shared_mapping() {
    if (p_ != MAP_FAILED) ::munmap(p_, bytes_);
  }
  shared_mapping(const shared_mapping&) = delete;
  shared_mapping& operator=(const shared_mapping&) = delete;
  bool ok() const noexcept { return p_ != MAP_FAILED; }
  const char* data() const noexcept { return static_cast<const char*>(p_); }

 private:
  std::size_t bytes_;
  void* p_;
};

TEST(page_toucher, MapsEveryPageSoReadsTakeNoFault) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t pages = 2048;  // 8 MiB: a few ms of faults, even on a slow machine
  shared_mapping m(pages * page);
  ASSERT_TRUE(m.ok());
  page_toucher t(m.data(), pages * page);
  // The idle class runs only on a CPU nothing else wants: on a loaded machine this takes a while.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!t.finished() && !t.gave_up() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (t.gave_up()) GTEST_SKIP() << "this system refuses SCHED_IDLE threads; the toucher does nothing";
  ASSERT_TRUE(t.finished()) << "touched " << t.pages_done() << " of " << pages << " pages in 60 s";
  EXPECT_EQ(t.pages_done(), pages);
  const long before = minor_faults();
  long sum = 0;
  for (std::size_t at = 0; at < pages * page; at += page) sum += *static_cast<const volatile char*>(m.data() + at);
  EXPECT_EQ(sum, 0);                                                  // nobody wrote: the pages read as zeros
  EXPECT_LT(minor_faults() - before, static_cast<long>(pages / 10));  // without it: one fault per 16 pages or more
}

// Pages of the mapping this process has in memory (mincore), or -1 when it cannot tell.
long resident_pages(const char* begin, std::size_t pages, std::size_t page) {
  std::vector<unsigned char> in(pages);
  if (::mincore(const_cast<char*>(begin), pages * page, in.data()) != 0) return -1;
  long n = 0;
  for (unsigned char c : in) n += c & 1;
  return n;
}

TEST(page_toucher, StopsWhenDestroyed) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t pages = std::size_t{1} << 20;  // 4 GiB of address space, never all touched
  shared_mapping m(pages * page);
  ASSERT_TRUE(m.ok());
  std::size_t done = 0;
  {
    page_toucher t(m.data(), pages * page);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    done = t.pages_done();
  }  // the destructor stops the thread at its next page and joins it: this returns
  // What it touched is there, and it did not go on to the end: a read brings a page of the
  // mapping into memory, so the count after the join is where the thread stopped.
  const long resident = resident_pages(m.data(), pages, page);
  if (resident < 0) GTEST_SKIP() << "mincore refuses this mapping";
  EXPECT_GE(resident, static_cast<long>(done));
  EXPECT_LT(resident, static_cast<long>(pages));
}

// A worker's toucher starts at its own stretch of the window (share_table.cpp), goes on to the
// end, then maps the pages before its stretch: stopped early, it has mapped from its start on and
// nothing before; left to finish, every page.
TEST(page_toucher, StartsAtItsStretchAndWrapsAround) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  {
    // 1 GiB of address space: its second half takes the toucher far longer than the wait below.
    const std::size_t pages = std::size_t{1} << 18;
    shared_mapping m(pages * page);
    ASSERT_TRUE(m.ok());
    // An offset inside a page: the stretch starts at that page.
    std::optional<page_toucher> t(std::in_place, m.data(), pages * page, pages / 2 * page + 100);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (t->pages_done() < 16 && !t->gave_up() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (t->gave_up()) GTEST_SKIP() << "this system refuses SCHED_IDLE threads; the toucher does nothing";
    t.reset();  // stops it at its next page (the destructor joins)
    std::vector<unsigned char> in(pages);
    if (::mincore(const_cast<char*>(m.data()), pages * page, in.data()) != 0)
      GTEST_SKIP() << "mincore refuses this mapping";
    EXPECT_TRUE(in[pages / 2] & 1) << "the first page of its stretch";
    EXPECT_FALSE(in[0] & 1) << "a page before its stretch, touched before the stretch's end";
    EXPECT_FALSE(in[pages / 2 - 1] & 1);
  }
  const std::size_t pages = 4096;
  shared_mapping m(pages * page);
  ASSERT_TRUE(m.ok());
  page_toucher t(m.data(), pages * page, pages / 3 * page);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!t.finished() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(t.finished()) << "touched " << t.pages_done() << " of " << pages << " pages in 60 s";
  EXPECT_EQ(t.pages_done(), pages);
  EXPECT_EQ(resident_pages(m.data(), pages, page), static_cast<long>(pages));
}

// Without the rest (more workers on the node than CPUs, share_table.cpp), a toucher maps its
// stretch and nothing else: the pages of [from, to) rounded out to whole pages.
TEST(page_toucher, WithoutTheRestMapsOnlyItsStretch) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t pages = 4096;
  shared_mapping m(pages * page);
  ASSERT_TRUE(m.ok());
  page_toucher t(m.data(), pages * page, 1000 * page + 7, 2000 * page + 1, false);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!t.finished() && !t.gave_up() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (t.gave_up()) GTEST_SKIP() << "this system refuses SCHED_IDLE threads; the toucher does nothing";
  ASSERT_TRUE(t.finished()) << "touched " << t.pages_done() << " pages in 60 s";
  EXPECT_EQ(t.pages_done(), 1001u);  // pages 1000 to 2000
  std::vector<unsigned char> in(pages);
  if (::mincore(const_cast<char*>(m.data()), pages * page, in.data()) != 0)
    GTEST_SKIP() << "mincore refuses this mapping";
  EXPECT_EQ(resident_pages(m.data(), pages, page), 1001);
  EXPECT_TRUE(in[1000] & 1);
  EXPECT_TRUE(in[2000] & 1);
  EXPECT_FALSE(in[999] & 1);
  EXPECT_FALSE(in[2001] & 1);
}

// A shared value starts a header's length into its window, not on a page boundary: the toucher
// maps the pages that hold its bytes, the last one included, each once, and a stretch's pages are
// whole pages of memory (here pages 1000 to 2000, as the value's bytes 1000 × page - 64 to
// 2000 × page - 64 + 1 lie in them).
TEST(page_toucher, MapsEveryPageOfARangeThatStartsInsideAPage) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t pages = 4096, header = 64;
  shared_mapping m(pages * page);
  ASSERT_TRUE(m.ok());
  {
    page_toucher t(m.data() + header, pages * page - header, 1000 * page - header, 2000 * page - header + 1, false);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!t.finished() && !t.gave_up() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (t.gave_up()) GTEST_SKIP() << "this system refuses SCHED_IDLE threads; the toucher does nothing";
    ASSERT_TRUE(t.finished()) << "touched " << t.pages_done() << " pages in 60 s";
    EXPECT_EQ(t.pages_done(), 1001u);
    EXPECT_EQ(resident_pages(m.data(), pages, page), 1001);
  }
  page_toucher t(m.data() + header, pages * page - header, 1000 * page - header, 2000 * page - header + 1);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!t.finished() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(t.finished()) << "touched " << t.pages_done() << " of " << pages << " pages in 60 s";
  EXPECT_EQ(t.pages_done(), pages) << "every page once, the stretch's included";
  EXPECT_EQ(resident_pages(m.data(), pages, page), static_cast<long>(pages)) << "the last page too";
}

}  // namespace
