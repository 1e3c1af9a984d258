#pragma once
// The calling process's rank and size in MPI_COMM_WORLD, for MPI tests that skip themselves
// below a rank count or act on one rank only, and the CPUs of a world on one node.

#include <mpi.h>
#include <sched.h>

#include <cstddef>
#include <vector>

namespace rankpool_test {

/// This process's rank in MPI_COMM_WORLD.
inline int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

/// The number of processes in MPI_COMM_WORLD.
inline int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

/// The CPUs the world's ranks may run on, counted by the test itself: the union of every rank's
/// affinity mask. 0 when the ranks do not all share one node. Collective over MPI_COMM_WORLD.
inline std::size_t cpus_of_one_node() {
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int here = 0;
  MPI_Comm_size(node, &here);
  MPI_Comm_free(&node);
  cpu_set_t mine;
  CPU_ZERO(&mine);
  sched_getaffinity(0, sizeof mine, &mine);
  std::vector<cpu_set_t> all(static_cast<std::size_t>(world_size()));
  MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, MPI_COMM_WORLD);
  cpu_set_t any;
  CPU_ZERO(&any);
  for (const cpu_set_t& m : all) CPU_OR(&any, &any, &m);
  return here == world_size() ? static_cast<std::size_t>(CPU_COUNT(&any)) : 0;
}

}  // namespace rankpool_test
