#pragma once
/// \file thread_executor.hpp
/// rankpool::thread_executor: the executor interface over local threads, like Python's
/// ThreadPoolExecutor. Any callable can be submitted (nothing is serialized).

#include <algorithm>
#include <cstddef>
#include <functional>
#include <rankpool/detail/thread_core.hpp>
#include <rankpool/executor.hpp>
#include <stdexcept>
#include <thread>

namespace rankpool {

/// Runs tasks on `workers` local threads.
///
///     rankpool::thread_executor pool(4);
///     auto f = pool.submit([](int a, int b) { return a + b; }, 2, 3);
///     int five = f.result();
class thread_executor : public basic_executor<false> {
 public:
  /// Starts `workers` threads (default: the hardware threads, at least one). Throws
  /// std::invalid_argument for 0, as ThreadPoolExecutor(max_workers=0) raises ValueError.
  explicit thread_executor(std::size_t workers = std::max(1u, std::thread::hardware_concurrency()))
      : thread_executor(workers, {}) {}
  /// As above, running `initializer` once on every thread before its first task; if it throws,
  /// the executor is broken (every pending and later future fails with broken_executor).
  thread_executor(std::size_t workers, std::function<void()> initializer) {
    if (workers == 0) throw std::invalid_argument("rankpool: thread_executor needs at least one worker (got 0)");
    core_ = detail::make_thread_core(workers, std::move(initializer));
  }
  /// shutdown(wait = true); never throws.
  ~thread_executor() = default;
};

}  // namespace rankpool
