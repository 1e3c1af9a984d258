// An application that initialized MPI with too little thread support gets, on every rank, a
// clear error naming the level a pool needs, instead of a hang or a crash. Exits 0 when so.

#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <rankpool/rankpool.hpp>

int one(int) {
  return 1;
}

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int ok = 0;
  try {
    rankpool::comm_executor pool;
    // One rank: tasks run on local threads and MPI is never called from them, so it works.
    ok = size == 1 && pool.submit(one, 0).result() == 1;
  } catch (const rankpool::error& e) {
    ok = size > 1 && std::strstr(e.what(), "MPI_THREAD_MULTIPLE") != nullptr &&
         std::strstr(e.what(), "MPI_THREAD_FUNNELED") != nullptr;
    std::printf("rank %d: %s\n", rank, e.what());
  }
  int all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Finalize();
  return all ? 0 : 1;
}
