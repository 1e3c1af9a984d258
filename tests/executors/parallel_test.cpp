// Team tasks (submit_parallel, map_parallel): f(team, args...) on k worker ranks at once with a
// communicator of exactly those ranks; the value is team rank 0's; an exception on any member
// fails the future and stops the rest; the pool goes on; teams and one-rank tasks mix without a
// deadlock. Run at 3, 5 and 9 ranks, and with threads_per_worker 2 and RANKPOOL_IN_FLIGHT 1 and
// 64 (tests/CMakeLists.txt). Each test makes its own pool; all ranks construct it, the workers
// serve until the root's shutdown.

#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <rankpool/rankpool.hpp>
#include <rankpool/spawn_executor.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/world.hpp"

namespace {

using namespace std::chrono_literals;
using rankpool_test::world_size;

constexpr auto patience = std::chrono::seconds(60);

// Pool ranks that serve (the root is rank 0 of MPI_COMM_WORLD and computes nothing here).
std::size_t workers() {
  return static_cast<std::size_t>(world_size() - 1);
}

// The team's size, its members' pool ranks summed, and the caller's rank in the team: team rank
// 0's answer, so the sum shows that every member took part in the collective.
struct team_view {
  int size = 0;
  int rank = -1;
  long pool_rank_sum = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& size& rank& pool_rank_sum;
  }
};

team_view look(MPI_Comm team, int) {
  team_view v;
  MPI_Comm_size(team, &v.size);
  MPI_Comm_rank(team, &v.rank);
  int world = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world);
  long mine = world;
  MPI_Allreduce(&mine, &v.pool_rank_sum, 1, MPI_LONG, MPI_SUM, team);
  return v;
}

// Sum of x * (team rank + 1) over the team, with a nonblocking collective and team_wait.
long weighted(MPI_Comm team, long x) {
  int r = 0;
  MPI_Comm_rank(team, &r);
  long mine = x * (r + 1), sum = 0;
  MPI_Request req;
  MPI_Iallreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, team, &req);
  if (!rankpool::team_wait(req)) return -1;
  return sum;
}

long expected_weighted(long x, std::size_t k) {
  return x * static_cast<long>(k * (k + 1) / 2);
}

// Team rank `bad` throws; the others wait in a collective it never joins, through team_wait,
// and give up when asked to stop.
int fail_on(MPI_Comm team, int bad) {
  int r = 0;
  MPI_Comm_rank(team, &r);
  if (r == bad) throw std::domain_error("member " + std::to_string(r) + " failed");
  int one = 1, sum = 0;
  MPI_Request req;
  MPI_Iallreduce(&one, &sum, 1, MPI_INT, MPI_SUM, team, &req);
  if (!rankpool::team_wait(req)) return -1;
  return sum;
}

// Runs until asked to stop; returns the team's size (team rank 0's view).
int until_stopped(MPI_Comm team, int) {
  while (!rankpool::stop_requested()) std::this_thread::sleep_for(1ms);
  int n = 0;
  MPI_Comm_size(team, &n);
  return n;
}

// Which rank ran it and whether its team communicator served an earlier team (an attribute
// set on it the first time): team communicators are kept per set of ranks.
struct reuse_view {
  int rank = -1;
  bool seen_before = false;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& rank& seen_before;
  }
};

reuse_view mark(MPI_Comm team, int) {
  static int key = [] {
    int k = MPI_KEYVAL_INVALID;
    MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, MPI_COMM_NULL_DELETE_FN, &k, nullptr);
    return k;
  }();
  static int token = 1;
  reuse_view v;
  MPI_Comm_rank(MPI_COMM_WORLD, &v.rank);
  void* value = nullptr;
  int found = 0;
  MPI_Comm_get_attr(team, key, &value, &found);
  v.seen_before = found != 0;
  if (!found) MPI_Comm_set_attr(team, key, &token);
  return v;
}

int nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

int square(int x) {
  return x * x;
}

// Team tasks need worker ranks: a thread_executor has no submit_parallel.
template <class E>
concept has_teams = requires(E& e) {
  e.submit_parallel(1, look, 0);
};
static_assert(has_teams<rankpool::comm_executor> && has_teams<rankpool::spawn_executor>);
static_assert(!has_teams<rankpool::thread_executor>);

#define ROOT_POOL(pool, min_workers)                                                                \
  if (workers() < (min_workers)) GTEST_SKIP() << "needs " << (min_workers) + 1 << " ranks or more"; \
  rankpool::comm_executor pool;                                                                     \
  if (!pool.is_root()) return

TEST(parallel, every_team_size_gets_exactly_its_ranks) {
  ROOT_POOL(pool, 2u);
  for (std::size_t k = 1; k <= workers(); ++k) {
    const team_view v = pool.submit_parallel(k, look, 0).result(patience);
    EXPECT_EQ(v.size, static_cast<int>(k));
    EXPECT_EQ(v.rank, 0) << "the value is team rank 0's";
    // k distinct worker ranks (1..world-1): their sum lies between the k smallest and largest.
    const long lo = static_cast<long>(k * (k + 1) / 2);
    const long hi = static_cast<long>(k) * static_cast<long>(workers()) - static_cast<long>(k * (k - 1) / 2);
    EXPECT_GE(v.pool_rank_sum, lo);
    EXPECT_LE(v.pool_rank_sum, hi);
  }
}

TEST(parallel, every_member_takes_part) {
  ROOT_POOL(pool, 2u);
  const std::size_t k = workers();
  std::vector<rankpool::future<long>> fs;
  for (long x = 1; x <= 8; ++x) fs.push_back(pool.submit_parallel(k, weighted, x));
  for (long x = 1; x <= 8; ++x)
    EXPECT_EQ(fs[static_cast<std::size_t>(x - 1)].result(patience), expected_weighted(x, k));
}

TEST(parallel, bad_team_sizes_are_refused_at_once) {
  ROOT_POOL(pool, 2u);
  EXPECT_THROW(pool.submit_parallel(0, look, 0), std::invalid_argument);
  EXPECT_THROW(pool.submit_parallel(workers() + 1, look, 0), std::invalid_argument);
  EXPECT_THROW(pool.map_parallel(workers() + 1, look, std::vector<int>{1}), std::invalid_argument);
  EXPECT_EQ(pool.submit(square, 3).result(patience), 9) << "the pool goes on";
}

TEST(parallel, a_failing_member_fails_the_future_and_the_pool_goes_on) {
  ROOT_POOL(pool, 2u);
  const std::size_t k = std::min<std::size_t>(workers(), 4);
  for (int bad = 0; bad < static_cast<int>(k); ++bad) {
    auto f = pool.submit_parallel(k, fail_on, bad);
    try {
      f.result(patience);
      ADD_FAILURE() << "no exception from team rank " << bad;
    } catch (const std::domain_error& e) {
      EXPECT_NE(std::string(e.what()).find("member " + std::to_string(bad) + " failed"), std::string::npos) << e.what();
      const auto* where = rankpool::remote_context_of(e);
      ASSERT_NE(where, nullptr) << "the exception says which rank threw";
      EXPECT_GE(where->rank(), 1);
    }
  }
  // The stopped members have ended: the next teams and tasks run.
  EXPECT_EQ(pool.submit_parallel(k, weighted, 3L).result(patience), expected_weighted(3, k));
  EXPECT_EQ(pool.submit(square, 4).result(patience), 16);
}

// A team of one rank lands on the worker that answered last: within workers() + 1 teams one
// meets a communicator an earlier team left. A failed team's ranks get a fresh one.
TEST(parallel, team_communicators_are_kept_and_renewed_after_a_failure) {
  ROOT_POOL(pool, 2u);
  std::vector<int> used;
  bool reused = false;
  for (std::size_t i = 0; i <= workers() && !reused; ++i) {
    const reuse_view v = pool.submit_parallel(1, mark, 0).result(patience);
    const bool before = std::find(used.begin(), used.end(), v.rank) != used.end();
    EXPECT_EQ(v.seen_before, before) << "rank " << v.rank;
    used.push_back(v.rank);
    reused = v.seen_before;
  }
  EXPECT_TRUE(reused) << "no team met a kept communicator";
  int failed_on = -1;
  try {
    pool.submit_parallel(1, fail_on, 0).result(patience);
    ADD_FAILURE() << "the team did not fail";
  } catch (const std::domain_error& e) {
    ASSERT_NE(rankpool::remote_context_of(e), nullptr);
    failed_on = rankpool::remote_context_of(e)->rank();
  }
  for (int tries = 0; tries < 50; ++tries) {
    const reuse_view v = pool.submit_parallel(1, mark, 0).result(patience);
    if (v.rank != failed_on) continue;
    EXPECT_FALSE(v.seen_before) << "rank " << failed_on << " kept the failed team's communicator";
    return;
  }
  GTEST_SKIP() << "no later team landed on rank " << failed_on;
}

TEST(parallel, request_stop_reaches_every_member) {
  ROOT_POOL(pool, 2u);
  const std::size_t k = workers();
  auto f = pool.submit_parallel(k, until_stopped, 0);
  while (!f.running() && !f.done()) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);
  f.request_stop();
  EXPECT_EQ(f.result(patience), static_cast<int>(k));
}

TEST(parallel, map_parallel_keeps_the_input_order) {
  ROOT_POOL(pool, 2u);
  const std::size_t k = 2;
  std::vector<long> xs(12);
  std::iota(xs.begin(), xs.end(), 1L);
  std::vector<long> got;
  for (long v : pool.map_parallel(k, weighted, xs, {.timeout = patience})) got.push_back(v);
  ASSERT_EQ(got.size(), xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(got[i], expected_weighted(xs[i], k)) << "element " << i;
}

TEST(parallel, map_parallel_yields_an_element_s_exception_at_its_position) {
  ROOT_POOL(pool, 2u);
  std::vector<int> bad{-1, 1, -1};  // team rank 1 throws for the middle element
  std::vector<std::string> seen;
  try {
    for (int v : pool.map_parallel(2, fail_on, bad)) seen.push_back(std::to_string(v));
  } catch (const std::domain_error& e) {
    seen.push_back(e.what());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"2", "member 1 failed"}));
}

// Teams and one-rank tasks interleaved, with teams of every size: nothing starves, nothing
// deadlocks, every result is right.
TEST(parallel, teams_and_single_tasks_mix) {
  ROOT_POOL(pool, 2u);
  std::vector<rankpool::future<long>> teams;
  std::vector<rankpool::future<int>> singles;
  for (int i = 0; i < 40; ++i) {
    singles.push_back(pool.submit(nap, i % 3));
    if (i % 4 == 0) {
      const std::size_t k = 1 + static_cast<std::size_t>(i / 4) % workers();
      teams.push_back(pool.submit_parallel(k, weighted, static_cast<long>(i)));
    }
  }
  for (std::size_t j = 0; j < teams.size(); ++j) {
    const std::size_t k = 1 + j % workers();
    EXPECT_EQ(teams[j].result(patience), expected_weighted(static_cast<long>(4 * j), k)) << "team " << j;
  }
  for (int i = 0; i < 40; ++i) EXPECT_EQ(singles[static_cast<std::size_t>(i)].result(patience), i % 3);
}

TEST(parallel, a_waiting_team_can_be_cancelled) {
  ROOT_POOL(pool, 2u);
  // Every worker busy: the team waits on the root, where cancel() still takes it.
  std::vector<rankpool::future<int>> busy;
  for (std::size_t i = 0; i < workers(); ++i) busy.push_back(pool.submit(nap, 300));
  std::this_thread::sleep_for(50ms);
  auto team = pool.submit_parallel(workers(), weighted, 1L);
  EXPECT_TRUE(team.cancel());
  EXPECT_TRUE(team.cancelled());
  for (auto& b : busy) EXPECT_EQ(b.result(patience), 300);
  EXPECT_EQ(pool.submit_parallel(workers(), weighted, 2L).result(patience), expected_weighted(2, workers()));
}

}  // namespace
