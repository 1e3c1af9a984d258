#pragma once
// Internal: a worker's message work while its main thread runs a long task. The main thread
// reads the root's messages and sends results between tasks; during one task it cannot, so
// without help a finished result, a stop, a cancel or the root's request for unstarted tasks
// back would all wait for the task's end. The watcher thread does that work (`service`, under
// the worker's MPI lock) once a task has run `every`, and again each `every` while it runs.
// It sleeps otherwise: a stream of short tasks wakes it about once per `every`, never per task.
// It needs MPI_THREAD_SERIALIZED at least; the worker goes without it below that.

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
  /// `service` runs under it.
  watcher(std::mutex& comm, std::function<void()> service, std::chrono::microseconds every);
  /// Stops the thread.
  ~watcher();
  watcher(const watcher&) = delete;
  watcher& operator=(const watcher&) = delete;

  /// The main thread starts a task (and gives up the lock next).
  void task_started() noexcept;
  /// The main thread is back from the task (and holds the lock again).
  void task_ended() noexcept { running_.store(0, std::memory_order_release); }
  /// What the service threw, if it did (it then stops running); the main thread rethrows it.
  /// Checked after every task, so the usual answer costs an atomic load, not a lock.
  std::exception_ptr error() {
    if (!failed_.load(std::memory_order_acquire)) return nullptr;
    std::lock_guard lk(m_);
    return error_;
  }

 private:
  void loop();
  void serve_once(std::uint64_t seq);

  std::mutex& comm_;
  std::function<void()> service_;
  std::chrono::nanoseconds every_;
  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<std::uint64_t> running_{0};    // the running task's sequence number, 0 = none
  std::atomic<std::int64_t> started_ns_{0};  // when it started (steady clock)
  std::atomic<bool> parked_{false};          // asleep until a task starts
  std::uint64_t seq_ = 0;                    // the main thread's task count
  bool stop_ = false;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};  // error_ is set
  std::thread thread_;
};

}  // namespace rankpool::detail
