#pragma once
// The type-erased engine behind every executor: a queue of tasks and the workers that run them,
// local threads (detail/thread_core.hpp) or MPI ranks (src/root/). Compiled in
// src/executors/core.cpp.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <rankpool/detail/shared_block.hpp>
#include <rankpool/detail/task.hpp>
#include <rankpool/options.hpp>
#include <vector>

namespace rankpool::detail {

/// Busy and total workers summed over every executor alive in this process.
struct worker_counts {
  std::size_t busy = 0;
  std::size_t total = 0;
};
worker_counts live_workers() noexcept;

class executor_core {
 public:
  /// Registers the core in the process-wide list that live_workers() reads.
  executor_core();
  executor_core(const executor_core&) = delete;
  executor_core& operator=(const executor_core&) = delete;
  virtual ~executor_core();

  /// Workers running a task at this moment (approximate; for progress displays).
  std::size_t busy_workers() const noexcept { return busy_.load(std::memory_order_relaxed); }

  /// Queues tasks. Throws invalid_state_error after shutdown; a broken executor fails them with
  /// broken_executor instead.
  virtual void submit(std::vector<task_ptr>& tasks) = 0;
  /// concurrent.futures' shutdown(wait, cancel_futures). Idempotent.
  virtual void shutdown(bool wait, bool cancel_futures) = 0;
  /// terminate_workers() (`signal` SIGTERM) and kill_workers() (SIGKILL): every unfinished
  /// future fails with broken_executor at once, running tasks are asked to stop (an isolated
  /// task's process gets `signal`), and the core is shut down. Idempotent.
  virtual void terminate(int signal) = 0;
  /// Workers that execute tasks.
  virtual std::size_t num_workers() const noexcept = 0;
  /// Whether tasks must carry their encoded bytes (they go to other processes).
  virtual bool wants_bytes() const noexcept = 0;
  /// Whether tasks may run in this process (and must keep their arguments).
  virtual bool runs_locally() const noexcept = 0;
  /// Where shared values go (executor.share): the MPI pool's node windows, or null for a pool
  /// in this process, which keeps the value itself.
  virtual share_service* sharing() noexcept { return nullptr; }
  /// Throws unless this core can run a team task of `k` worker ranks (submit_parallel):
  /// std::invalid_argument for a `k` it does not have, invalid_state_error for a core without
  /// teams.
  virtual void check_team(std::size_t k) const;

 protected:
  /// Kept by the derived core: workers running a task now, and workers in all. Base members, so
  /// live_workers() may read them while a derived core is being destroyed.
  std::atomic<std::size_t> busy_{0};
  std::atomic<std::size_t> workers_{0};

  friend worker_counts live_workers() noexcept;
};

}  // namespace rankpool::detail
