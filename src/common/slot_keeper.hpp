#pragma once
// Internal: the places ("slots") of an executor's threads that run tasks, for tasks that wait on
// tasks they submitted (this_pool()). A thread holds a slot while it runs tasks; when its task
// waits, it lends the slot (lend) and sleeps, and another thread takes the slot: a thread whose
// task's wait is over and wants a slot back (reclaim) first, then a parked spare thread, else a
// new one (`spawn`). A thread that finishes a task while another waits to reclaim gives up its
// slot and parks as a spare (between_tasks). So the running threads never outnumber the slots,
// a waiting task holds a thread but no slot, and it resumes as soon as a slot frees. No MPI in
// it: the worker's serve loop (one slot), its thread team and the thread_executor use it.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>

namespace rankpool::detail {

class slot_keeper {
 public:
  /// The slots are held by the threads that run tasks from the start; `spawn` starts one more
  /// thread, which calls take_slot() first; `wake` wakes the threads that hold a slot and sleep
  /// for want of work, so that they see a reclaimer (between_tasks). Both are called under no
  /// lock of the keeper.
  slot_keeper(std::function<void()> spawn, std::function<void()> wake);

  /// The calling thread's task waits: its slot goes to a thread that reclaims one, or to a spare
  /// (started now when none is parked). False (nothing lent) once closed.
  bool lend();
  /// The calling thread's task waited and goes on: blocks until it holds a slot again. Threads
  /// reclaiming go before spares.
  void reclaim();
  /// A thread holding a slot, before its next task: when another thread waits to reclaim, gives
  /// it the slot and parks until a slot is free for it. False when the keeper closed meanwhile
  /// (the thread must end); true while it holds a slot.
  bool between_tasks();
  /// Whether a thread waits to reclaim a slot (a cheap look for a loop between tasks).
  bool reclaim_pending() const;
  /// A thread spawn() started: waits for a free slot; false when the keeper closed first.
  bool take_slot();
  /// Ends the keeper: parked threads and those waiting for a slot return false from then on.
  void close();
  /// Whether close() was called (a cheap look for a loop between tasks).
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

 private:
  bool park_locked(std::unique_lock<std::mutex>& lk);

  mutable std::mutex m_;
  std::condition_variable cv_;
  std::function<void()> spawn_;
  std::function<void()> wake_;
  std::size_t free_ = 0;                    // slots no thread holds
  std::atomic<std::size_t> reclaimers_{0};  // threads waiting in reclaim(); changed under m_, read without it
  std::size_t spares_ = 0;                  // threads parked, or started and not yet holding a slot
  std::atomic<bool> closed_{false};         // changed under m_, read without it
};

}  // namespace rankpool::detail
