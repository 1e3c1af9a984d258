#include <mpi.h>

#include <rankpool/environment.hpp>
#include <rankpool/errors.hpp>

#include "executors/spawn_executor.hpp"
#include "wire/transport.hpp"

namespace rankpool {

environment::environment(int& argc, char**& argv) {
  init(&argc, &argv);
}
environment::environment() {
  init(nullptr, nullptr);
}

void environment::init(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    detail::transport::check(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided_), "MPI_Init_thread");
    owns_ = true;
  } else {
    MPI_Query_thread(&provided_);
  }
  // A process started by spawn_executor serves here and never returns to the program.
  detail::serve_if_spawned_worker();
}

environment::~environment() {
  if (!owns_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace rankpool
