// The worker's watcher without MPI: it looks while a task runs and not while none does, its looks
// thin out while they find nothing and stay close while they find work, and a hurry() brings the
// next look forward however far the gap has grown. Bounds are
// wide (tens of milliseconds against the 1 ms gaps used here): they tell the behaviours apart,
// not the machine's speed.

#include "worker/watcher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace {

using namespace std::chrono_literals;
using rankpool::detail::watcher;
using clock_type = std::chrono::steady_clock;

// A watcher whose service counts its looks, notes the last one's time and answers `finds`.
struct watched {
  std::mutex comm;
  std::atomic<int> looks{0};
  std::atomic<clock_type::rep> last{0};
  std::atomic<bool> finds{false};
  watcher w;
  watched(std::chrono::microseconds every, std::chrono::microseconds most)
      : w(
            comm,
            [this] {
              last.store(clock_type::now().time_since_epoch().count());
              ++looks;
              return finds.load();
            },
            every, most) {}
  // The main thread runs a task of `d` (the lock is free meanwhile, as in the serve loop).
  void task(std::chrono::milliseconds d) {
    w.task_started();
    std::this_thread::sleep_for(d);
    std::lock_guard lk(comm);
    w.task_ended();
  }
  // Waits (at most 5 s) until `n` looks have been made.
  bool wait_looks(int n) {
    const auto until = clock_type::now() + 5s;
    while (looks.load() < n && clock_type::now() < until) std::this_thread::sleep_for(100us);
    return looks.load() >= n;
  }
};

TEST(watcher, LooksWhileATaskRunsAndNotWhileNoneDoes) {
  watched t(1000us, 1000us);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(t.looks.load(), 0) << "no task ran";
  t.task(30ms);
  const int during = t.looks.load();
  EXPECT_GT(during, 0);
  std::this_thread::sleep_for(20ms);
  EXPECT_LE(t.looks.load(), during + 1) << "looks went on after the task ended";
}

TEST(watcher, AStreamOfShortTasksNeverWakesIt) {
  // Tasks of 200 us against a 40 ms gap: the main thread moves the timer as tasks start, so the
  // watcher sleeps through them (one that waited for its deadline would wake every 40 ms, 5 times
  // or more in these 200+ ms). A task stalled past 20 ms on a loaded machine may earn one look.
  watched t(40'000us, 40'000us);
  for (int i = 0; i < 1000; ++i) {
    t.w.task_started();
    std::this_thread::sleep_for(200us);
    std::lock_guard lk(t.comm);
    t.w.task_ended();
  }
  EXPECT_LE(t.w.wakeups(), 2u);
  EXPECT_LE(t.looks.load(), 2);
  // The same watcher still looks at a long task.
  t.task(150ms);
  EXPECT_GT(t.looks.load(), 0);
}

TEST(watcher, LooksThinOutWhileTheyFindNothing) {
  // Gaps of 1, 2, 4, 8, 8, ... ms: about 15 looks in 100 ms, where a fixed 1 ms gap makes 100.
  watched idle(1000us, 8000us);
  idle.task(100ms);
  const int idle_looks = idle.looks.load();
  EXPECT_GT(idle_looks, 0);
  EXPECT_LE(idle_looks, 30);
  // Looks that find work keep the gap at 1 ms.
  watched busy(1000us, 8000us);
  busy.finds = true;
  busy.task(100ms);
  EXPECT_GT(busy.looks.load(), 2 * idle_looks) << "idle " << idle_looks << ", busy " << busy.looks.load();
}

// Runs a task long enough for the gap to grow to 60 ms (looks 1, 2, 4, 8, 16, 32 ms apart), then
// `act`; how long after `act` the next look came.
template <class F>
clock_type::duration next_look_after(watched& t, F act) {
  t.w.task_started();
  EXPECT_TRUE(t.wait_looks(6));
  const int before = t.looks.load();
  const auto from = clock_type::now();
  act();
  EXPECT_TRUE(t.wait_looks(before + 1));
  std::lock_guard lk(t.comm);
  t.w.task_ended();
  return clock_type::duration(t.last.load()) - from.time_since_epoch();
}

TEST(watcher, HurryBringsTheNextLookForward) {
  watched t(1000us, 60'000us);
  const auto waited = next_look_after(t, [&] { t.w.hurry(); });
  EXPECT_LT(waited, 30ms) << "the look waited for the grown gap";
}

TEST(watcher, AServiceErrorIsKeptForTheMainThread) {
  std::mutex comm;
  std::atomic<int> looks{0};
  watcher w(
      comm,
      [&]() -> bool {
        ++looks;
        throw std::runtime_error("lost");
      },
      1000us, 1000us);
  w.task_started();
  const auto until = clock_type::now() + 5s;
  while (!w.error() && clock_type::now() < until) std::this_thread::sleep_for(100us);
  {
    std::lock_guard lk(comm);
    w.task_ended();
  }
  ASSERT_TRUE(w.error());
  EXPECT_THROW(std::rethrow_exception(w.error()), std::runtime_error);
  EXPECT_EQ(looks.load(), 1) << "the service ran on after it failed";
}

}  // namespace
