#pragma once
// Internal: stop and cancel requests on the root. A user thread's request_stop() on a running
// task's future, or its cancel() of a task sent ahead to a worker, lands here; the progress
// thread, which owns MPI, forwards them to the worker holding the task.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <rankpool/detail/state.hpp>
#include <utility>
#include <vector>

#include "common/loop_token.hpp"

namespace rankpool::detail {

/// Stop and withdraw requests from user threads, for the progress thread to forward.
class stop_queue final : public stop_sink {
 public:
  /// A (task id, worker rank) pair.
  using request = std::pair<std::uint64_t, int>;

  /// The pool's loop token: a cancel() made on the thread that runs the loop (a done callback)
  /// cannot wait for an answer only that thread would deliver.
  void set_owner(const loop_token* loop) noexcept { loop_ = loop; }

  /// Queues a stop for task `id` on worker rank `where` (any thread).
  void request_stop(std::uint64_t id, int where) noexcept override { push(stops_, id, where); }
  /// Queues a withdraw of task `id` from worker rank `where` (any thread but the loop's).
  bool request_withdraw(std::uint64_t id, int where) noexcept override {
    if (loop_ && loop_->held_here()) return false;
    return push(withdraws_, id, where);
  }
  /// Queues a withdraw the progress thread itself asks for (a task's cancel of a task it
  /// submitted, root/relay.cpp): it goes out with the next forward, and the answer decides.
  void withdraw_later(std::uint64_t id, int where) noexcept { push(withdraws_, id, where); }
  /// Takes the queued stop requests (the progress thread).
  std::vector<request> take_stops() { return take(stops_); }
  /// Takes the queued withdraw requests (the progress thread).
  std::vector<request> take_withdraws() { return take(withdraws_); }

 private:
  bool push(std::vector<request>& into, std::uint64_t id, int where) noexcept {
    try {
      std::lock_guard lk(m_);
      into.emplace_back(id, where);
      has_.store(true, std::memory_order_release);
      return true;
    } catch (...) {  // out of memory: a stop is only advice, a cancel then fails
      return false;
    }
  }
  std::vector<request> take(std::vector<request>& from) {
    std::vector<request> out;
    if (!has_.load(std::memory_order_acquire)) return out;
    std::lock_guard lk(m_);
    out.swap(from);
    has_.store(!stops_.empty() || !withdraws_.empty(), std::memory_order_relaxed);
    return out;
  }

  std::mutex m_;
  std::atomic<bool> has_{false};
  const loop_token* loop_ = nullptr;
  std::vector<request> stops_, withdraws_;
};

}  // namespace rankpool::detail
