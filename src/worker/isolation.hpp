#pragma once
// Internal: opt-in isolation (executor_options::isolate). A worker rank runs its tasks in a child
// process it forked; a task that kills that process (signal, abort, exit) fails only its own
// future with task_crashed, and the worker forks a fresh child for the next task.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <rankpool/detail/codec.hpp>
#include <string>

#include "worker/output_capture.hpp"

namespace rankpool::detail {

class isolated_runner {
 public:
  /// Forks the first child. `max_tasks_per_child` (0: no limit): a fresh child replaces one that
  /// ran that many tasks, before the next task (executor_options::max_tasks_per_child).
  /// With `capture_output`, every child's stdout and stderr go to a file this runner reads after
  /// each task (take_output), so the output of a task that crashed is kept as well.
  explicit isolated_runner(std::size_t max_tasks_per_child = 0, bool capture_output = false);
  ~isolated_runner();
  isolated_runner(const isolated_runner&) = delete;
  isolated_runner& operator=(const isolated_runner&) = delete;

  /// Runs one task body in the child and writes its result body to `out`. Never throws: a dead
  /// child becomes a task_crashed result. While waiting it asks `stop_signal()` for the signal
  /// the child must get (0: none yet; SIGUSR1 turns the child's stop_requested() true; SIGTERM
  /// or SIGKILL from terminate_workers / kill_workers end it) and enforces `deadline_ns` (0 =
  /// none): past it the result is timeout_error, and a child still busy a second later is killed.
  void run(std::uint64_t id, const char* body, std::size_t n, writer& out, std::uint64_t deadline_ns,
           const std::function<int()>& stop_signal);
  /// What the last task run() ran wrote to stdout and stderr (empty without capture_output).
  std::string take_output() { return std::move(output_); }
  /// Replaces the child with a fresh fork, which sees this process's memory as it is now (a
  /// shared value's window opened since the last fork).
  void restart() {
    stop();
    start();
  }

 private:
  void start();
  void stop() noexcept;
  [[noreturn]] void child_loop(int fd);
  // Waits until the child answers or dies, forwarding a stop request and killing it a second
  // past the deadline; false when it was killed for time.
  bool await_answer(std::chrono::steady_clock::time_point t0, std::uint64_t deadline_ns,
                    const std::function<int()>& stop_signal);
  // The child is gone: reaps it and writes the task's failure (crash or deadline) to `out`.
  void report_lost_child(writer& out, bool killed_for_time, std::uint64_t deadline_ns);
  pid_t pid_ = -1;
  int fd_ = -1;
  std::size_t max_tasks_ = 0;              // per child, 0 = no limit
  std::size_t child_tasks_ = 0;            // tasks the current child ran
  std::optional<output_capture> capture_;  // where the children write, with capture_output
  std::string output_;                     // the last task's output
};

}  // namespace rankpool::detail
