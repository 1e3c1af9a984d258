#pragma once
// The one way rankpool turns a relative timeout into a steady-clock deadline.

#include <chrono>

namespace rankpool::detail {

/// `d` from now on the steady clock, rounded up to the clock's tick, so a wait never ends before
/// the time it was given.
template <class Rep, class Period>
std::chrono::steady_clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) {
  return std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d);
}

}  // namespace rankpool::detail
