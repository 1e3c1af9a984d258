#pragma once
/// \file this_task.hpp
/// What a running task can ask about itself: whether it has been asked to stop.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <rankpool/errors.hpp>
#include <string>

namespace rankpool {

/// True when the task running on this thread has been asked to stop: its future's
/// `request_stop()` was called, or its deadline (executor_options::task_deadline) has passed.
/// Long tasks poll it and return early; false outside a task. Cheap enough to call in a loop.
bool stop_requested() noexcept;

namespace detail {

/// The task this thread runs, as stop_requested() sees it (set by executors around each task).
struct task_context {
  const std::atomic<bool>* stop = nullptr;  // set when a stop was requested
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool (*poll)(void*) = nullptr;  // asks the transport for stop requests; true when one came
  void* poll_arg = nullptr;
};

/// Installs `ctx` as this thread's current task for the scope's lifetime.
class task_context_scope {
 public:
  explicit task_context_scope(const task_context& ctx) noexcept;
  ~task_context_scope();
  task_context_scope(const task_context_scope&) = delete;
  task_context_scope& operator=(const task_context_scope&) = delete;

 private:
  const task_context* previous_;
};

/// The error of a task that ran past its deadline of `deadline_ns` (0: not known here) at
/// `where` ("worker rank 3 on node1"; empty: this process); `killed`: its process was killed.
timeout_error deadline_error(std::uint64_t deadline_ns, const std::string& where = {}, bool killed = false);

/// Throws deadline_error() when `deadline` has passed (time_point::max(): none).
void check_deadline(std::chrono::steady_clock::time_point deadline);

}  // namespace detail
}  // namespace rankpool
