#pragma once
/// \file spawn_executor.hpp
/// rankpool::spawn_executor: workers started with MPI_Comm_spawn, as mpi4py.futures'
/// MPIPoolExecutor starts them outside `-m mpi4py.futures`.

#include <rankpool/executor.hpp>
#include <rankpool/options.hpp>

namespace rankpool {

/// Starts `o.max_workers` worker processes of this executable with MPI_Comm_spawn and farms
/// tasks to them, as mpi4py.futures' MPIPoolExecutor does. The spawned processes serve inside
/// their rankpool::environment (or the first rankpool call) and exit; they never run the rest
/// of the program.
class spawn_executor : public basic_executor<true> {
 public:
  /// Spawns the workers (collective over MPI_COMM_SELF). Throws invalid_state_error when MPI is
  /// not initialized, and rankpool::error when the thread level is MPI_THREAD_SINGLE or the
  /// spawn fails. Below MPI_THREAD_MULTIPLE the program must not call MPI itself until the pool
  /// has shut down (README, "Thread levels").
  explicit spawn_executor(executor_options o = {});
  /// shutdown(wait = true); never throws.
  ~spawn_executor();
};

}  // namespace rankpool
