// rankpool inside someone else's MPI program: the application initializes MPI itself (no
// rankpool::environment), runs pools on parts of its world, does its own MPI work between farm
// phases, and its own messages are never taken by a pool.

#include <gtest/gtest.h>
#include <mpi.h>

#include <rankpool/rankpool.hpp>
#include <vector>

#include "support/world.hpp"

namespace {

using rankpool_test::world_rank;
using rankpool_test::world_size;

int rank_of_worker(int) {
  return world_rank();
}
int twice(int x) {
  return 2 * x;
}

}  // namespace

TEST(application, two_pools_on_the_halves_of_a_split_world_at_once) {
  if (world_size() < 4) GTEST_SKIP() << "needs at least 4 ranks (two halves of at least 2)";
  const int color = world_rank() % 2;
  MPI_Comm half;
  MPI_Comm_split(MPI_COMM_WORLD, color, world_rank(), &half);
  {
    rankpool::comm_executor pool(half);
    if (pool.is_root()) {
      EXPECT_EQ(world_rank(), color);  // the lowest world rank of each half is its root
      for (int r : pool.map(rank_of_worker, std::vector<int>(200, 0))) {
        EXPECT_EQ(r % 2, color) << "a task of half " << color << " ran on world rank " << r;
        EXPECT_NE(r, world_rank());
      }
    }
  }
  MPI_Comm_free(&half);
}

TEST(application, farm_then_own_collectives_then_farm_again) {
  std::vector<int> xs(100);
  for (int i = 0; i < 100; ++i) xs[static_cast<std::size_t>(i)] = i;
  long first = 0, second = 0;
  {
    rankpool::comm_executor pool;
    if (pool.is_root())
      for (int v : pool.map(twice, xs, {.chunksize = 9})) first += v;
  }
  // The application's own collective and point-to-point work on the same ranks.
  int mine = world_rank() + 1, total = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_EQ(total, world_size() * (world_size() + 1) / 2);
  if (world_size() > 1) {
    int token = 0;
    if (world_rank() == 0) {
      token = 77;
      MPI_Send(&token, 1, MPI_INT, 1, 5, MPI_COMM_WORLD);
    } else if (world_rank() == 1) {
      MPI_Recv(&token, 1, MPI_INT, 0, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      EXPECT_EQ(token, 77);
    }
  }
  {
    rankpool::comm_executor pool;
    if (pool.is_root())
      for (int v : pool.map(twice, xs)) second += v;
  }
  if (world_rank() == 0) {
    EXPECT_EQ(first, 9900);
    EXPECT_EQ(second, 9900);
  }
}

TEST(application, the_pool_never_receives_the_applications_messages) {
  if (world_size() < 2) GTEST_SKIP() << "needs at least 2 ranks";
  // Messages on the application's communicator with the tags rankpool itself uses on its own
  // duplicate, sent before the pool starts and received only after it ends.
  const int tags[] = {0x5250, 0x5251, 0};
  std::vector<MPI_Request> sends;
  std::vector<int> payload(3);
  if (world_rank() != 0) {
    for (int i = 0; i < 3; ++i) {
      payload[static_cast<std::size_t>(i)] = 1000 * world_rank() + i;
      MPI_Request r;
      MPI_Isend(&payload[static_cast<std::size_t>(i)], 1, MPI_INT, 0, tags[i], MPI_COMM_WORLD, &r);
      sends.push_back(r);
    }
  }
  {
    rankpool::comm_executor pool;
    if (pool.is_root()) {
      for (int v : pool.map(twice, std::vector<int>(300, 1))) EXPECT_EQ(v, 2);
    }
  }
  if (world_rank() == 0) {
    for (int src = 1; src < world_size(); ++src) {
      for (int i = 0; i < 3; ++i) {
        int v = -1;
        MPI_Recv(&v, 1, MPI_INT, src, tags[i], MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        EXPECT_EQ(v, 1000 * src + i);
      }
    }
  }
  MPI_Waitall(static_cast<int>(sends.size()), sends.data(), MPI_STATUSES_IGNORE);
}

// The application owns MPI: it initializes and finalizes it; rankpool must do neither.
int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  testing::InitGoogleTest(&argc, argv);
  if (world_rank() != 0) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0, any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) {
    std::fprintf(stderr, "rankpool finalized MPI behind the application's back\n");
    return 1;
  }
  MPI_Finalize();
  return any;
}
