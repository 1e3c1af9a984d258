#pragma once
// Internal: stop requests on the root. A user thread's request_stop() on a running task's future
// lands here; the progress thread, which owns MPI, forwards them to the worker running it.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <rankpool/detail/state.hpp>
#include <utility>
#include <vector>

namespace rankpool::detail {

/// Stop requests from user threads, for the progress thread to forward.
class stop_queue final : public stop_sink {
 public:
  /// Queues a stop for task `id` on worker rank `where` (any thread).
  void request_stop(std::uint64_t id, int where) noexcept override {
    try {
      std::lock_guard lk(m_);
      pending_.emplace_back(id, where);
      has_.store(true, std::memory_order_release);
    } catch (...) {  // out of memory: the stop is only advice
    }
  }
  /// Takes the queued (task id, rank) pairs (the progress thread).
  std::vector<std::pair<std::uint64_t, int>> take() {
    std::vector<std::pair<std::uint64_t, int>> out;
    if (!has_.load(std::memory_order_acquire)) return out;
    std::lock_guard lk(m_);
    out.swap(pending_);
    has_.store(false, std::memory_order_relaxed);
    return out;
  }

 private:
  std::mutex m_;
  std::atomic<bool> has_{false};
  std::vector<std::pair<std::uint64_t, int>> pending_;
};

}  // namespace rankpool::detail
