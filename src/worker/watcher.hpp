#pragma once
// Internal: a worker's message work while its main thread runs a long task. The main thread
// reads the root's messages and sends results between tasks; during one task it cannot, so
// without help a finished result, a stop, a cancel or the root's request for unstarted tasks
// back would all wait for the task's end. The watcher thread does that work (`service`, under
// the worker's MPI lock) once a task has run for a while, and again while it runs.
//
// Each look is a wake-up, and a wake-up is not free: on the 2-core development VM it took about
// 12 µs of the core the task needed (at -n 3, 200 µs tasks ran at 0.83 efficiency with a look
// every 250 µs and at 0.89 with one every 2 ms). So the gap between looks adapts: `every` while
// a look finds work (held results, a cancel or take-back to answer); it doubles, up to `most`,
// after a look that found nothing and whenever a task ended before its look (the main thread did
// the work between tasks then). A stream of tasks shorter than the gap wakes it about once per
// gap, never per task. (A start with results waiting once asked for a look `every` in: in a
// stream of short tasks nearly every start has some, which held the gap at `every` and woke the
// watcher twice as often, 7% of a 5 µs-task worker's core at -n 2. The serve loop now sends its
// results before a task whenever as many wait as tasks are queued, so they wait for a look only
// behind a queue of tasks, at most `most`.) A look comes only once a task has
// run the gap: a look takes the worker's MPI lock, and one at a task's end made the main thread
// wait for it (tried: looks every gap whatever the task, 200 µs tasks at -n 3 lost 0.05).
// It needs MPI_THREAD_SERIALIZED at least; the worker goes without it below that.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
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

 private:
  void loop();
  // Runs the service for task `seq` if it still runs; whether it found work.
  bool serve_once(std::uint64_t seq);
  std::chrono::nanoseconds grown(std::chrono::nanoseconds gap) const { return std::min(gap * 2, most_); }

  std::mutex& comm_;
  std::function<bool()> service_;
  const std::chrono::nanoseconds every_;
  const std::chrono::nanoseconds most_;
  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<std::uint64_t> running_{0};    // the running task's sequence number, 0 = none
  std::atomic<std::int64_t> started_ns_{0};  // when it started (steady clock)
  std::atomic<bool> parked_{false};          // asleep until a task starts
  std::int64_t due_ns_ = INT64_MAX;          // under m_: the next look while waiting for it (steady clock)
  std::int64_t wanted_ns_ = INT64_MAX;       // under m_: a look wanted by then (hurry)
  std::uint64_t seq_ = 0;                    // the main thread's task count
  bool stop_ = false;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};  // error_ is set
  std::thread thread_;
};

}  // namespace rankpool::detail
