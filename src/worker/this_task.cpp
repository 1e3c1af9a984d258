// What a running task sees of itself: the thread's current task context (stop flag, stop
// polling, deadline), installed by whatever runs the task, and the error of an overrun.

#include <rankpool/this_task.hpp>

namespace rankpool {
namespace detail {
namespace {
thread_local const task_context* current = nullptr;
}

timeout_error deadline_error(std::uint64_t deadline_ns, const std::string& where, bool killed) {
  std::string what = "rankpool: the task ran past its deadline";
  if (deadline_ns) what += " of " + std::to_string(static_cast<double>(deadline_ns) / 1e9) + " s";
  what += " (executor_options::task_deadline)";
  if (killed) what += " and was killed";
  if (!where.empty()) what += " on " + where;
  return timeout_error(what);
}

void check_deadline(std::chrono::steady_clock::time_point deadline) {
  if (deadline != std::chrono::steady_clock::time_point::max() && std::chrono::steady_clock::now() > deadline)
    throw deadline_error(0);
}

task_context_scope::task_context_scope(const task_context& ctx) noexcept : previous_(current) {
  current = &ctx;
}
task_context_scope::~task_context_scope() {
  current = previous_;
}

}  // namespace detail

bool stop_requested() noexcept {
  const auto* c = detail::current;
  if (!c) return false;
  if (c->stop && c->stop->load(std::memory_order_relaxed)) return true;
  if (c->poll && c->poll(c->poll_arg)) return true;
  return c->deadline != std::chrono::steady_clock::time_point::max() && std::chrono::steady_clock::now() >= c->deadline;
}

}  // namespace rankpool
