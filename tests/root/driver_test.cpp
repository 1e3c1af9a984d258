// A thread that waits on a result of an MPI pool runs the pool's loop itself meanwhile
// (include/rankpool/detail/drive.hpp): the done callbacks of what it waits for then run on it,
// and whatever a callback does there (shutdown, cancel, share, another wait) must neither
// deadlock nor re-enter the loop. Several waiting threads, waits with a deadline and waits on
// another executor's futures must behave as they do without driving. Time limits are generous
// bounds on behaviour, not speed measurements.

#include <gtest/gtest.h>
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <rankpool/rankpool.hpp>
#include <string_view>
#include <thread>
#include <vector>

#include "support/world.hpp"

namespace {

using namespace std::chrono_literals;
using rankpool_test::world_size;

int sleepy(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

int twice(int x) {
  return 2 * x;
}

bool driving_off() {
  const char* v = std::getenv("RANKPOOL_DRIVE");
  return v && std::string_view(v) == "0";
}

// Where a done callback ran. Shared with the callback, which may run on the progress thread
// after the wait has returned (callbacks run once waiters are woken, as in concurrent.futures).
struct callback_thread {
  std::atomic<bool> ran{false};
  std::atomic<std::thread::id> on{};
  // A callback that notes its thread.
  static auto noter(const std::shared_ptr<callback_thread>& c) {
    return [c](const rankpool::future<int>&) {
      c->on = std::this_thread::get_id();
      c->ran = true;
    };
  }
  // Waits (at most 10 s) for the callback; whether it ran on this thread.
  bool ran_here() const {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (!ran.load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(100us);
    return ran.load() && on.load() == std::this_thread::get_id();
  }
};

TEST(driver, the_waiting_thread_runs_the_callbacks_of_what_it_waits_for) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  if (driving_off()) GTEST_SKIP() << "RANKPOOL_DRIVE=0: waiting threads do not run the loop";
  rankpool::comm_executor pool(MPI_COMM_WORLD);
  if (!pool.is_root()) return;
  // The result arrives 30 ms after the wait began, while the waiting thread holds the loop; a
  // busy machine may keep it from taking the loop in a single try, hence several.
  int on_waiter = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto seen = std::make_shared<callback_thread>();
    auto f = pool.submit(sleepy, 30);
    f.add_done_callback(callback_thread::noter(seen));
    EXPECT_EQ(f.result(), 30);
    if (seen->ran_here()) ++on_waiter;
  }
  EXPECT_GE(on_waiter, 1) << "no wait ran the pool's loop: every callback ran on the progress thread";
}

TEST(driver, shutdown_from_a_callback_on_the_waiting_thread_returns) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  rankpool::comm_executor pool(MPI_COMM_WORLD);
  if (!pool.is_root()) return;
  auto f = pool.submit(sleepy, 20);
  auto later = pool.submit(sleepy, 40);
  std::atomic<bool> returned{false};
  f.add_done_callback([&](const rankpool::future<int>&) {
    pool.shutdown(true);  // on the thread running the loop: cannot wait for it, returns
    returned = true;
  });
  EXPECT_EQ(f.result(), 20);
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(later.result(), 40) << "work submitted before the shutdown still finishes";
  EXPECT_THROW(pool.submit(twice, 1), rankpool::invalid_state_error);
}

TEST(driver, cancel_and_wait_from_a_callback_on_the_waiting_thread_do_not_deadlock) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.max_workers = 1, .in_flight = 8});
  if (!pool.is_root()) return;
  auto first = pool.submit(sleepy, 30);
  auto behind = pool.submit(sleepy, 30);  // sent ahead to the same worker's window
  auto done_already = pool.submit(twice, 4);
  EXPECT_EQ(done_already.result(), 8);
  std::atomic<int> stage{0};
  first.add_done_callback([&](const rankpool::future<int>&) {
    // A cancel on the loop's own thread cannot wait for the worker's answer: it says false at
    // once, or true for a task not sent yet. Either way it returns.
    (void)behind.cancel();
    stage = 1;
    EXPECT_EQ(done_already.result(), 8);  // a finished future's result needs no loop
    stage = 2;
  });
  EXPECT_EQ(first.result(), 30);
  EXPECT_EQ(stage.load(), 2);
  behind.wait();
  EXPECT_TRUE(behind.done());
}

TEST(driver, a_cancel_waiting_for_the_workers_answer_runs_the_loop) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  if (driving_off()) GTEST_SKIP() << "RANKPOOL_DRIVE=0: waiting threads do not run the loop";
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.max_workers = 1, .in_flight = 8});
  if (!pool.is_root()) return;
  // A task sent ahead behind a running one: cancel() asks the worker and waits for its answer,
  // which the cancelling thread reads itself when it can take the loop, so the cancelled
  // future's callbacks run on it. A busy machine may keep it from the loop once, hence tries.
  int on_canceller = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto running = pool.submit(sleepy, 50);
    auto behind = pool.submit(sleepy, 50);
    std::this_thread::sleep_for(10ms);  // both reach the worker's window; the first starts
    auto seen = std::make_shared<callback_thread>();
    behind.add_done_callback(callback_thread::noter(seen));
    EXPECT_TRUE(behind.cancel()) << "an unstarted task in the worker's window is cancellable";
    EXPECT_TRUE(behind.cancelled());
    if (seen->ran_here()) ++on_canceller;
    EXPECT_EQ(running.result(), 50);
  }
  EXPECT_GE(on_canceller, 1) << "no cancel ran the pool's loop: every answer was read by the progress thread";
}

TEST(driver, several_threads_wait_at_once) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  rankpool::comm_executor pool(MPI_COMM_WORLD);
  if (!pool.is_root()) return;
  constexpr int threads = 4, each = 2000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        const int x = t * each + i;
        if (i % 3 == 0) {
          // one at a time: this thread drives while the others do too
          if (pool.submit(twice, x).result() != 2 * x) ++wrong;
        } else {
          std::vector<rankpool::future<int>> fs;
          for (int k = 0; k < 4; ++k) fs.push_back(pool.submit(twice, x + k));
          rankpool::wait(fs);
          for (int k = 0; k < 4; ++k)
            if (fs[k].result() != 2 * (x + k)) ++wrong;
        }
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(driver, a_wait_with_a_deadline_ends_on_time_while_driving) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  rankpool::comm_executor pool(MPI_COMM_WORLD);
  if (!pool.is_root()) return;
  auto slow = pool.submit(sleepy, 1000);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(slow.result(50ms), rankpool::timeout_error);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 50ms);
  EXPECT_LT(waited, 800ms) << "the wait ran past its deadline";
  // The progress thread takes over when the waiter leaves: a callback-only user still gets it.
  std::atomic<bool> called{false};
  slow.add_done_callback([&](const rankpool::future<int>&) { called = true; });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!called && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(called.load()) << "nobody ran the loop after the waiting thread left";
}

TEST(driver, a_wait_on_another_executors_future_does_not_hang_on_the_pool) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  rankpool::comm_executor pool(MPI_COMM_WORLD);
  if (!pool.is_root()) return;
  EXPECT_EQ(pool.submit(twice, 1).result(), 2);  // this thread's waits now drive the pool
  rankpool::thread_executor threads(1);
  auto other = threads.submit(sleepy, 100);
  auto mine = pool.submit(sleepy, 300);
  EXPECT_EQ(other.result(), 100);  // completed by the thread executor, seen while driving
  EXPECT_FALSE(mine.done());
  EXPECT_EQ(mine.result(), 300);
  auto [done, not_done] = rankpool::wait(std::vector{threads.submit(sleepy, 10)}, 5s);
  EXPECT_EQ(done.size(), 1u);
}

TEST(driver, as_completed_drives_and_yields_every_result) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks or more (one worker rank)";
  rankpool::comm_executor pool(MPI_COMM_WORLD);
  if (!pool.is_root()) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 500; ++i) fs.push_back(pool.submit(twice, i));
  long sum = 0;
  int n = 0;
  for (auto f : rankpool::as_completed(fs, std::chrono::duration<double>(30.0), false)) {
    sum += f.result();
    ++n;
  }
  EXPECT_EQ(n, 500);
  EXPECT_EQ(sum, 2L * (499 * 500 / 2));
}

}  // namespace
