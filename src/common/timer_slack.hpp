#pragma once
// Internal: how late the pool's own threads may wake from a timed wait. Linux lets a thread's
// timers fire up to its timer slack late (50 µs by default), so that one interrupt can serve
// several timers. The root's progress thread waits with soft deadlines (it naps 100-1000 µs and
// pauses up to 500 µs between rounds), and on an oversubscribed node each
// timer interrupt lands on a core that a task runs on: at -n 3 on the 2-core VM, 200 µs tasks,
// a slack of a quarter of the wait cut the timer interrupts by a fifth.

#include <chrono>

namespace rankpool::detail {

/// Lets the calling thread's timed waits end up to a quarter of `wait` late, and never less
/// than Linux's default of 50 µs; a system call only when that changes. For the pool's own
/// threads: a user's thread keeps its own setting. Does nothing where Linux's prctl is missing.
void slack_for(std::chrono::microseconds wait) noexcept;

}  // namespace rankpool::detail
