// Tasks that submit tasks (rankpool::this_pool()): a task's submit and map go to the same pool,
// and a task that waits on them lends its worker meanwhile, so recursion deeper than the pool's
// workers finishes (a divide and conquer of depth 12 and a Fibonacci tree of over 10 000 tasks on
// 2 workers); a nested task's exception reaches the task that waits on it and, unhandled, the
// root; cancel() takes back a nested task that has not started. Run at 3 and 5 ranks, and at 3
// ranks with threads_per_worker 2 and RANKPOOL_IN_FLIGHT 1 and 64 (tests/CMakeLists.txt); the
// thread_executor tests run on every rank by themselves.

#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <numeric>
#include <ranges>
#include <rankpool/rankpool.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/world.hpp"

namespace {

using namespace std::chrono_literals;
using rankpool_test::world_size;

constexpr auto patience = std::chrono::seconds(120);

// Sum of [lo, hi), split in halves down to `depth` levels: both halves are tasks of the pool
// and this one waits on them, so every level holds a waiting task.
std::int64_t split_sum(std::int64_t lo, std::int64_t hi, int depth) {
  if (depth == 0) {
    std::int64_t s = 0;
    for (std::int64_t i = lo; i < hi; ++i) s += i;
    return s;
  }
  auto& pool = rankpool::this_pool();
  const std::int64_t mid = lo + (hi - lo) / 2;
  auto left = pool.submit(split_sum, lo, mid, depth - 1);
  auto right = pool.submit(split_sum, mid, hi, depth - 1);
  return left.result() + right.result();
}

// fib(n) by the naive recursion, each call a task: the value and the number of tasks it took.
std::pair<std::int64_t, std::int64_t> fib(int n) {
  if (n < 2) return {n, 1};
  auto& pool = rankpool::this_pool();
  auto a = pool.submit(fib, n - 1);
  auto b = pool.submit(fib, n - 2);
  const auto x = a.result();
  const auto y = b.result();
  return {x.first + y.first, x.second + y.second + 1};
}

std::int64_t serial_fib(int n) {
  std::int64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) a = std::exchange(b, a + b);
  return a;
}

int square(int x) {
  return x * x;
}

// A task that maps over the pool and sums the results.
std::int64_t sum_of_squares(int n) {
  std::int64_t s = 0;
  for (int v : rankpool::this_pool().map(square, std::views::iota(0, n), {.chunksize = 7})) s += v;
  return s;
}

// A task that waits on its tasks in completion order.
std::int64_t sum_as_completed(int n) {
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < n; ++i) fs.push_back(rankpool::this_pool().submit(square, i));
  std::int64_t s = 0;
  for (auto f : rankpool::as_completed(fs)) s += f.result();
  return s;
}

int throws_deep(int x) {
  if (x > 0) throw std::out_of_range("deep failure " + std::to_string(x));
  return x;
}

// Leaves the nested task's exception unhandled: it fails this task too.
int waits_on_a_failure(int x) {
  return rankpool::this_pool().submit(throws_deep, x).result() + 1;
}

// Catches it: the message arrives intact.
std::string catches_a_failure(int x) {
  try {
    rankpool::this_pool().submit(throws_deep, x).result();
    return "no exception";
  } catch (const std::out_of_range& e) {
    return e.what();
  }
}

void nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// Cancels a nested task queued behind slower ones (a lower priority keeps it behind them):
// 1 when cancel() succeeded and result() then threw cancelled_error.
int cancels_a_queued_task(int fillers) {
  auto& pool = rankpool::this_pool();
  std::vector<rankpool::future<void>> slow;
  for (int i = 0; i < fillers; ++i) slow.push_back(pool.submit(nap, 300));
  auto last = pool.submit_with({.priority = -1}, square, 9);
  const bool cancelled = last.cancel();
  bool threw = false;
  try {
    last.result();
  } catch (const rankpool::cancelled_error&) {
    threw = true;
  }
  for (auto& f : slow) f.result();
  return cancelled && threw && last.cancelled() ? 1 : 0;
}

int uses_this_pool(int x) {
  return rankpool::this_pool().submit(square, x).result();
}

std::size_t workers() {
  return static_cast<std::size_t>(world_size() - 1);
}

#define ROOT_POOL(pool, ...)                                      \
  if (workers() < 1) GTEST_SKIP() << "needs 2 ranks or more";     \
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, ##__VA_ARGS__); \
  if (!pool.is_root()) return

TEST(nested, divide_and_conquer_of_depth_12) {
  ROOT_POOL(pool);
  const std::int64_t n = 1 << 16;
  EXPECT_EQ(pool.submit(split_sum, std::int64_t{0}, n, 12).result(patience), n * (n - 1) / 2);
}

TEST(nested, a_fibonacci_tree_of_over_ten_thousand_tasks) {
  ROOT_POOL(pool);
  const auto [value, tasks] = pool.submit(fib, 19).result(patience);
  EXPECT_EQ(value, serial_fib(19));
  EXPECT_GE(tasks, 10'000) << "every call was a task";
}

TEST(nested, a_task_maps_and_waits_in_completion_order) {
  ROOT_POOL(pool);
  std::int64_t expected = 0;
  for (int i = 0; i < 100; ++i) expected += i * i;
  auto mapped = pool.submit(sum_of_squares, 100);
  auto completed = pool.submit(sum_as_completed, 100);
  EXPECT_EQ(mapped.result(patience), expected);
  EXPECT_EQ(completed.result(patience), expected);
}

TEST(nested, many_parents_at_once) {
  ROOT_POOL(pool);
  // More waiting parents than workers, each with its own small recursion.
  std::vector<rankpool::future<std::int64_t>> fs;
  for (int i = 0; i < 16; ++i) fs.push_back(pool.submit(split_sum, std::int64_t{0}, std::int64_t{1000 + i}, 4));
  for (int i = 0; i < 16; ++i) {
    const std::int64_t n = 1000 + i;
    EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(patience), n * (n - 1) / 2);
  }
}

TEST(nested, an_exception_reaches_the_waiting_task_and_the_root) {
  ROOT_POOL(pool);
  EXPECT_EQ(pool.submit(catches_a_failure, 7).result(patience), "deep failure 7");
  auto f = pool.submit(waits_on_a_failure, 3);
  EXPECT_THROW(f.result(patience), std::out_of_range);
  try {
    f.result();
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("deep failure 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(pool.submit(waits_on_a_failure, 0).result(patience), 1) << "the pool goes on";
}

TEST(nested, cancel_takes_back_a_nested_task_not_started) {
  ROOT_POOL(pool);
  EXPECT_EQ(pool.submit(cancels_a_queued_task, static_cast<int>(2 * workers() + 2)).result(patience), 1);
}

TEST(nested, this_pool_outside_a_task_is_refused) {
  ROOT_POOL(pool);
  EXPECT_THROW(rankpool::this_pool(), rankpool::invalid_state_error);
}

TEST(nested, an_isolated_task_cannot_reach_the_pool) {
  rankpool::executor_options o;
  o.isolate = true;
  o.threads_per_worker = 1;  // set, so RANKPOOL_THREADS_PER_WORKER does not apply
  ROOT_POOL(pool, o);
  try {
    pool.submit(uses_this_pool, 3).result(patience);
    ADD_FAILURE() << "this_pool() worked in an isolated task";
  } catch (const rankpool::remote_error& e) {
    EXPECT_NE(std::string(e.what()).find("isolated task"), std::string::npos) << e.what();
  }
  EXPECT_EQ(pool.submit(square, 3).result(patience), 9) << "the pool goes on";
}

TEST(nested, shutdown_waits_for_a_recursion_under_way) {
  std::int64_t n = 1 << 12;
  rankpool::future<std::int64_t> f;
  {
    ROOT_POOL(pool);
    f = pool.submit(split_sum, std::int64_t{0}, n, 6);
    pool.shutdown(true);
  }
  if (f.valid()) {
    EXPECT_EQ(f.result(0s), n * (n - 1) / 2);
  }
}

// A thread_executor's tasks: the same recursion on 2 threads.
TEST(nested_threads, divide_and_conquer_deeper_than_the_threads) {
  rankpool::thread_executor pool(2);
  const std::int64_t n = 1 << 14;
  EXPECT_EQ(pool.submit(split_sum, std::int64_t{0}, n, 10).result(patience), n * (n - 1) / 2);
  const auto [value, tasks] = pool.submit(fib, 15).result(patience);
  EXPECT_EQ(value, serial_fib(15));
  EXPECT_EQ(tasks, 2 * serial_fib(16) - 1);
}

TEST(nested_threads, an_exception_and_a_cancel) {
  rankpool::thread_executor pool(2);
  EXPECT_EQ(pool.submit(catches_a_failure, 2).result(patience), "deep failure 2");
  EXPECT_THROW(pool.submit(waits_on_a_failure, 1).result(patience), std::out_of_range);
  EXPECT_EQ(pool.submit(cancels_a_queued_task, 4).result(patience), 1);
  EXPECT_THROW(rankpool::this_pool(), rankpool::invalid_state_error);
}

}  // namespace
