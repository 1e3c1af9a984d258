#pragma once
// Internal: this_pool() on a worker rank. A task's submit encodes the task as the root's
// executor would and queues it for the root (nested_submit); the root schedules it among its
// own and sends its outcome back (nested_result), which completes the future here. While a task
// waits on such futures its thread runs other tasks; the root hears of it (nested_lend,
// nested_reclaim) so that the worker's slot takes tasks meanwhile. No MPI in it: the serve loop,
// which owns MPI, sends what it queues and hands it what arrives.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <rankpool/detail/core.hpp>
#include <rankpool/detail/state.hpp>
#include <unordered_map>
#include <vector>

#include "wire/framing.hpp"

namespace rankpool::detail {

class nested_client final : public executor_core, public stop_sink {
 public:
  /// `workers`: what num_workers() says (the pool's task threads, as far as a worker knows).
  /// `usable`: a thread other than a task's reads the root's messages while the task runs (a
  /// watcher or a thread team), so its nested results arrive; without one, submit() throws
  /// invalid_state_error.
  /// `kick`: called after a message is queued, to have it sent soon (any thread; must not send).
  nested_client(std::size_t workers, bool usable, std::function<void()> kick);

  /// Queues each task for the root; its future is running (not started anywhere yet, so
  /// cancel() may still ask it back) until the root's answer.
  void submit(std::vector<task_ptr>& tasks) override;
  /// Nothing: the pool is the root's.
  void shutdown(bool, bool) override {}
  void terminate(int) override {}
  std::size_t num_workers() const noexcept override { return workers_; }
  bool wants_bytes() const noexcept override { return true; }
  bool runs_locally() const noexcept override { return false; }

  /// A stop request on a nested future: not passed on (the task runs elsewhere; cancel() is the
  /// way to drop one that has not started).
  void request_stop(std::uint64_t, int) noexcept override {}
  /// cancel(): asks the root for the task back (nested_cancel); the answer comes as a
  /// nested_result.
  bool request_withdraw(std::uint64_t number, int) noexcept override;

  /// A task of this thread waits on nested futures and lends its thread (nested_lend), or has it
  /// back (nested_reclaim).
  void lend() { queue_plain(wire::kind::nested_lend, 0); }
  void reclaim() { queue_plain(wire::kind::nested_reclaim, 0); }

  /// Whether messages wait to be sent.
  bool has_outgoing() const noexcept { return has_out_.load(std::memory_order_acquire); }
  /// Takes the messages to send, in order (the serve loop, under its MPI lock).
  std::deque<std::vector<char>> take_outgoing();
  /// A nested_result from the root: completes, cancels or (a late cancel) releases the waiting
  /// cancel() of the task `h.id`. An unknown number is ignored.
  void deliver(const wire::header& h, const char* body, std::size_t n);

 private:
  void queue(std::vector<char> msg);
  void queue_plain(wire::kind k, std::uint64_t id);

  mutable std::mutex m_;
  std::unordered_map<std::uint64_t, task_ptr> waiting_;  // by number, until the outcome
  std::uint64_t next_ = 1;
  std::deque<std::vector<char>> out_;
  std::atomic<bool> has_out_{false};
  std::size_t workers_;
  bool usable_;
  std::function<void()> kick_;
};

}  // namespace rankpool::detail
