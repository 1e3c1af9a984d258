#pragma once
// The process-wide answer to "may this process's waiting threads spin?", read by every polling
// loop (transport::backoff) and by future waits. Set once per pool from src/common/cpu_share.cpp;
// header-only so that code built without MPI (the future states, the fuzzers) can read it.

#include <atomic>

namespace rankpool::detail {

/// The switch itself: true until a pool finds that this node has fewer cores than threads that
/// want one (or RANKPOOL_SPIN=0, or Open MPI yields when idle).
inline std::atomic<bool> spin_allowed_flag{true};

/// Whether a waiting thread may burn its core for a few microseconds before it sleeps.
inline bool spin_allowed() noexcept {
  return spin_allowed_flag.load(std::memory_order_relaxed);
}

/// One step of a busy wait: tells the core that this thread only waits (x86's `pause`), which
/// frees resources for a sibling hyperthread and costs no system call.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// Sets the switch (cpu_share::configure does; tests may too).
inline void set_spin_allowed(bool allowed) noexcept {
  spin_allowed_flag.store(allowed, std::memory_order_relaxed);
}

}  // namespace rankpool::detail
