// rankpool::thread_executor: the shared executor suite, plus what only local threads allow
// (capturing lambdas, shared memory, gates that make scheduling deterministic).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <rankpool/errors.hpp>
#include <rankpool/thread_executor.hpp>
#include <rankpool/wait.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "executor_suite.hpp"
#include "support/gate.hpp"

namespace {

using rankpool_test::gate;
using rankpool_test::open_at_exit;

struct thread_harness {
  using executor_type = rankpool::thread_executor;
  static constexpr bool remote = false;
  static std::unique_ptr<executor_type> make(std::size_t workers) { return std::make_unique<executor_type>(workers); }
  static std::size_t expected_workers(std::size_t requested) { return requested; }
  static std::size_t saturation(const executor_type& ex) { return ex.num_workers(); }
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(threads, executor_suite, ::testing::Types<thread_harness>);

namespace {

using executor_suite_support::counter;
using executor_suite_support::kPatience;

thread_local bool tl_initialized = false;

struct payload_error : std::runtime_error {
  explicit payload_error(int c) : std::runtime_error("payload"), code(c) {}
  int code;
};

TEST(thread_executor, CapturingLambdasWork) {
  const std::vector<int> table{10, 20, 30};
  const std::string prefix = "item-";
  std::atomic<int> calls{0};
  rankpool::thread_executor ex(2);  // after what its tasks capture: destroyed (and joined) first
  auto f = ex.submit(
      [&table, prefix, &calls](std::size_t i) {
        ++calls;
        return prefix + std::to_string(table.at(i));
      },
      std::size_t{1});
  EXPECT_EQ(f.result(), "item-20");
  auto r = ex.map(
      [&table, &calls](std::size_t i) {
        ++calls;
        return table.at(i) + 1;
      },
      std::vector<std::size_t>{2, 0, 1}, {.chunksize = 2});
  EXPECT_EQ(r.to_vector(), (std::vector<int>{31, 11, 21}));
  EXPECT_EQ(calls.load(), 4);
  // Out-of-range access inside the captured table surfaces at its position.
  auto bad = ex.map([&table](std::size_t i) { return table.at(i); }, std::vector<std::size_t>{0, 7});
  std::vector<int> got;
  EXPECT_THROW(
      {
        for (int v : bad) got.push_back(v);
      },
      std::out_of_range);
  EXPECT_EQ(got, (std::vector<int>{10}));
}

TEST(thread_executor, HigherPriorityStartsFirstAmongQueuedTasks) {
  rankpool::thread_executor ex(1);
  rankpool_test::gate g;
  rankpool_test::open_at_exit guard(g);
  std::mutex m;
  std::vector<int> order;
  auto record = [&](int tag) {
    std::lock_guard lk(m);
    order.push_back(tag);
    return tag;
  };
  auto blocker = ex.submit([&] { g.wait(); });
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 3; ++i) fs.push_back(ex.submit_with({.priority = -1}, record, 100 + i));  // low
  for (int i = 0; i < 3; ++i) fs.push_back(ex.submit(record, 200 + i));                         // default 0
  for (int i = 0; i < 3; ++i) fs.push_back(ex.submit_with({.priority = 7}, record, 300 + i));   // high
  auto mapped = ex.map(record, std::vector<int>{400, 401}, {.priority = 3});
  g.open();
  blocker.result();
  for (auto& f : fs) f.result();
  EXPECT_EQ(mapped.to_vector(), (std::vector<int>{400, 401}));
  // Priority 7, then 3 (the map), then 0, then -1; submission order within each.
  EXPECT_EQ(order, (std::vector<int>{300, 301, 302, 400, 401, 200, 201, 202, 100, 101, 102}));
}

TEST(thread_executor, MoveOnlyArgumentsAreAccepted) {
  rankpool::thread_executor ex(1);
  auto f = ex.submit([](std::unique_ptr<int> p) { return *p * 2; }, std::make_unique<int>(21));
  EXPECT_EQ(f.result(), 42);
}

TEST(thread_executor, LocalExceptionsKeepTheirIdentity) {
  rankpool::thread_executor ex(1);
  auto f = ex.submit([]() -> int { throw payload_error(17); });
  try {
    f.result();
    ADD_FAILURE() << "no exception";
  } catch (const payload_error& e) {
    EXPECT_EQ(e.code, 17);
    EXPECT_EQ(rankpool::remote_context_of(e), nullptr);
  }
}

TEST(thread_executor, WorkersRunTasksInParallel) {
  gate release;
  counter started;
  rankpool::thread_executor ex(2);
  open_at_exit guard(release);
  auto blocker = [&](int v) {
    started.hit();
    release.wait();
    return v;
  };
  auto a = ex.submit(blocker, 1);
  auto b = ex.submit(blocker, 2);
  ASSERT_TRUE(started.wait_for(2)) << "two workers must run two tasks at once";
  EXPECT_TRUE(a.running());
  EXPECT_TRUE(b.running());
  EXPECT_FALSE(a.done());
  release.open();
  EXPECT_EQ(a.result(), 1);
  EXPECT_EQ(b.result(), 2);
  EXPECT_FALSE(a.running());
}

TEST(thread_executor, ShutdownCancelsExactlyTheQueuedTasks) {
  gate release;
  counter started;
  std::atomic<int> queued_runs{0};
  rankpool::thread_executor ex(2);
  open_at_exit guard(release);
  auto blocker = [&](int v) {
    started.hit();
    release.wait();
    return v;
  };
  auto b0 = ex.submit(blocker, 0);
  auto b1 = ex.submit(blocker, 1);
  ASSERT_TRUE(started.wait_for(2));
  std::vector<rankpool::future<int>> queued;
  for (int i = 0; i < 5; ++i)
    queued.push_back(ex.submit(
        [&queued_runs](int v) {
          ++queued_runs;
          return v;
        },
        i));
  ex.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  for (const auto& q : queued) {
    ASSERT_TRUE(q.cancelled()) << "shutdown(cancel_futures = true) must cancel queued tasks before it returns";
    EXPECT_THROW(q.result(), rankpool::cancelled_error);
  }
  EXPECT_TRUE(b0.running());
  EXPECT_TRUE(b1.running());
  release.open();
  EXPECT_EQ(b0.result(), 0);
  EXPECT_EQ(b1.result(), 1);
  ex.shutdown(true);
  EXPECT_EQ(queued_runs.load(), 0);
  EXPECT_THROW(ex.submit(blocker, 2), rankpool::invalid_state_error);
}

TEST(thread_executor, CancelledTaskNeverRuns) {
  gate release;
  counter started;
  std::atomic<int> runs{0};
  rankpool::thread_executor ex(1);
  open_at_exit guard(release);
  auto blocker = ex.submit([&] {
    started.hit();
    release.wait();
  });
  ASSERT_TRUE(started.wait_for(1));
  auto victim = ex.submit([&runs] { ++runs; });
  auto survivor = ex.submit([&runs] { ++runs; });
  EXPECT_FALSE(blocker.cancel()) << "a running task cannot be cancelled";
  EXPECT_TRUE(victim.cancel());
  EXPECT_TRUE(victim.cancelled());
  release.open();
  EXPECT_NO_THROW(survivor.result());
  EXPECT_NO_THROW(blocker.result());
  ex.shutdown();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_THROW(victim.result(), rankpool::cancelled_error);
}

TEST(thread_executor, AMapRangeDestroyedBeforeIterationCancelsNothing) {
  gate release;
  counter started;
  std::atomic<int> mapped{0};
  rankpool::thread_executor ex(1);
  open_at_exit guard(release);
  auto blocker = ex.submit([&] {
    started.hit();
    release.wait();
  });
  ASSERT_TRUE(started.wait_for(1));
  {
    auto r = ex.map(
        [&mapped](int x) {
          ++mapped;
          return x;
        },
        std::vector<int>{1, 2, 3, 4, 5, 6, 7}, {.chunksize = 3});
  }  // destroyed never iterated: Python's map generator cancels only once it has started
  release.open();
  blocker.result();
  ex.shutdown();
  EXPECT_EQ(mapped.load(), 7);
}

TEST(thread_executor, CallbackRunsOnTheCompletingThread) {
  gate release;
  counter called;
  std::thread::id callback_thread;
  rankpool::thread_executor ex(1);
  open_at_exit guard(release);
  auto f = ex.submit([&release] {
    release.wait();
    return std::this_thread::get_id();
  });
  f.add_done_callback([&](const rankpool::future<std::thread::id>&) {
    callback_thread = std::this_thread::get_id();
    called.hit();
  });
  release.open();
  const std::thread::id worker = f.result();
  ASSERT_TRUE(called.wait_for(1));
  EXPECT_EQ(callback_thread, worker);
  EXPECT_NE(callback_thread, std::this_thread::get_id());
  ex.shutdown();
  EXPECT_EQ(called.value(), 1);
}

TEST(thread_executor, InitializerRunsOnEveryWorkerBeforeItsTasks) {
  std::atomic<int> inits{0};
  rankpool::thread_executor ex(3, [&inits] {
    tl_initialized = true;
    ++inits;
  });
  EXPECT_EQ(ex.num_workers(), 3u);
  std::vector<rankpool::future<bool>> fs;
  for (int i = 0; i < 30; ++i) fs.push_back(ex.submit([] { return tl_initialized; }));
  for (auto& f : fs) EXPECT_TRUE(f.result());
  ex.shutdown();
  EXPECT_EQ(inits.load(), 3);
  EXPECT_FALSE(tl_initialized) << "the initializer must not run on the submitting thread";
}

TEST(thread_executor, FailingInitializerBreaksTheExecutor) {
  gate release;
  std::atomic<int> runs{0};
  rankpool::thread_executor ex(2, [&release] {
    release.wait();
    throw std::runtime_error("initializer failed");
  });
  open_at_exit guard(release);
  auto task = [&runs](int v) {
    ++runs;
    return v;
  };
  std::vector<rankpool::future<int>> pending;
  for (int i = 0; i < 4; ++i) pending.push_back(ex.submit(task, i));
  auto pending_map = ex.map(task, std::vector<int>{1, 2, 3}, {.chunksize = 2, .timeout = kPatience});
  release.open();  // the initializers throw now, with tasks queued
  EXPECT_TRUE(rankpool::wait(pending, kPatience).not_done.empty()) << "a broken executor left queued tasks pending";
  for (auto& f : pending) {
    EXPECT_THROW(f.result(std::chrono::seconds(0)), rankpool::broken_executor);
    EXPECT_TRUE(f.done());
    EXPECT_FALSE(f.cancelled());
  }
  EXPECT_THROW(executor_suite_support::drain(pending_map), rankpool::broken_executor);
  // Later submissions fail the same way (submit itself does not throw).
  auto later = ex.submit(task, 9);
  EXPECT_THROW(later.result(), rankpool::broken_executor);
  auto later_void = ex.submit([] {});
  EXPECT_THROW(later_void.result(), rankpool::broken_executor);
  auto later_map = ex.map(task, std::vector<int>{4, 5}, {.timeout = kPatience});
  EXPECT_THROW(executor_suite_support::drain(later_map), rankpool::broken_executor);
  try {
    std::rethrow_exception(later.exception());
  } catch (const rankpool::broken_executor& e) {
    EXPECT_NE(std::string(e.what()).find("initializer failed"), std::string::npos) << e.what();
    // The initializer's own exception is kept, nested in the broken_executor.
    try {
      std::rethrow_if_nested(e);
      ADD_FAILURE() << "no nested cause in " << e.what();
    } catch (const std::runtime_error& cause) {
      EXPECT_STREQ(cause.what(), "initializer failed");
    }
  }
  EXPECT_EQ(ex.num_workers(), 0u) << "a broken executor has no workers";
  EXPECT_NO_THROW(ex.shutdown());
  EXPECT_EQ(runs.load(), 0);
  EXPECT_THROW(ex.submit(task, 1), rankpool::invalid_state_error);
}

TEST(thread_executor, ConcurrentUsersSubmitWaitAndCancel) {
  constexpr int kUsers = 5;
  constexpr int kPerUser = 120;
  struct record {
    rankpool::future<int> f;
    bool cancel_returned = false;
    int expected = 0;
  };
  std::atomic<int> executions{0};
  std::vector<std::vector<record>> records(kUsers);
  std::vector<int> map_results;
  rankpool::thread_executor ex(3);
  {
    std::vector<std::jthread> users;
    for (int u = 0; u < kUsers; ++u) {
      users.emplace_back([&, u] {
        auto& mine = records[static_cast<std::size_t>(u)];
        for (int i = 0; i < kPerUser; ++i) {
          record r;
          r.expected = u * 1000 + i;
          r.f = ex.submit(
              [&executions](int a, int b) {
                ++executions;
                volatile int spin = 0;
                for (int k = 0; k < 2000; ++k) spin = spin + k;
                return a * 1000 + b;
              },
              u, i);
          if (i % 3 == u % 3) r.cancel_returned = r.f.cancel();
          mine.push_back(std::move(r));
        }
        std::vector<rankpool::future<int>> fs;
        for (auto& r : mine) fs.push_back(r.f);
        switch (u % 4) {
          case 0:
            rankpool::wait(fs);
            break;
          case 1:
            for (const auto& f : rankpool::as_completed(fs)) (void)f;
            break;
          case 2:
            for (auto& f : fs) f.wait();
            break;
          default:
            rankpool::wait(fs, std::nullopt, rankpool::return_when::first_completed);
            rankpool::wait(fs, std::nullopt, rankpool::return_when::first_exception);
            break;
        }
      });
    }
    users.emplace_back([&] {
      std::vector<int> input(200);
      for (int i = 0; i < 200; ++i) input[static_cast<std::size_t>(i)] = i;
      map_results = ex.map([](int x) { return x + 1; }, input, {.chunksize = 7, .unordered = true}).to_vector();
    });
  }  // joins the users
  ex.shutdown();
  int finished = 0;
  for (auto& mine : records) {
    ASSERT_EQ(mine.size(), static_cast<std::size_t>(kPerUser));
    for (auto& r : mine) {
      ASSERT_TRUE(r.f.done());
      EXPECT_EQ(r.cancel_returned, r.f.cancelled());
      if (r.f.cancelled()) {
        EXPECT_THROW(r.f.result(), rankpool::cancelled_error);
      } else {
        EXPECT_EQ(r.f.result(), r.expected);
        ++finished;
      }
    }
  }
  EXPECT_EQ(executions.load(), finished) << "every task that was not cancelled ran exactly once";
  std::sort(map_results.begin(), map_results.end());
  ASSERT_EQ(map_results.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(map_results[static_cast<std::size_t>(i)], i + 1);
}

TEST(thread_executor, SubmitRacingWithShutdown) {
  constexpr int kUsers = 4;
  std::atomic<int> executions{0};
  counter submitted;
  std::vector<std::vector<rankpool::future<int>>> per_user(kUsers);
  std::vector<int> stopped_by_shutdown(kUsers, 0);
  rankpool::thread_executor ex(2);
  {
    std::vector<std::jthread> users;
    for (int u = 0; u < kUsers; ++u) {
      users.emplace_back([&, u] {
        auto& mine = per_user[static_cast<std::size_t>(u)];
        try {
          for (int i = 0;; ++i) {  // until shutdown refuses
            mine.push_back(ex.submit(
                [&executions](int v) {
                  ++executions;
                  return v;
                },
                i));
            submitted.hit();
          }
        } catch (const rankpool::invalid_state_error&) {
          stopped_by_shutdown[static_cast<std::size_t>(u)] = 1;
        }
      });
    }
    EXPECT_TRUE(submitted.wait_for(200));
    ex.shutdown(/*wait=*/true, /*cancel_futures=*/true);
  }
  int finished = 0;
  std::size_t total = 0;
  for (auto& mine : per_user) {
    total += mine.size();
    for (std::size_t i = 0; i < mine.size(); ++i) {
      ASSERT_TRUE(mine[i].done()) << "a future accepted before shutdown(wait = true) was left unfinished";
      if (!mine[i].cancelled()) {
        EXPECT_EQ(mine[i].result(), static_cast<int>(i));
        ++finished;
      }
    }
  }
  EXPECT_GE(total, 200u);
  EXPECT_EQ(executions.load(), finished);
  for (int u = 0; u < kUsers; ++u) EXPECT_EQ(stopped_by_shutdown[static_cast<std::size_t>(u)], 1) << "user " << u;
}

TEST(thread_executor, DestructorWaitsForRunningAndQueuedTasks) {
  std::atomic<int> completed{0};
  std::vector<rankpool::future<int>> fs;
  {
    rankpool::thread_executor ex(1);
    for (int i = 0; i < 4; ++i)
      fs.push_back(ex.submit(
          [&completed](int v) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            ++completed;
            return v;
          },
          i));
  }
  EXPECT_EQ(completed.load(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(fs[static_cast<std::size_t>(i)].done());
    EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(), i);
  }
}

TEST(thread_executor, DestructorAfterShutdownWithoutWaitJoinsRunningTasks) {
  std::atomic<bool> finished{false};
  rankpool::future<void> f;
  {
    rankpool::thread_executor ex(1);
    f = ex.submit([&finished] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      finished = true;
    });
    ex.shutdown(/*wait=*/false);
  }
  EXPECT_TRUE(finished.load());
  EXPECT_TRUE(f.done());
}

TEST(thread_executor, AMapRangeDestroyedDuringIterationCancelsTheTasksNotStarted) {
  std::atomic<int> ran{0};
  gate g;
  rankpool::thread_executor ex(1);
  open_at_exit opener(g);
  {
    auto range = ex.map(
        [&](int i) {
          if (i == 1) g.wait();  // holds the only worker, so tasks 2..9 cannot have started
          ++ran;
          return i;
        },
        std::views::iota(0, 10), {.chunksize = 1});
    auto it = range.begin();
    EXPECT_EQ(*it, 0);
  }
  g.open();
  ex.shutdown();
  EXPECT_GE(ran.load(), 1);
  EXPECT_LE(ran.load(), 2) << "tasks that had not started ran after the range was destroyed";
}

TEST(thread_executor, WorkerCounts) {
  rankpool::thread_executor by_default;
  EXPECT_EQ(by_default.num_workers(), std::max(1u, std::thread::hardware_concurrency()));
  // As ThreadPoolExecutor(max_workers=0), which raises ValueError.
  EXPECT_THROW(rankpool::thread_executor(0), std::invalid_argument);
  rankpool::thread_executor five(5);
  EXPECT_EQ(five.num_workers(), 5u);
}

TEST(thread_executor, TasksAndCallbacksMaySubmitMoreTasks) {
  std::mutex m;
  std::optional<rankpool::future<int>> chained;
  counter chained_ready;
  rankpool::thread_executor ex(2);
  // The inner task runs on the second worker while the outer one waits for it.
  auto outer = ex.submit([&ex](int x) { return ex.submit([](int y) { return y * y; }, x).result() + 1; }, 4);
  EXPECT_EQ(outer.result(), 17);

  auto first = ex.submit([] { return 3; });
  first.add_done_callback([&](const rankpool::future<int>& g) {
    auto next = ex.submit([](int v) { return v + 1; }, g.result());
    {
      std::lock_guard lk(m);
      chained = next;
    }
    chained_ready.hit();
  });
  ASSERT_TRUE(chained_ready.wait_for(1));
  std::lock_guard lk(m);
  ASSERT_TRUE(chained.has_value());
  EXPECT_EQ(chained->result(), 4);
}

}  // namespace

namespace {
// No serialize(), not trivially copyable: fine for local threads, where nothing is encoded.
struct holds_string {
  std::string text;
  std::unique_ptr<int> extra;
};
}  // namespace

TEST(thread_executor, results_need_not_be_serializable) {
  rankpool::thread_executor ex(2);
  auto f = ex.submit([] { return std::make_shared<holds_string>(holds_string{"x", std::make_unique<int>(3)}); });
  EXPECT_EQ(f.result()->text, "x");
  EXPECT_EQ(*f.result()->extra, 3);
  std::vector<std::string> got;
  for (const auto& h : ex.map(
           [](int i) {
             return std::make_shared<holds_string>(holds_string{std::to_string(i), {}});
           },
           std::vector<int>{1, 2, 3}, {.chunksize = 2}))
    got.push_back(h->text);
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(thread_executor, terminate_workers_fails_every_unfinished_future_and_asks_running_ones_to_stop) {
  rankpool::thread_executor pool(1);
  std::atomic<bool> started{false}, saw_stop{false};
  auto running = pool.submit([&] {
    started = true;
    while (!rankpool::stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    saw_stop = true;
    return 1;
  });
  auto queued = pool.submit([] { return 2; });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  pool.terminate_workers();  // returns at once: local threads cannot be taken away
  EXPECT_THROW(running.result(), rankpool::broken_executor);
  EXPECT_THROW(queued.result(), rankpool::broken_executor);
  EXPECT_EQ(pool.num_workers(), 0u);
  EXPECT_THROW(pool.submit([] { return 3; }), rankpool::invalid_state_error);
  pool.kill_workers();  // idempotent
  pool.shutdown();      // joins the thread, which noticed the stop
  EXPECT_TRUE(saw_stop.load());
}
