#pragma once
// Internal: the worker half of an MPI pool. Every worker rank (and every process spawn_executor
// starts) calls serve(), which returns when the root says shut down.

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <functional>

#include "share/node_layout.hpp"

namespace rankpool::detail {

/// How a worker rank runs its tasks (from executor_options, the same on every rank).
struct worker_config {
  std::size_t threads = 1;              // threads running tasks in this rank
  bool isolate = false;                 // run tasks in a supervised child process
  std::size_t max_tasks_per_child = 0;  // isolation: a fresh child after this many tasks (0 = no limit)
  std::uint64_t deadline_ns = 0;        // per-task deadline, 0 = none
  bool capture_output = false;          // keep each task's stdout and stderr with its result
};

/// Runs `initializer`, then executes tasks from `root` on `comm` until it says shutdown.
/// `nodes`: this rank's node, where shared values live once per node; serve frees its
/// communicator.
void serve(MPI_Comm comm, int root, const std::function<void()>& initializer, const worker_config& cfg,
           node_layout nodes);

}  // namespace rankpool::detail
