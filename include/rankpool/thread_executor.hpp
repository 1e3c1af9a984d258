#pragma once
/// \file thread_executor.hpp
/// rankpool::thread_executor: the executor interface over local threads, like Python's
/// ThreadPoolExecutor. Any callable can be submitted (nothing is serialized).

#include <cstddef>
#include <functional>
#include <rankpool/detail/thread_core.hpp>
#include <rankpool/executor.hpp>
#include <thread>

namespace rankpool {

/// Runs tasks on `workers` local threads.
///
///     rankpool::thread_executor pool(4);
///     auto f = pool.submit([](int a, int b) { return a + b; }, 2, 3);
///     int five = f.result();
class thread_executor : public basic_executor<false> {
 public:
  /// Starts `workers` threads (at least one; default: the hardware threads).
  explicit thread_executor(std::size_t workers = std::thread::hardware_concurrency()) : thread_executor(workers, {}) {}
  /// As above, running `initializer` once on every thread before its first task; if it throws,
  /// the executor is broken (every pending and later future fails with broken_executor).
  thread_executor(std::size_t workers, std::function<void()> initializer) {
    core_ = detail::make_thread_core(workers == 0 ? 1 : workers, std::move(initializer));
  }
  /// shutdown(wait = true); never throws.
  ~thread_executor() = default;
};

}  // namespace rankpool
