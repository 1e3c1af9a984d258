#pragma once
// The calling process's rank and size in MPI_COMM_WORLD, for MPI tests that skip themselves
// below a rank count or act on one rank only.

#include <mpi.h>

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

}  // namespace rankpool_test
