// Timer slack of the pool's own threads (see timer_slack.hpp).

#include "common/timer_slack.hpp"

#include <algorithm>
#include <cstdint>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

namespace rankpool::detail {

void slack_for(std::chrono::microseconds wait) noexcept {
#if defined(__linux__)
  constexpr std::int64_t linux_default_ns = 50'000;
  thread_local std::int64_t set_ns = 0;  // 0: this thread's slack was never set here
  const std::int64_t ns = std::max<std::int64_t>(linux_default_ns, std::chrono::nanoseconds(wait).count() / 4);
  if (ns == set_ns) return;
  // Not retried when it fails: the waits are only a little dearer then.
  (void)prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(ns), 0, 0, 0);
  set_ns = ns;
#else
  (void)wait;
#endif
}

}  // namespace rankpool::detail
