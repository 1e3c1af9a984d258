// Futures that feed tasks: futures as arguments of submit and as elements of map, the bounded
// lazy map (map_options::buffersize) and retries (executor_options::retries / retry_if,
// submit_options::retries). First on a thread_executor, then on a comm_executor (its root's
// progress thread hands waiting tasks over; at one rank it runs local threads). Both parts run
// under mpirun (dataflow_test).

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <numeric>
#include <ranges>
#include <rankpool/comm_executor.hpp>
#include <rankpool/compose.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/future.hpp>
#include <rankpool/thread_executor.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/gate.hpp"
#include "support/world.hpp"

namespace {

using namespace std::chrono_literals;
using rankpool_test::gate;
using rankpool_test::open_at_exit;

constexpr auto kPatience = 30s;  // bound on every wait for something that must happen

int square(int x) {
  return x * x;
}
int add(int a, int b) {
  return a + b;
}
int refuse(int x) {
  if (x == 7) throw std::invalid_argument("seven refused");
  return x;
}
long leaf(long i) {
  return i;
}
long plus(long a, long b) {
  return a + b;
}

/// Sums 0..n-1 as a tree of tasks, each inner node a task whose two arguments are the futures
/// of its children: no thread waits until the final result().
template <class Pool>
long tree_sum(Pool& pool, long n) {
  std::vector<rankpool::future<long>> level;
  for (long i = 0; i < n; ++i) level.push_back(pool.submit(leaf, i));
  while (level.size() > 1) {
    std::vector<rankpool::future<long>> up;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) up.push_back(pool.submit(plus, level[i], level[i + 1]));
    if (level.size() % 2) up.push_back(level.back());
    level.swap(up);
  }
  return level.front().result(kPatience);
}

// Resident memory of this process, in bytes (Linux).
std::size_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Sanitizers keep freed memory (ASan's quarantine) or shadow every page touched (TSan), so
// resident memory says nothing about what the code holds there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool rss_is_meaningful = false;
#else
constexpr bool rss_is_meaningful = true;
#endif

// ---- thread_executor --------------------------------------------------------------------------

TEST(dependencies, a_task_starts_once_its_input_futures_are_done_and_gets_their_values) {
  rankpool::thread_executor pool(2);
  gate g1, g2;
  open_at_exit closer1(g1), closer2(g2);
  auto a = pool.submit([&] {
    g1.wait();
    return 3;
  });
  auto b = pool.submit([&] {
    g2.wait();
    return 4;
  });
  std::atomic<int> calls{0};
  auto sum = pool.submit(
      [&](int x, int y, int z) {
        ++calls;
        return x + y + z;
      },
      a, b, 10);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls.load(), 0) << "the task started before its inputs were done";
  g1.open();
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(sum.done());
  EXPECT_EQ(calls.load(), 0);
  g2.open();
  EXPECT_EQ(sum.result(kPatience), 17);
  EXPECT_EQ(calls.load(), 1);
}

TEST(dependencies, a_failed_input_fails_the_task_without_running_it_and_a_cancelled_one_cancels_it) {
  rankpool::thread_executor pool(2);
  std::atomic<int> calls{0};
  auto counted = [&](int v) { return ++calls + v; };
  auto failed = pool.submit(counted, pool.submit(refuse, 7));
  EXPECT_THROW(failed.result(kPatience), std::invalid_argument);
  EXPECT_EQ(calls.load(), 0);

  gate g;
  open_at_exit closer(g);
  auto blocker = pool.submit([&] { g.wait(); });
  auto blocker2 = pool.submit([&] { g.wait(); });
  auto queued = pool.submit(square, 2);  // waits behind the blockers, so it can be cancelled
  auto after = pool.submit(counted, queued);
  ASSERT_TRUE(queued.cancel());
  EXPECT_TRUE(after.cancelled());
  g.open();
  EXPECT_EQ(calls.load(), 0);
}

TEST(dependencies, a_waiting_task_can_be_cancelled_and_never_runs) {
  rankpool::thread_executor pool(2);
  gate g;
  open_at_exit closer(g);
  auto slow = pool.submit([&] {
    g.wait();
    return 1;
  });
  std::atomic<int> calls{0};
  auto waiting = pool.submit([&](int v) { return ++calls + v; }, slow);
  EXPECT_TRUE(waiting.cancel());
  g.open();
  EXPECT_EQ(slow.result(kPatience), 1);
  pool.shutdown();
  EXPECT_EQ(calls.load(), 0);
  EXPECT_TRUE(waiting.cancelled());
}

TEST(dependencies, a_tree_reduction_and_a_long_chain_need_no_waiting_thread) {
  rankpool::thread_executor pool(2);
  EXPECT_EQ(tree_sum(pool, 5000), 5000L * 4999 / 2);
  auto f = pool.submit(square, 1);
  for (int i = 0; i < 2000; ++i) f = pool.submit(add, f, 1);
  EXPECT_EQ(f.result(kPatience), 2001);
}

TEST(dependencies, shutdown_lets_waiting_tasks_start_or_cancels_them) {
  for (bool cancel_futures : {false, true}) {
    rankpool::thread_executor pool(2);
    gate g;
    open_at_exit closer(g);
    auto slow = pool.submit([&] {
      g.wait();
      return 5;
    });
    auto waiting = pool.submit(add, slow, 1);
    std::thread opener([&] {
      std::this_thread::sleep_for(100ms);
      g.open();
    });
    pool.shutdown(true, cancel_futures);  // without cancel_futures: waits for `waiting` to run
    opener.join();
    if (cancel_futures) {
      EXPECT_TRUE(waiting.cancelled());
    } else {
      ASSERT_TRUE(waiting.done());
      EXPECT_EQ(waiting.result(), 6);
    }
    EXPECT_THROW(pool.submit(add, slow, 1), rankpool::invalid_state_error);
  }
}

TEST(dependencies, map_over_futures_keeps_order_and_each_failure_at_its_position) {
  rankpool::thread_executor pool(2);
  std::vector<rankpool::future<int>> in;
  for (int i = 0; i < 20; ++i) in.push_back(pool.submit(refuse, i));
  std::vector<int> seen;
  try {
    for (int v : pool.map(square, in, {.chunksize = 3})) seen.push_back(v);
    FAIL() << "the failed element did not throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("seven"), std::string::npos);
  }
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 4, 9, 16, 25, 36}));
  // The elements after the failed one ran too.
  in.erase(in.begin() + 7);
  auto all = pool.map(square, in, {.chunksize = 0}).to_vector();
  ASSERT_EQ(all.size(), 19u);
  EXPECT_EQ(all.back(), 19 * 19);
}

TEST(buffersize, reads_the_input_lazily_and_keeps_at_most_buffersize_chunks_ahead) {
  rankpool::thread_executor pool(2);
  std::atomic<int> read{0};
  auto counted = std::views::iota(0) | std::views::transform([&](int i) {
                   ++read;
                   return i;
                 });
  rankpool::map_options o;
  o.buffersize = 4;
  o.chunksize = 2;
  auto results = pool.map(square, counted, o);
  EXPECT_EQ(read.load(), 8) << "the map read more than buffersize chunks before a result was taken";
  int n = 0;
  for (int v : results) {
    EXPECT_EQ(v, n * n);
    ++n;
    // Taken: n results, i.e. ceil(n / 2) chunks; read: those and 4 chunks more.
    EXPECT_LE(read.load(), ((n + 1) / 2 + 4) * 2);
    if (n == 100) break;
  }
  EXPECT_EQ(n, 100);
  EXPECT_THROW(pool.map(square, std::views::iota(0, 3), {.buffersize = 0}), std::invalid_argument);
}

TEST(buffersize, unordered_and_finite_inputs_yield_every_result) {
  rankpool::thread_executor pool(2);
  rankpool::map_options o;
  o.buffersize = 3;
  o.unordered = true;
  std::vector<int> got = pool.map(square, std::vector<int>{5, 1, 4, 2, 3, 0, 6}, o).to_vector();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{0, 1, 4, 9, 16, 25, 36}));
  o.unordered = false;
  EXPECT_TRUE(pool.map(square, std::vector<int>{}, o).to_vector().empty());
}

TEST(buffersize, an_endless_input_runs_in_flat_memory) {
  if (!rss_is_meaningful) GTEST_SKIP() << "resident memory is not meaningful under a sanitizer";
  rankpool::thread_executor pool(2);
  rankpool::map_options o;
  o.buffersize = 16;
  long sum = 0;
  std::size_t warm = 0;
  long n = 0;
  for (int v : pool.map(square, std::views::iota(0), o)) {
    sum += v % 7;
    if (++n == 20'000) warm = resident_bytes();
    if (n == 220'000) break;
  }
  const std::size_t grown = resident_bytes() - std::min(resident_bytes(), warm);
  EXPECT_LT(grown, 4u << 20) << "memory grew by " << grown << " bytes over 200000 more results";
  EXPECT_GT(sum, 0);
}

TEST(retries, a_tasks_own_exception_is_never_retried_by_default) {
  rankpool::thread_executor pool(2);
  std::atomic<int> calls{0};
  auto f = pool.submit_with({.retries = 3}, [&] {
    ++calls;
    throw std::runtime_error("own");
  });
  EXPECT_THROW(f.result(kPatience), std::runtime_error);
  EXPECT_EQ(calls.load(), 1);
}

// ---- comm_executor ----------------------------------------------------------------------------

/// A scratch folder the root names and every rank shares (one machine). A new one per process
/// (mkdtemp), removed at exit: a folder named after the process id met the call counts of an
/// earlier run whose id was the same.
std::string scratch(const std::string& name) {
  struct folder {
    std::string path;
    folder() {
      std::string t = (std::filesystem::temp_directory_path() / "rankpool_dataflow_XXXXXX").string();
      if (!::mkdtemp(t.data())) throw std::runtime_error("dataflow_test: mkdtemp failed");
      path = t;
    }
    ~folder() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const folder base;
  return base.path + "/" + name;
}

/// Counts its calls in the file `path`; fails (as `how` says) on the first `fail_first` calls.
/// how: 0 throws std::runtime_error("flaky"), 1 aborts the process, 2 sleeps 600 ms (past a
/// deadline).
int flaky(std::string path, int fail_first, int how) {
  int calls = 0;
  {
    std::ifstream in(path);
    in >> calls;
  }
  {
    std::ofstream out(path, std::ios::trunc);
    out << calls + 1;
  }
  if (calls < fail_first) {
    if (how == 0) throw std::runtime_error("flaky");
    if (how == 1) std::abort();
    std::this_thread::sleep_for(600ms);
  }
  return calls + 1;
}

int calls_in(const std::string& path) {
  std::ifstream in(path);
  int calls = 0;
  in >> calls;
  return calls;
}

TEST(mpi_dataflow, a_tree_reduction_and_failures_through_the_progress_thread) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  EXPECT_EQ(tree_sum(pool, 3000), 3000L * 2999 / 2);
  auto failed = pool.submit(add, pool.submit(refuse, 7), 1);
  EXPECT_THROW(failed.result(kPatience), std::invalid_argument);
  auto mixed = pool.submit(add, pool.submit(square, 3), 1);
  EXPECT_EQ(mixed.result(kPatience), 10);
  std::vector<rankpool::future<int>> in;
  for (int i = 0; i < 40; ++i) in.push_back(pool.submit(square, i));
  auto out = pool.starmap(add, std::vector<std::tuple<int, int>>{}).to_vector();  // empty input
  EXPECT_TRUE(out.empty());
  auto squares = pool.map(square, in, {.chunksize = 6}).to_vector();
  ASSERT_EQ(squares.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(squares[static_cast<std::size_t>(i)], i * i * i * i);
}

TEST(mpi_dataflow, buffersize_reads_lazily_on_the_root) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  std::atomic<int> read{0};
  auto counted = std::views::iota(0) | std::views::transform([&](int i) {
                   ++read;
                   return i;
                 });
  rankpool::map_options o;
  o.buffersize = 5;
  auto results = pool.map(square, counted, o);
  EXPECT_EQ(read.load(), 5);
  int n = 0;
  for (int v : results) {
    EXPECT_EQ(v, n * n);
    EXPECT_LE(read.load(), n + 1 + 5);
    if (++n == 300) break;
  }
  o.unordered = true;
  o.chunksize = 4;
  auto got = pool.map(square, std::views::iota(0, 50), o).to_vector();
  EXPECT_EQ(got.size(), 50u);
  EXPECT_EQ(std::accumulate(got.begin(), got.end(), 0L), 40425L);  // the sum of i*i for i < 50
}

TEST(mpi_dataflow, retry_if_retries_a_flaky_task_and_the_last_error_counts_the_attempts) {
  rankpool::executor_options o;
  o.retries = 2;
  o.retry_if = [](std::exception_ptr e, std::size_t) {
    try {
      std::rethrow_exception(e);
    } catch (const std::runtime_error& r) {
      return std::string(r.what()).find("flaky") != std::string::npos;
    } catch (...) {
      return false;
    }
  };
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, o);
  if (!pool.is_root()) return;
  const auto ok = scratch("ok"), bad = scratch("bad"), once = scratch("once");
  EXPECT_EQ(pool.submit(flaky, ok, 2, 0).result(kPatience), 3);  // two failures, then a value
  EXPECT_EQ(calls_in(ok), 3);
  try {
    pool.submit(flaky, bad, 10, 0).result(kPatience);
    FAIL() << "a task failing every attempt did not fail";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("after 3 attempts"), std::string::npos) << e.what();
  }
  EXPECT_EQ(calls_in(bad), 3);
  // Per call: no retries at all.
  EXPECT_THROW(pool.submit_with({.retries = 0}, flaky, once, 10, 0).result(kPatience), std::exception);
  EXPECT_EQ(calls_in(once), 1);
  // The executor's retries apply to map chunks as a whole; an element's own exception stays.
  std::vector<int> seen;
  for (int v : pool.map(refuse, std::vector<int>{1, 2, 3}, {.chunksize = 2})) seen.push_back(v);
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
}

TEST(mpi_dataflow, a_task_past_its_deadline_is_retried_by_default) {
  rankpool::executor_options o;
  o.task_deadline = std::chrono::milliseconds(300);
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, o);
  if (!pool.is_root()) return;
  const auto late = scratch("late"), never = scratch("never");
  EXPECT_EQ(pool.submit_with({.retries = 1}, flaky, late, 1, 2).result(kPatience), 2);
  try {
    pool.submit_with({.retries = 1}, flaky, never, 10, 2).result(kPatience);
    FAIL() << "a task past its deadline every time did not fail";
  } catch (const rankpool::timeout_error& e) {
    EXPECT_NE(std::string(e.what()).find("after 2 attempts"), std::string::npos) << e.what();
  }
  EXPECT_EQ(calls_in(never), 2);
}

int nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

TEST(mpi_dataflow, priorities_order_the_waiting_tasks_of_a_saturated_pool) {
  rankpool::executor_options o;
  o.max_workers = 1;  // one worker, nothing sent ahead: tasks finish in the order they start
  o.in_flight = 1;
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, o);
  if (!pool.is_root()) return;
  auto blocker = pool.submit(nap, 300);  // holds the worker while the others queue
  std::mutex m;
  std::vector<int> order;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 8; ++i) {
    const int p = i % 2 ? 5 : 0;
    fs.push_back(pool.submit_with({.priority = p}, square, i));
    fs.back().add_done_callback([&m, &order, i](const rankpool::future<int>&) {
      std::lock_guard lk(m);
      order.push_back(i);
    });
  }
  auto all = rankpool::when_all(fs);
  all.wait();
  std::lock_guard lk(m);
  // Higher priority first; within a priority, submission order.
  EXPECT_EQ(order, (std::vector<int>{1, 3, 5, 7, 0, 2, 4, 6}));
  EXPECT_EQ(blocker.result(kPatience), 300);
}

TEST(mpi_dataflow, the_journal_records_only_the_attempt_that_succeeded) {
  const auto journal = rankpool_test::world_rank() == 0 ? scratch("journal") : std::string();
  const auto path = rankpool_test::world_rank() == 0 ? scratch("journaled") : std::string();
  rankpool::executor_options o;
  o.retries = 1;
  o.retry_if = [](std::exception_ptr, std::size_t) { return true; };
  o.journal = journal;
  for (int run = 0; run < 2; ++run) {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, o);
    if (!pool.is_root()) continue;
    // First run: fails once, then succeeds with 2. Second run: the journal answers, nothing runs.
    EXPECT_EQ(pool.submit(flaky, path, 1, 0).result(kPatience), 2);
    EXPECT_EQ(calls_in(path), 2);
  }
}

TEST(mpi_dataflow, a_crashed_task_is_retried_in_a_fresh_process) {
  if (rankpool_test::world_size() < 2) GTEST_SKIP() << "isolation needs a worker rank (2 or more ranks)";
  rankpool::executor_options o;
  o.isolate = true;
  o.retries = 1;
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, o);
  if (!pool.is_root()) return;
  const auto crash_once = scratch("crash_once"), crash_always = scratch("crash_always");
  EXPECT_EQ(pool.submit(flaky, crash_once, 1, 1).result(kPatience), 2);
  try {
    pool.submit(flaky, crash_always, 10, 1).result(kPatience);
    FAIL() << "a task crashing every time did not fail";
  } catch (const rankpool::task_crashed& e) {
    EXPECT_NE(std::string(e.what()).find("after 2 attempts"), std::string::npos) << e.what();
  }
  EXPECT_EQ(calls_in(crash_always), 2);
  EXPECT_EQ(pool.submit(square, 6).result(kPatience), 36);  // the pool goes on
}

}  // namespace
