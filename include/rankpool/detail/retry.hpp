#pragma once
// Retries of failed tasks (executor_options::retries and retry_if, submit_options::retries):
// the rule a task carries, the default policy and the final error's attempt count. Compiled in
// src/futures/retry.cpp, with task::retry_or_fail, which every executor core asks after a task
// failed as a whole.

#include <cstddef>
#include <exception>
#include <functional>

namespace rankpool::detail {

/// How often, and after which failures, a task runs again (executor_options::retries and
/// retry_if, submit_options::retries). Shared by the tasks it applies to.
struct retry_rule {
  /// Runs after the first, at most.
  std::size_t retries = 0;
  /// Whether a failure (the exception, the number of the attempt that failed, from 1) is
  /// retried; empty: retry_by_default.
  std::function<bool(std::exception_ptr, std::size_t)> retry_if;
};

/// executor_options::retry_if's default: a task_crashed, or the timeout_error of a task that ran
/// past its deadline (executor_options::task_deadline); never the task's own exception.
bool retry_by_default(const std::exception_ptr& e) noexcept;

/// `e` with " (after N attempts)" added to its message, for the final failure of a retried task:
/// an exception from a worker, or a local one of a standard or rankpool type, keeps its type
/// (detail::with_message_suffix); other local exceptions are returned as they are.
std::exception_ptr with_attempts(const std::exception_ptr& e, std::size_t attempts) noexcept;

}  // namespace rankpool::detail
