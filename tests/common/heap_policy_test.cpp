// Whether a pool's process keeps the memory it frees (src/common/heap_policy), without a
// launcher: the decision, and that a freed block is then used again without new page faults.

#include "common/heap_policy.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstddef>
#include <cstdlib>

namespace {

namespace hp = rankpool::detail::heap_policy;

TEST(heap_policy, KeepsUnlessTheApplicationSetMalloc) {
  EXPECT_TRUE(hp::should_keep({.keep_env = std::nullopt, .tunables_set = false, .glibc = true}));
  EXPECT_FALSE(hp::should_keep({.keep_env = std::nullopt, .tunables_set = true, .glibc = true}));
}

TEST(heap_policy, TheEnvironmentDecidesWhenSet) {
  EXPECT_FALSE(hp::should_keep({.keep_env = false, .tunables_set = false, .glibc = true}));
  EXPECT_TRUE(hp::should_keep({.keep_env = true, .tunables_set = true, .glibc = true}));
}

TEST(heap_policy, NothingToSetWithoutGlibc) {
  EXPECT_FALSE(hp::should_keep({.keep_env = true, .tunables_set = false, .glibc = false}));
}

long minor_faults() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Allocates `bytes`, writes one byte per page and frees them; returns the page faults taken.
long touch_fresh_block(std::size_t bytes) {
  const long before = minor_faults();
  auto* p = static_cast<volatile char*>(std::malloc(bytes));
  if (p == nullptr) return -1;
  for (std::size_t i = 0; i < bytes; i += 4096) p[i] = 1;
  std::free(const_cast<char*>(p));
  return minor_faults() - before;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitizer_malloc = true;  // the sanitizer's allocator ignores mallopt
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool sanitizer_malloc = true;
#else
constexpr bool sanitizer_malloc = false;
#endif
#else
constexpr bool sanitizer_malloc = false;
#endif

TEST(heap_policy, AFreedBlockIsUsedAgainWithoutPageFaults) {
  if (sanitizer_malloc) GTEST_SKIP() << "a sanitizer's allocator ignores mallopt";
  if (!hp::should_keep(hp::from_environment())) GTEST_SKIP() << "RANKPOOL_KEEP_MEMORY or GLIBC_TUNABLES opts out";
  hp::apply_once();
  constexpr std::size_t bytes = 16 << 20;  // over glibc's default 128 KiB mapping threshold
  constexpr long pages = bytes / 4096;
  ASSERT_GE(touch_fresh_block(bytes), 0);  // the first time the pages are new
  // glibc's default unmaps (or trims) the block when it is freed, and all 4096 pages fault again.
  EXPECT_LT(touch_fresh_block(bytes), pages / 10);
  EXPECT_LT(touch_fresh_block(bytes), pages / 10);
}

}  // namespace
