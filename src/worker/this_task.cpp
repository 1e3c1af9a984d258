#include <rankpool/detail/task.hpp>
#include <rankpool/this_task.hpp>

namespace rankpool {
namespace detail {
namespace {
thread_local const task_context* current = nullptr;
}

void check_deadline(std::chrono::steady_clock::time_point deadline) {
  if (deadline != std::chrono::steady_clock::time_point::max() && std::chrono::steady_clock::now() > deadline)
    throw timeout_error("rankpool: the task ran past its deadline (executor_options::task_deadline)");
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
