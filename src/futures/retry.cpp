// Retries of failed tasks (executor_options::retries and retry_if, submit_options::retries):
// the default policy, the attempts in the final error, and the decision every core asks for.

#include <rankpool/detail/exception_codec.hpp>
#include <rankpool/detail/retry.hpp>
#include <rankpool/detail/task.hpp>
#include <rankpool/errors.hpp>
#include <string>

namespace rankpool::detail {

bool retry_by_default(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const task_crashed&) {
    return true;
  } catch (const timeout_error& t) {
    // Only the deadline's own error (this_task.cpp's deadline_error names the option); a task
    // that throws timeout_error itself (a map of its own that timed out) failed by its own code.
    return std::string(t.what()).find("(executor_options::task_deadline)") != std::string::npos;
  } catch (...) {
    return false;
  }
}

std::exception_ptr with_attempts(const std::exception_ptr& e, std::size_t attempts) noexcept {
  try {
    return with_message_suffix(e, " (after " + std::to_string(attempts) + " attempts)");
  } catch (...) {
    return e;  // out of memory for the message
  }
}

bool task::retry_or_fail(std::exception_ptr e) noexcept {
  ++attempts_;
  try {
    if (retry && repeatable_ && attempts_ <= retry->retries &&
        (retry->retry_if ? retry->retry_if(e, attempts_) : retry_by_default(e)) && state_->again())
      return true;
  } catch (...) {
    // A retry_if that throws decides nothing: the task's own failure stands.
  }
  state_->set_exception(attempts_ > 1 ? with_attempts(e, attempts_) : std::move(e));
  return false;
}

}  // namespace rankpool::detail
