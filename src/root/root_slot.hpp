#pragma once
// Internal: the root's own compute slot (root_computes). A thread of the root runs tasks the
// scheduler hands it, as one more worker that needs no messages; the scheduler counts what it
// finished on its next round.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <rankpool/detail/task.hpp>
#include <thread>
#include <vector>

#include "observe/observer.hpp"

namespace rankpool {
class task_pool;
}

namespace rankpool::detail {

class root_slot {
 public:
  /// Starts the thread. `slot` is this slot's index in traces; `deadline_ns` the task deadline
  /// (0 = none); `finished` is called after each task, on the slot's thread, to wake the
  /// scheduler. `watch` is told of every task run.
  /// `pool`: this_pool() for its tasks (a task waiting on it here holds the slot meanwhile).
  root_slot(std::size_t slot, std::uint64_t deadline_ns, const hooks& watch, std::function<void()> finished,
            task_pool* pool = nullptr);
  /// Stops the thread (after the tasks handed to it).
  ~root_slot();
  root_slot(const root_slot&) = delete;
  root_slot& operator=(const root_slot&) = delete;

  /// Hands tasks (still pending: the thread marks each running as it starts it) to the thread.
  void give(std::vector<task_ptr>& tasks);
  /// How many tasks finished since the last call.
  std::size_t collect() noexcept { return done_.exchange(0, std::memory_order_acq_rel); }
  /// Waits for the handed tasks, then ends the thread. Idempotent.
  void stop();
  /// terminate_workers: the tasks not started fail with `e` (counted as finished), and the
  /// running one is asked to stop and fails with `e` now.
  void terminate(const std::exception_ptr& e);

 private:
  void loop();
  void run_one(task& t);

  std::size_t slot_;
  std::uint64_t deadline_ns_;
  const hooks& hooks_;
  std::function<void()> finished_;
  task_pool* pool_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<task_ptr> queue_;
  task* current_ = nullptr;  // the running task, under m_ (for terminate)
  bool stop_ = false;
  std::atomic<std::size_t> done_{0};
  std::thread thread_;
};

}  // namespace rankpool::detail
