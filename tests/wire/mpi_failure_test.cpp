// What the pool does when an MPI call fails (docs/architecture.md, "When MPI fails"): the test
// hook mpi::inject_failure makes one chosen call fail on one rank, and each case checks that the
// affected futures fail with broken_executor nesting the mpi_error, that the executor refuses
// new work, and that every rank gets out (ctest's timeout turns a hang into a failure).

#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <rankpool/rankpool.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/world.hpp"
#include "wire/mpi_call.hpp"

namespace {

using rankpool_test::world_rank;
using rankpool_test::world_size;

int twice(int x) {
  return 2 * x;
}

// The mpi_error nested in a broken_executor, or a test failure.
void expect_nested_mpi_error(const rankpool::broken_executor& e, const std::string& routine) {
  try {
    std::rethrow_if_nested(e);
    ADD_FAILURE() << "broken_executor without a nested cause: " << e.what();
  } catch (const rankpool::mpi_error& m) {
    EXPECT_EQ(m.routine(), routine);
    EXPECT_EQ(m.code(), MPI_ERR_OTHER);
    EXPECT_EQ(m.error_class(), MPI_ERR_OTHER);
    EXPECT_NE(std::string(m.what()).find(routine + " failed"), std::string::npos) << m.what();
  }
}

// Injected on the root after a warm-up: the next task send fails.
TEST(mpi_failure, root_send_fails_the_futures_and_breaks_the_executor) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (1 rank runs local threads, no MPI sends)";
  rankpool::comm_executor pool(MPI_COMM_WORLD);
  if (!pool.is_root()) return;  // served until the root released this rank
  EXPECT_EQ(pool.submit(twice, 4).result(), 8);
  rankpool::detail::mpi::inject_failure("MPI_Isend", 1);
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(pool.submit(twice, i));
  for (auto& f : fs) {
    try {
      f.result(std::chrono::seconds(60));
      ADD_FAILURE() << "a task sent after the failure succeeded";
    } catch (const rankpool::broken_executor& e) {
      EXPECT_NE(std::string(e.what()).find("MPI_Isend failed"), std::string::npos) << e.what();
      expect_nested_mpi_error(e, "MPI_Isend");
    }
  }
  EXPECT_THROW(pool.submit(twice, 1).result(), rankpool::broken_executor);  // refused at once
  try {
    pool.shutdown();
    ADD_FAILURE() << "shutdown of a pool whose progress thread failed did not throw";
  } catch (const rankpool::mpi_error& e) {
    EXPECT_EQ(e.routine(), "MPI_Isend");
  }
}

// Injected on the root: its next receive fails while a task is out. The worker still finishes
// the task; its result is drained and dropped.
TEST(mpi_failure, root_receive_failure_fails_tasks_in_flight) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (1 rank runs local threads, no MPI receives)";
  rankpool::comm_executor pool(MPI_COMM_WORLD);
  if (!pool.is_root()) return;
  EXPECT_EQ(pool.submit(twice, 5).result(), 10);
  rankpool::detail::mpi::inject_failure("MPI_Improbe", 1);
  auto f = pool.submit(twice, 6);
  try {
    f.result(std::chrono::seconds(60));
    ADD_FAILURE() << "the task succeeded though the root could not receive";
  } catch (const rankpool::broken_executor& e) {
    expect_nested_mpi_error(e, "MPI_Improbe");
  }
  EXPECT_THROW(pool.shutdown(), rankpool::mpi_error);
}

// Injected on worker rank 1: its first result send (MPI_Isend: results are not waited for) fails. The worker tells the
// root, which breaks the executor; the worker's comm_executor throws the mpi_error on that rank.
TEST(mpi_failure, worker_send_failure_breaks_the_executor_on_the_root) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (a worker rank)";
  if (world_rank() == 1) rankpool::detail::mpi::inject_failure("MPI_Isend", 1);
  std::optional<rankpool::comm_executor> pool;
  if (world_rank() == 1) {
    try {
      pool.emplace(MPI_COMM_WORLD);
      ADD_FAILURE() << "worker rank 1 served to the end though its result send failed";
    } catch (const rankpool::mpi_error& e) {
      EXPECT_EQ(e.routine(), "MPI_Isend");
    }
    return;
  }
  pool.emplace(MPI_COMM_WORLD);
  if (!pool->is_root()) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 40; ++i) fs.push_back(pool->submit(twice, i));
  int broken = 0;
  for (int i = 0; i < 40; ++i) {
    try {
      EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(std::chrono::seconds(60)), 2 * i);
    } catch (const rankpool::broken_executor& e) {
      ++broken;
      EXPECT_NE(std::string(e.what()).find("worker rank 1 failed"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("MPI_Isend failed"), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(broken, 0) << "no task failed, so rank 1's failure never reached the root";
  EXPECT_THROW(pool->submit(twice, 1).result(), rankpool::broken_executor);  // refused at once
  pool->shutdown();  // a worker's failure breaks the pool; shutdown itself completes
}

}  // namespace
