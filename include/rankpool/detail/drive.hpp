#pragma once
// A thread that waits on a result of an MPI pool runs the pool's progress loop itself while it
// waits, instead of sleeping while the progress thread runs the loop and wakes it. On a core the
// two threads share (mpirun binds a rank to one core), every hand-over between them is a system
// call and a context switch: a round trip needed two of each. See docs/architecture.md, "Who
// runs the loop". Header-only, without MPI, for the future states to call.

#include <chrono>
#include <memory>

namespace rankpool::detail {

/// What a driving waiter waits for: a test it makes between rounds of the loop.
struct wait_goal {
  bool (*test)(const void*) noexcept;  // true once the wait is over
  const void* arg;                     // passed to test
  /// True once the wait is over.
  bool reached() const noexcept { return test(arg); }
};

/// A pool whose progress loop a waiting thread may run (the root of comm_executor and
/// spawn_executor).
class loop_driver {
 public:
  virtual ~loop_driver() = default;
  /// Runs the loop on the calling thread until `goal` is reached or `deadline` passes. Returns
  /// at once when this thread cannot run it (another thread does, the pool has ended, the
  /// thread is inside the loop already: a done callback), and early when the loop has nothing
  /// in flight that could reach the goal (a future of another pool). The caller then waits as
  /// usual.
  virtual void drive(wait_goal goal, std::chrono::steady_clock::time_point deadline) noexcept = 0;
};

/// The pool this thread submitted to last, which its waits drive (held weakly: the pool may end
/// first).
std::weak_ptr<loop_driver>& driver_of_this_thread() noexcept;

/// Runs the loop of this thread's pool (if any) until `goal` or `deadline`; true when the goal
/// was reached.
inline bool drive_until(wait_goal goal, std::chrono::steady_clock::time_point deadline) noexcept {
  if (auto d = driver_of_this_thread().lock()) d->drive(goal, deadline);
  return goal.reached();
}

/// drive_until with a callable goal (`reached()` → bool, must not throw).
template <class F>
bool drive_until_call(const F& reached, std::chrono::steady_clock::time_point deadline) noexcept {
  return drive_until({[](const void* f) noexcept -> bool { return (*static_cast<const F*>(f))(); }, &reached},
                     deadline);
}

}  // namespace rankpool::detail
