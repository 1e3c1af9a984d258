// rankpool::environment: initializes MPI at MPI_THREAD_MULTIPLE (or the level RANKPOOL_THREAD_LEVEL
// names) when the program has not, and finalizes it at the end only if it did; a process started
// by spawn_executor serves here.

#include <mpi.h>

#include <cstdlib>
#include <rankpool/environment.hpp>
#include <rankpool/errors.hpp>
#include <stdexcept>
#include <string>

#include "common/text.hpp"
#include "executors/spawn_executor.hpp"
#include "wire/mpi_call.hpp"

namespace rankpool {

namespace mpi = detail::mpi;

namespace {
// The level to ask MPI_Init_thread for: MPI_THREAD_MULTIPLE, or RANKPOOL_THREAD_LEVEL's, as
// mpi4py's MPI4PY_RC_THREAD_LEVEL (for MPI builds whose MPI_THREAD_MULTIPLE is missing or slow).
int requested_thread_level() {
  const char* v = std::getenv("RANKPOOL_THREAD_LEVEL");
  if (!v || !*v) return MPI_THREAD_MULTIPLE;
  const std::string s = detail::lowercase(v);
  if (s == "single") return MPI_THREAD_SINGLE;
  if (s == "funneled") return MPI_THREAD_FUNNELED;
  if (s == "serialized") return MPI_THREAD_SERIALIZED;
  if (s == "multiple") return MPI_THREAD_MULTIPLE;
  throw std::invalid_argument(std::string("rankpool: RANKPOOL_THREAD_LEVEL is \"") + v +
                              "\"; expected single, funneled, serialized or multiple");
}
}  // namespace

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
    mpi::call("MPI_Init_thread", MPI_Init_thread, argc, argv, requested_thread_level(), &provided_);
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
