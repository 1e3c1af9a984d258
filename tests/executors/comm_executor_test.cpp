// The executor suite (tests/executor_suite.hpp) against comm_executor: the same test bodies that
// thread_executor passes, with the tasks running on other MPI ranks (or on local threads when
// the communicator has one rank).

#include <mpi.h>

#include <algorithm>
#include <memory>
#include <rankpool/rankpool.hpp>

#include "executor_suite.hpp"
#include "support/world.hpp"

namespace {

using rankpool_test::world_rank;
using rankpool_test::world_size;

// A fixed window, so the suite knows how many tasks a worker takes off the queue at once.
constexpr std::size_t window = 2;

struct comm_harness {
  using executor_type = rankpool::comm_executor;

  static std::unique_ptr<executor_type> make(std::size_t workers) {
    auto ex = std::make_unique<executor_type>(MPI_COMM_WORLD, 0,
                                              rankpool::executor_options{.max_workers = workers, .in_flight = window});
    if (!ex->is_root()) return nullptr;  // this rank served the root's tasks until its shutdown
    return ex;
  }
  static std::size_t expected_workers(std::size_t requested) {
    return world_size() == 1 ? requested : std::min<std::size_t>(requested, static_cast<std::size_t>(world_size() - 1));
  }
  static std::size_t saturation(const executor_type& ex) {
    return world_size() == 1 ? ex.num_workers() : ex.num_workers() * window;
  }
  static bool remote(const executor_type&) { return world_size() > 1; }
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(comm, executor_suite, ::testing::Types<comm_harness>);
