// rankpool::environment: initializes MPI at MPI_THREAD_MULTIPLE when the program has not, and
// finalizes it at the end only if it did; a process started by spawn_executor serves here.

#include <mpi.h>

#include <rankpool/environment.hpp>
#include <rankpool/errors.hpp>

#include "executors/spawn_executor.hpp"
#include "wire/mpi_call.hpp"

namespace rankpool {

namespace mpi = detail::mpi;

environment::environment(int& argc, char**& argv) {
  init(&argc, &argv);
}
environment::environment() {
  init(nullptr, nullptr);
}

void environment::init(int* argc, char*** argv) {
  int initialized = 0;
  mpi::call("MPI_Initialized", MPI_Initialized, &initialized);
  if (!initialized) {
    mpi::call("MPI_Init_thread", MPI_Init_thread, argc, argv, MPI_THREAD_MULTIPLE, &provided_);
    owns_ = true;
  } else {
    mpi::call("MPI_Query_thread", MPI_Query_thread, &provided_);
  }
  // A process started by spawn_executor serves here and never returns to the program.
  detail::serve_if_spawned_worker();
}

environment::~environment() {
  if (!owns_) return;
  int finalized = 0;
  if (!mpi::try_call("MPI_Finalized", MPI_Finalized, &finalized)) return;
  if (!finalized) mpi::try_call("MPI_Finalize", MPI_Finalize);
}

}  // namespace rankpool
