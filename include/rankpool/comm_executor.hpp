#pragma once
/// \file comm_executor.hpp
/// rankpool::comm_executor: the root rank of a communicator farms tasks to the other ranks.

#include <mpi.h>

#include <rankpool/executor.hpp>
#include <rankpool/options.hpp>
#include <rankpool/spawn_executor.hpp>  // declared here before it had a header of its own

namespace rankpool {

/// Collective over `comm` (the library works on its own duplicate of it). On the root the
/// constructor returns a usable executor (`is_root()` true); on every other rank it serves tasks
/// until the root shuts down, then returns with `is_root()` false. A one-rank communicator runs
/// tasks on local threads. All ranks must run the same executable: a start-up handshake checks
/// it and throws rankpool::error on every rank when they differ.
///
///     rankpool::environment env(argc, argv);
///     rankpool::comm_executor pool;          // MPI_COMM_WORLD, root 0
///     if (!pool.is_root()) return 0;         // workers served inside the constructor
///     auto f = pool.submit(my_function, 42);
class comm_executor : public basic_executor<true> {
 public:
  /// See the class comment. Throws invalid_state_error when MPI is not initialized, and
  /// rankpool::error on every rank when the ranks run different executables or when, on a
  /// communicator of more than one rank, the root's thread level is MPI_THREAD_SINGLE (the
  /// root's progress thread calls MPI while the program runs). Below MPI_THREAD_MULTIPLE the
  /// pool's own MPI calls go one at a time and the program must not call MPI on the root until
  /// the pool has shut down (README, "Thread levels").
  explicit comm_executor(MPI_Comm comm = MPI_COMM_WORLD, int root = 0, executor_options o = {});
  /// shutdown(wait = true); never throws.
  ~comm_executor();

  /// True on the root rank, which holds the pool.
  bool is_root() const noexcept { return is_root_; }

 private:
  bool is_root_ = false;
};

}  // namespace rankpool
