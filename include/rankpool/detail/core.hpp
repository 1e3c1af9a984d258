#pragma once
// The type-erased engine behind every executor (src/): a queue of tasks and the workers that
// run them, local threads or MPI ranks.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <rankpool/detail/task.hpp>
#include <vector>

namespace rankpool::detail {

class executor_core {
 public:
  executor_core() = default;
  executor_core(const executor_core&) = delete;
  executor_core& operator=(const executor_core&) = delete;
  virtual ~executor_core() = default;

  /// Queues tasks. Throws invalid_state_error after shutdown; a broken executor fails them with
  /// broken_executor instead.
  virtual void submit(std::vector<task_ptr>& tasks) = 0;
  /// concurrent.futures' shutdown(wait, cancel_futures). Idempotent.
  virtual void shutdown(bool wait, bool cancel_futures) = 0;
  /// Workers that execute tasks.
  virtual std::size_t num_workers() const noexcept = 0;
  /// Whether tasks must carry their encoded bytes (they go to other processes).
  virtual bool wants_bytes() const noexcept = 0;
  /// Whether tasks may run in this process (and must keep their arguments).
  virtual bool runs_locally() const noexcept = 0;
};

/// Local worker threads (thread_executor, and comm_executor on a one-rank communicator).
/// `deadline_ns`: per-task deadline (0 = none), as executor_options::task_deadline.
std::unique_ptr<executor_core> make_thread_core(std::size_t workers, std::function<void()> initializer,
                                                std::uint64_t deadline_ns = 0);

}  // namespace rankpool::detail
