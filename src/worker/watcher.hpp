#pragma once
// Internal: a worker's message work while its main thread runs a long task. The main thread
// reads the root's messages and sends results between tasks; during one task it cannot, so
// without help a finished result, a stop, a cancel or the root's request for unstarted tasks
// back would all wait for the task's end. The watcher thread does that work (`service`, under
// the worker's MPI lock) once a task has run for a while, and again while it runs.
//
// Each wake-up of the watcher takes the core a task runs on, and on an oversubscribed node that
// is what a task loses most: at -n 3 on the 2-core VM, 200 µs tasks ran at 0.86 efficiency while
// the watcher woke every 500 µs (it then saw that the task it was due for had ended, and waited
// for the next one's turn) and at 0.92 with no wake-ups at all; each cost about 15 µs of a task's
// core (context switches and the timer interrupt). So the watcher sleeps on a Linux timer
// (timerfd) that the main thread moves when a task starts, without waking it: a stream of tasks
// shorter than the gap never wakes the watcher, and moving the timer is one system call per half
// a gap, not one per task. A look comes no sooner than half a gap into a task (a look takes the
// worker's MPI lock, and one at a task's end made the main thread wait for it).
//
// The gap adapts: `every` while looks find work (held results, a cancel or take-back to answer);
// it doubles, up to `most`, after a look that found nothing and whenever a task ended before its
// look (the main thread did the work between tasks then). hurry() asks for a look within `every`.
// It needs MPI_THREAD_SERIALIZED at least; the worker goes without it below that.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace rankpool::detail {

class watcher {
 public:
  /// Starts the thread. `comm` is the lock the main thread holds whenever it is not in a task;
  /// `service` runs under it and says whether it found work. Looks come `every` to `most` apart.
  /// Throws std::system_error where the timer cannot be made.
  watcher(std::mutex& comm, std::function<bool()> service, std::chrono::microseconds every,
          std::chrono::microseconds most);
  /// Stops the thread.
  ~watcher();
  watcher(const watcher&) = delete;
  watcher& operator=(const watcher&) = delete;

  /// The main thread starts a task (and gives up the lock next).
  void task_started() noexcept;
  /// The main thread is back from the task (and holds the lock again).
  void task_ended() noexcept { running_.store(0, std::memory_order_release); }
  /// A task queued something for the root: the next look comes within `every`.
  void hurry() noexcept;
  /// What the service threw, if it did (it then stops running); the main thread rethrows it.
  /// Checked after every task, so the usual answer costs an atomic load, not a lock.
  std::exception_ptr error() {
    if (!failed_.load(std::memory_order_acquire)) return nullptr;
    std::lock_guard lk(m_);
    return error_;
  }
  /// How many times the thread has woken so far (a stream of short tasks wakes it not at all).
  std::uint64_t wakeups() const noexcept { return wakeups_.load(std::memory_order_relaxed); }

 private:
  void loop();
  // Runs the service for task `seq` if it still runs; whether it found work.
  bool serve_once(std::uint64_t seq);
  // Sets the timer to fire at `ns` (CLOCK_MONOTONIC; never: INT64_MAX). Under m_.
  void arm(std::int64_t ns) noexcept;
  std::chrono::nanoseconds grown(std::chrono::nanoseconds gap) const { return std::min(gap * 2, most_); }

  std::mutex& comm_;
  std::function<bool()> service_;
  const std::chrono::nanoseconds every_;
  const std::chrono::nanoseconds most_;
  int timer_ = -1;  // the timerfd the thread sleeps on
  std::mutex m_;
  std::atomic<std::uint64_t> running_{0};  // the running task's sequence number, 0 = none
  std::int64_t due_ns_ = INT64_MAX;        // under m_: when the timer fires (INT64_MAX: disarmed)
  std::int64_t wanted_ns_ = INT64_MAX;     // under m_: a look wanted by then (hurry)
  std::chrono::nanoseconds gap_;           // under m_: between looks, now
  std::uint64_t seq_ = 0;                  // the main thread's task count
  bool stop_ = false;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};  // error_ is set
  std::atomic<std::uint64_t> wakeups_{0};
  std::thread thread_;
};

}  // namespace rankpool::detail
