#pragma once
/// \file environment.hpp
/// rankpool::environment: MPI start-up and tear-down for programs that do not manage MPI
/// themselves.

namespace rankpool {

/// Initializes MPI with MPI_THREAD_MULTIPLE when it is not yet initialized, and finalizes it on
/// destruction only if it initialized it. A process started by spawn_executor as a worker never
/// returns from the constructor: it serves tasks, finalizes MPI and exits.
/// An application that initialized MPI itself needs no environment object.
class environment {
 public:
  /// Initializes MPI (passing argc/argv on to MPI_Init_thread).
  environment(int& argc, char**& argv);
  /// Initializes MPI without arguments.
  environment();
  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;
  /// Finalizes MPI if this object initialized it.
  ~environment();

  /// True when this object initialized MPI (and will finalize it).
  bool owns_mpi() const noexcept { return owns_; }
  /// The thread level MPI provides.
  int thread_level() const noexcept { return provided_; }

 private:
  void init(int* argc, char*** argv);
  bool owns_ = false;
  int provided_ = 0;
};

}  // namespace rankpool
