// A node's doorbells (src/common/doorbell.hpp): a rank that sleeps on its bell wakes when another
// process of its node rings it, a ring between the ticket and the sleep is not lost, a sleep with
// no ring lasts its length, ranks with cores of their own ring nothing, and the node agrees when
// there are no bells.

#include "common/doorbell.hpp"

#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <rankpool/detail/spin.hpp>
#include <thread>

#include "support/world.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;
using rankpool_test::world_rank;
using rankpool_test::world_size;

// Each test opens the bells of the world's node. Bells ring only where ranks share cores
// (spin_allowed false, as under mpirun --oversubscribe on this machine), which is how the tests
// run unless they say otherwise.
class doorbell : public ::testing::Test {
 protected:
  void SetUp() override {
    rankpool::detail::set_spin_allowed(false);
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node_);
    bells_ = rankpool::detail::node_bells::open(node_, MPI_COMM_WORLD);
    if (!bells_) GTEST_SKIP() << "no POSIX shared memory here: no doorbells, the ranks poll";
  }
  void TearDown() override {
    bells_.reset();
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Comm_free(&node_);
    rankpool::detail::set_spin_allowed(true);
  }
  // Whether rank 1 can be rung by rank 0: two ranks or more, all on one node.
  bool pair_here() const {
    int n = 0;
    MPI_Comm_size(node_, &n);
    return world_size() >= 2 && n == world_size();
  }
  // Rank 1 sleeps for up to 20 s on the ticket it read before `between` ran on every rank;
  // returns how long it slept (zero on the other ranks).
  template <class F>
  clock_type::duration sleep_after(F between) {
    const std::uint32_t ticket = bells_->ticket();
    MPI_Barrier(MPI_COMM_WORLD);
    between();
    if (world_rank() != 1) return {};
    const auto start = clock_type::now();
    bells_->sleep(ticket, 20s);
    return clock_type::now() - start;
  }

  MPI_Comm node_ = MPI_COMM_NULL;
  std::shared_ptr<rankpool::detail::node_bells> bells_;
};

TEST_F(doorbell, a_ring_wakes_a_sleeping_rank_at_once) {
  if (!pair_here()) GTEST_SKIP() << "needs two ranks or more, all on one node";
  std::thread ringer;
  const auto slept = sleep_after([&] {
    if (world_rank() == 0)
      ringer = std::thread([&] {
        std::this_thread::sleep_for(100ms);  // rank 1 is asleep by then
        bells_->ring(1);
      });
  });
  if (ringer.joinable()) ringer.join();
  EXPECT_LT(slept, 10s) << "slept on although rank 0 rang after 100 ms";
}

TEST_F(doorbell, a_ring_after_the_ticket_cuts_the_next_sleep_short) {
  if (!pair_here()) GTEST_SKIP() << "needs two ranks or more, all on one node";
  const auto slept = sleep_after([&] {
    if (world_rank() == 0) bells_->ring(1);  // before rank 1 sleeps: as work that came while it looked
    MPI_Barrier(MPI_COMM_WORLD);
  });
  EXPECT_LT(slept, 10s) << "the ring before the sleep was lost";
  if (world_rank() == 1) {
    // With a fresh ticket nothing is pending: the sleep lasts its length.
    const auto start = clock_type::now();
    bells_->sleep(bells_->ticket(), 50ms);
    EXPECT_GE(clock_type::now() - start, 40ms) << "woke with no ring";
  }
}

TEST_F(doorbell, ranks_with_no_bell_here_are_left_alone) {
  bells_->ring(-1);
  bells_->ring(world_size() + 5);
  // This rank's own bell moves with its own ring, by pool rank or as its own.
  const std::uint32_t before = bells_->ticket();
  bells_->ring(world_rank());
  bells_->ring_own();
  EXPECT_EQ(bells_->ticket(), before + 2);
}

// Where ranks have cores of their own they poll, and a ring would only slow the ringer down.
TEST_F(doorbell, ranks_with_cores_of_their_own_ring_no_bell) {
  rankpool::detail::set_spin_allowed(true);
  const std::uint32_t before = bells_->ticket();
  bells_->ring(world_rank());
  bells_->ring_own();
  EXPECT_EQ(bells_->ticket(), before);
}

TEST(doorbell_off, RANKPOOL_DOORBELL_0_on_the_node_s_first_rank_leaves_the_whole_node_without) {
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int node_rank = 0;
  MPI_Comm_rank(node, &node_rank);
  if (node_rank == 0) setenv("RANKPOOL_DOORBELL", "0", 1);
  auto bells = rankpool::detail::node_bells::open(node, MPI_COMM_WORLD);
  unsetenv("RANKPOOL_DOORBELL");
  EXPECT_EQ(bells, nullptr);
  MPI_Comm_free(&node);
}

}  // namespace
