// Built twice with different RANKPOOL_TEST_VARIANT values and launched as
// `mpiexec -n 1 variant_a : -n 2 variant_b`: every rank must get a clear error from the
// comm_executor constructor instead of a hang. Exits 0 only when the refusal came.

#include <cstdio>
#include <cstring>
#include <rankpool/rankpool.hpp>

int variant_task(int x) {
  return x + RANKPOOL_TEST_VARIANT;
}

int main(int argc, char** argv) {
  rankpool::environment env(argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  try {
    rankpool::comm_executor pool;
    if (pool.is_root()) pool.submit(variant_task, 1).result();
    std::fprintf(stderr, "rank %d: the pool started although the executables differ\n", rank);
    return 1;
  } catch (const rankpool::error& e) {
    bool clear = std::strstr(e.what(), "do not run the same executable") != nullptr;
    std::printf("rank %d refused: %s\n", rank, e.what());
    return clear ? 0 : 1;
  }
}
