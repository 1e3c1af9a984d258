// The scheduler's fairness, as concurrent.futures users rely on it (issue: results as they
// finish, work to idle workers, cancel until a task starts): a finished result is not held
// back behind a long task on the same worker, an idle worker takes tasks that wait unstarted
// elsewhere, and cancel() succeeds for a task sent ahead to a worker until it starts there.
// Time limits are generous bounds on behaviour (half a second against a one-second task), not
// speed measurements.

#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <rankpool/rankpool.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/world.hpp"

namespace {

using namespace std::chrono_literals;
using rankpool_test::world_size;

int quick(int x) {
  return x + 1;
}

int sleepy(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

// Creates `path`, then sleeps `ms`: the root sees when the task has started.
int mark_then_sleep(std::string path, int ms) {
  std::ofstream(path) << "started";
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

std::string scratch_path(const char* what) {
  return "/tmp/rankpool_fairness_" + std::to_string(::getpid()) + "_" + what;
}

// Many tiny tasks first, so the windows have grown far past a few tasks.
template <class Pool>
void warm_up(Pool& pool) {
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 3000; ++i) fs.push_back(pool.submit(quick, i));
  for (auto& f : fs) f.result();
}

TEST(fairness, a_finished_result_is_not_held_behind_a_long_task) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.max_workers = 1});
  if (!pool.is_root()) return;
  warm_up(pool);
  auto first = pool.submit(quick, 1);
  auto slow = pool.submit(sleepy, 1000);
  const auto t0 = std::chrono::steady_clock::now();
  auto [done, not_done] = rankpool::wait(std::vector{first, slow}, 0.5s, rankpool::return_when::first_completed);
  ASSERT_EQ(done.size(), 1u) << "the quick result stayed on the worker while the long task ran";
  EXPECT_EQ(first.result(), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 0.5s);
  EXPECT_EQ(slow.result(), 1000);
}

TEST(fairness, an_idle_worker_takes_a_task_queued_beside_a_long_one) {
  if (world_size() < 3) GTEST_SKIP() << "needs 3 ranks or more (two worker ranks)";
  rankpool::comm_executor pool(MPI_COMM_WORLD);
  if (!pool.is_root()) return;
  auto slow = pool.submit(sleepy, 1000);
  auto fast = pool.submit(sleepy, 0);
  auto [done, not_done] = rankpool::wait(std::vector{fast}, 0.5s);
  EXPECT_EQ(done.size(), 1u) << "the quick task waited behind the long one while a worker idled";
  EXPECT_EQ(slow.result(), 1000);
}

TEST(fairness, unstarted_tasks_move_from_a_busy_window_to_idle_workers) {
  if (world_size() < 3) GTEST_SKIP() << "needs 3 ranks or more (two worker ranks)";
  rankpool::comm_executor pool(MPI_COMM_WORLD);
  if (!pool.is_root()) return;
  warm_up(pool);  // windows of hundreds of tasks: the long task's worker gets many short ones
  auto slow = pool.submit(sleepy, 1500);
  std::vector<rankpool::future<int>> shorts;
  for (int i = 0; i < 40; ++i) shorts.push_back(pool.submit(sleepy, 2));
  const auto t0 = std::chrono::steady_clock::now();
  auto [done, not_done] = rankpool::wait(shorts, 1.0s);
  EXPECT_TRUE(not_done.empty()) << not_done.size() << " short tasks still waited behind the long one after 1 s";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1.0s);
  EXPECT_FALSE(slow.done()) << "the long task should still run (the check above proves nothing otherwise)";
  EXPECT_EQ(slow.result(), 1500);
}

TEST(fairness, cancel_works_until_the_task_starts_on_its_worker) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  const std::string started = scratch_path("started"), ran = scratch_path("ran");
  std::remove(started.c_str());
  std::remove(ran.c_str());
  {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.max_workers = 1});
    if (!pool.is_root()) return;
    auto busy = pool.submit(mark_then_sleep, started, 500);
    auto behind = pool.submit(mark_then_sleep, ran, 0);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!exists(started) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(exists(started)) << "the first task never started";
    std::this_thread::sleep_for(20ms);  // the second task has long been sent to the worker's window
    EXPECT_TRUE(behind.running()) << "the second task should wait on the worker, sent ahead";
    EXPECT_TRUE(behind.cancel()) << "a task waiting unstarted on its worker must be cancellable";
    EXPECT_TRUE(behind.cancelled());
    EXPECT_THROW(behind.result(), rankpool::cancelled_error);
    EXPECT_FALSE(busy.cancel()) << "a running task is not cancellable";
    EXPECT_EQ(busy.result(), 500);
    // After the cancel the worker goes on serving.
    EXPECT_EQ(pool.submit(quick, 41).result(), 42);
  }
  EXPECT_FALSE(exists(ran)) << "the cancelled task ran anyway";
  std::remove(started.c_str());
  std::remove(ran.c_str());
}

TEST(fairness, shutdown_with_cancel_futures_cancels_tasks_waiting_in_windows) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  const std::string started = scratch_path("shutdown_started"), ran = scratch_path("shutdown_ran");
  std::remove(started.c_str());
  std::remove(ran.c_str());
  std::vector<rankpool::future<int>> behind;
  rankpool::future<int> busy;
  {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.max_workers = 1, .in_flight = 64});
    if (!pool.is_root()) return;
    busy = pool.submit(mark_then_sleep, started, 400);
    for (int i = 0; i < 20; ++i) behind.push_back(pool.submit(mark_then_sleep, ran, 0));
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!exists(started) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(exists(started)) << "the first task never started";
    std::this_thread::sleep_for(20ms);  // the others wait in the worker's window by now
    for (auto& f : behind) EXPECT_TRUE(f.running()) << "each task should wait on the worker, sent ahead";
    pool.shutdown(true, true);
  }
  EXPECT_EQ(busy.result(), 400) << "the running task finishes";
  for (auto& f : behind) EXPECT_TRUE(f.cancelled()) << "a task waiting unstarted in a window must be cancelled";
  EXPECT_FALSE(exists(ran)) << "a task cancelled by shutdown(cancel_futures) ran anyway";
  std::remove(started.c_str());
  std::remove(ran.c_str());
}

// When the task started, on the machine-wide monotonic clock (every rank of these tests runs on
// one machine).
std::int64_t started_at(int) {
  return std::chrono::steady_clock::now().time_since_epoch().count();
}

TEST(fairness, higher_priority_starts_first_among_waiting_tasks) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  // One worker, no task sent ahead: every task but the running one waits at the root.
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.max_workers = 1, .in_flight = 1});
  if (!pool.is_root()) return;
  auto blocker = pool.submit(sleepy, 300);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!blocker.running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  std::vector<rankpool::future<std::int64_t>> low, normal, high;
  for (int i = 0; i < 4; ++i) low.push_back(pool.submit_with({.priority = -2}, started_at, i));
  for (int i = 0; i < 4; ++i) normal.push_back(pool.submit(started_at, i));
  for (int i = 0; i < 4; ++i) high.push_back(pool.submit_with({.priority = 9}, started_at, i));
  auto mid = pool.map(started_at, std::vector<int>{0, 1, 2}, {.priority = 4}).to_vector();
  auto times = [](std::vector<rankpool::future<std::int64_t>>& fs) {
    std::vector<std::int64_t> t;
    for (auto& f : fs) t.push_back(f.result());
    return t;
  };
  const auto h = times(high), n = times(normal), l = times(low);
  EXPECT_EQ(blocker.result(), 300);
  EXPECT_LT(*std::max_element(h.begin(), h.end()), *std::min_element(mid.begin(), mid.end()));
  EXPECT_LT(*std::max_element(mid.begin(), mid.end()), *std::min_element(n.begin(), n.end()));
  EXPECT_LT(*std::max_element(n.begin(), n.end()), *std::min_element(l.begin(), l.end()));
  for (const auto* t : {&h, &n, &l})
    EXPECT_TRUE(std::is_sorted(t->begin(), t->end())) << "equal priorities keep submission order";
}

TEST(fairness, cancel_of_many_tasks_in_windows_skips_them_all) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more";
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.in_flight = 64});
  if (!pool.is_root()) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(pool.submit(sleepy, 50));
  std::this_thread::sleep_for(10ms);
  std::size_t cancelled = 0;
  for (auto& f : fs) cancelled += f.cancel() ? 1 : 0;
  std::size_t finished = 0;
  for (auto& f : fs) {
    f.wait();
    if (f.cancelled()) {
      EXPECT_THROW(f.result(), rankpool::cancelled_error);
    } else {
      EXPECT_EQ(f.result(), 50);
      ++finished;
    }
  }
  EXPECT_EQ(cancelled + finished, fs.size()) << "cancel() said true exactly for the tasks that did not run";
  EXPECT_GE(cancelled, 50u) << "most tasks were still waiting, in windows or on the root";
}

}  // namespace
