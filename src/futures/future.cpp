// Reporting of exceptions thrown by done callbacks.

#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <rankpool/detail/log.hpp>
#include <rankpool/future.hpp>
#include <utility>

namespace rankpool {
namespace {
std::mutex handler_mutex;
std::function<void(std::exception_ptr)>& handler() {
  static std::function<void(std::exception_ptr)> h;
  return h;
}
}  // namespace

void set_callback_error_handler(std::function<void(std::exception_ptr)> h) {
  std::lock_guard lk(handler_mutex);
  handler() = std::move(h);
}

namespace detail {
namespace {
thread_local wait_hook* this_threads_hook = nullptr;
thread_local std::weak_ptr<loop_driver> this_threads_driver;
}  // namespace

std::weak_ptr<loop_driver>& driver_of_this_thread() noexcept {
  return this_threads_driver;
}

wait_hook* current_wait_hook() noexcept {
  return this_threads_hook;
}

wait_hook* set_current_wait_hook(wait_hook* h) noexcept {
  return std::exchange(this_threads_hook, h);
}

void report_callback_error(std::exception_ptr e) noexcept {
  std::function<void(std::exception_ptr)> h;
  {
    std::lock_guard lk(handler_mutex);
    h = handler();
  }
  if (h) {
    try {
      h(e);
      return;
    } catch (...) {
      // fall through to the default report: the handler itself failed
    }
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    RANKPOOL_LOG(error, "exception in a future's done callback: %s", ex.what());
  } catch (...) {
    RANKPOOL_LOG(error, "exception of unknown type in a future's done callback");
  }
}
}  // namespace detail
}  // namespace rankpool
