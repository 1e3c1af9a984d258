// Which communicator team tasks are built from (see team_base.hpp).

#include "worker/team_base.hpp"

#include <atomic>

#include "wire/mpi_call.hpp"

namespace rankpool::detail {
namespace {

std::atomic<MPI_Comm> base_comm{MPI_COMM_NULL};

}  // namespace

void set_team_base(MPI_Comm serving) {
  int inter = 0;
  mpi::call("MPI_Comm_test_inter", MPI_Comm_test_inter, serving, &inter);
  // A spawned worker serves its parent over an intercommunicator; the team's ranks are ranks of
  // its remote group there, which are the spawned workers' own MPI_COMM_WORLD.
  base_comm.store(inter ? MPI_COMM_WORLD : serving, std::memory_order_release);
}

void clear_team_base() noexcept {
  base_comm.store(MPI_COMM_NULL, std::memory_order_release);
}

MPI_Comm team_base() noexcept {
  return base_comm.load(std::memory_order_acquire);
}

}  // namespace rankpool::detail
