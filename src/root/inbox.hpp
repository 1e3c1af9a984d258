#pragma once
// Internal: where user threads hand work to the root's progress thread: new tasks, shutdown and
// cancel requests, and wake-ups of a sleeping progress loop. The only scheduler state that both
// sides touch, behind one mutex.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <rankpool/detail/task.hpp>
#include <vector>

#include "common/doorbell.hpp"

namespace rankpool::detail {

class inbox {
 public:
  /// Queues tasks (user threads). Throws invalid_state_error after shutdown; on a broken pool
  /// fails them with its error.
  void submit(std::vector<task_ptr>& tasks);
  /// No new tasks from now on; `cancel`: cancel the tasks not started.
  void request_shutdown(bool cancel);
  /// Shutdown with terminate_workers() / kill_workers(): `signal` for the running tasks.
  void request_terminate(int signal);
  /// Wakes the progress loop (something it waits for happened on another thread).
  void wake();

  /// What the progress thread takes in one round.
  struct news {
    std::vector<task_ptr> tasks;
    bool stopping = false;  // shutdown was requested
    bool cancel = false;    // cancel the tasks not started (asked once)
    int terminate = 0;      // terminate_workers / kill_workers: the signal (asked once)
  };
  /// Moves the news into `n`; false when there was none since the last call.
  bool take(news& n);
  /// True when news waits to be taken.
  bool has_news() const noexcept { return has_news_.load(std::memory_order_acquire); }
  /// Sleeps until there is news, or for at most `pause` when set. With a bell (use_bell), a
  /// pause also ends when it rings after `ticket` (ticket(), read before the round that found
  /// nothing): workers of the root's node ring it when they send.
  void wait(std::optional<std::chrono::microseconds> pause, std::uint32_t ticket = 0);
  /// The bell's state, to be read before a round of the loop (0 without a bell).
  std::uint32_t ticket() const noexcept { return bell_ ? bell_->ticket() : 0; }
  /// Also waits on, and rings for news, the root's own doorbell.
  void use_bell(std::shared_ptr<node_bells> bell) { bell_ = std::move(bell); }

  /// Marks the pool broken with `e` (the first error is kept) and moves the tasks not taken yet
  /// into `left`, for the caller to fail. False when it was broken already.
  bool break_with(const std::exception_ptr& e, std::vector<task_ptr>& left);

  /// The error the pool broke with, or null.
  std::exception_ptr broken_error();
  /// True once shutdown was requested or the pool broke (num_workers() is then 0).
  bool closed() const noexcept { return closed_.load(std::memory_order_relaxed); }

 private:
  // Wakes a wait: on the condition variable, and on the bell.
  void notify();

  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<bool> has_news_{false};
  std::atomic<bool> closed_{false};
  std::shared_ptr<node_bells> bell_;  // the root's doorbell (or null)
  std::vector<task_ptr> tasks_;
  bool shutdown_ = false;
  bool cancel_requested_ = false;
  int terminate_requested_ = 0;
  bool broken_ = false;
  std::exception_ptr broken_error_;
};

}  // namespace rankpool::detail
